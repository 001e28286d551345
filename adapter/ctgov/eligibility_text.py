"""Eligibility text of a ClinicalTrials.gov record: age limits ('18 Years') and the inclusion/exclusion split."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from adapter.errors import RecordFormatError

_AGE_UNITS = {
    "year": "a",
    "month": "mo",
    "week": "wk",
    "day": "d",
    "hour": "h",
    "minute": "min",
}
_AGE = re.compile(r"\s*+(\d{1,6}(?:\.\d{1,6})?)\s*+(year|month|week|day|hour|minute)s?\s*+", re.IGNORECASE)


def parse_age(text: str) -> tuple[Decimal, str] | None:
    """'18 Years' -> (Decimal('18'), 'a'); 'N/A' (no limit) -> None; anything else is an error.

    Units are UCUM: a, mo, wk, d, h, min.
    """
    if text.strip().upper() in {"N/A", "NA"}:
        return None
    match = _AGE.fullmatch(text)
    if not match:
        raise RecordFormatError(f"unrecognised age {text!r}; expected e.g. '18 Years', '6 Months' or 'N/A'")
    try:
        value = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
        raise RecordFormatError(f"unrecognised age {text!r}") from None
    return value, _AGE_UNITS[match.group(2).lower()]


# A heading line such as "Inclusion Criteria:", "Key Exclusion Criteria:", "**INCLUSION CRITERIA**",
# "## Exclusion criteria (Part B):". Only whole lines count, so a criterion mentioning
# "inclusion criteria" in a sentence is not mistaken for a heading. Blanks are matched possessively (`*+`): a
# line of 20,000 spaces is read once, not once per position (linear; tests/drafting/test_hostile_texts.py).
_HEADING = re.compile(
    r"""^[ \t]*+(?:\#{1,6}[ \t]*+)?(?:\*\*|__)?[ \t]*+
        (?:(?:key|main|major|general|other|additional)[ \t]++)?
        (?P<kind>inclusion|exclusion)[ \t]++criteria
        (?:[ \t]*+\([^)\n]*\))?
        (?:[ \t]*+:?[ \t]*+(?:\*\*|__)?[ \t]*+:?[ \t]*+$   # heading alone on its line
          |[ \t]*+:[ \t]*+(?=\S))                        # "Inclusion Criteria: text…" on one line
    """,
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)


def split_eligibility(text: str) -> tuple[str, str]:
    """Split v2 eligibility text into (inclusion block, exclusion block), headings removed.

    Several sections of one kind are joined. Text before the first heading, or all of it when there is
    no heading, counts as inclusion: ClinicalTrials.gov lists inclusion first, and an unlabelled
    criterion is a requirement to meet.
    """
    blocks: dict[str, list[str]] = {"inclusion": [], "exclusion": []}
    kind, start = "inclusion", 0
    for match in _HEADING.finditer(text):
        blocks[kind].append(text[start : match.start()])
        kind, start = match.group("kind").lower(), match.end()
    blocks[kind].append(text[start:])
    inclusion, exclusion = ("\n\n".join(filter(None, map(_trim, blocks[k]))) for k in ("inclusion", "exclusion"))
    return inclusion, exclusion


def _trim(block: str) -> str:
    """Drop blank lines around a block, keeping the first line's indentation (it may be markdown)."""
    lines = block.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


__all__ = ["parse_age", "split_eligibility"]
