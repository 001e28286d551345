"""Eligibility text → criteria, the way ClinicalTrials.gov records are written.

Handles the heading variants (through `adapter.ctgov.eligibility_text.split_eligibility`), bullets (`*`, `-`, `•`),
nested and restarted numbered lists, numbered lists run together on one line ("1\\. … ; 2. … ; 3. …"), markdown
escapes (`\\>`, `\\<`), HTML comments, and lead-in lines that are not criteria ("adequate organ function as
defined by:"). Every criterion's text is a piece of the record (markdown escapes dropped, blanks folded), so the
loader finds it verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapter.ctgov.eligibility_text import split_eligibility

_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")
# A list marker at the start of a line: bullet, "1.", "1\.", "1)", "(a)", "a.", "i)".
_MARKER = re.compile(r"^(?:[*\-•+·▪◦]|\(?\d{1,2}\\?[.)]|\([a-zA-Z]{1,4}\)|[a-zA-Z]\\?[.)]|[ivxIVX]{1,4}\\?[.)])[ \t]+")
_BULLET = re.compile(r"^[*\-•+·▪◦][ \t]+")
_LEADING_NUMBER = re.compile(r"^\(?(\d{1,2})\\?[.)]\s")
# Inline numbered items: " 2. ", "; 3. " (the number is checked against the running count).
# Starts after punctuation (blanks then taken whole) or at the first non-blank after a blank, never inside a run
# of blanks: each position of a long run would otherwise read the whole run again (quadratic).
_INLINE_NUMBER = re.compile(r"(?:(?<=[;.:,])\s*+|(?<=\s)(?!\s))(\d{1,2})\\?\.\s++(?=\S)")
_INLINE_SEMICOLON = re.compile(r";\s+(?=[A-Z][a-z])")
_LEAD_IN = re.compile(
    r"(following|defined|as follows|include|including|criteria|certeria|laboratory values|such as|"
    r"meet|below|requirements|listed|any of|all of|specifically)\W*$",
    re.IGNORECASE,
)
_NOT_CRITERIA = re.compile(r"^(the information listed above|note:)", re.IGNORECASE)
# A sentence ending in a full stop is a criterion even when its last word is one of the lead-in words ("… according
# to the revised WHO criteria."); only these words still introduce a list when a full stop ends them.
_FULL_STOP_LEAD_IN = re.compile(r"(following|as follows)\W*$", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """One criterion as the record writes it."""

    type: str  # inclusion | exclusion
    text: str  # verbatim (markdown escapes dropped, blanks folded)
    context: str | None = None  # the lead-in heading it sits under, if any


def unescape(text: str) -> str:
    return " ".join(_MARKDOWN_ESCAPE.sub(r"\1", text).split())


def split_criteria(eligibility: str) -> list[Item]:
    """The record's criteria in order, inclusion first; lead-in headings are context, not criteria."""
    inclusion, exclusion = split_eligibility(_drop_comments(eligibility or ""))
    return [*_block_items(inclusion, "inclusion"), *_block_items(exclusion, "exclusion")]


def _drop_comments(text: str) -> str:
    """HTML comments removed. Found with str.find, not `<!--.*?-->`: that pattern scans to the end of the text
    from every unclosed `<!--` (quadratic: 17 s for 100 KB of them)."""
    kept: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) >= 0 and (end := text.find("-->", start + 4)) >= 0:
        kept.append(text[pos:start])
        pos = end + 3
    kept.append(text[pos:])
    return "".join(kept)


# A sub-heading that names its section inside a block ("Transplant Exclusion:", "Exclusion Criteria for Stage 1",
# "Inclusion criteria stage 2"): the items below it are of the kind it names, until the next such heading.
_SECTION_HEADING = re.compile(
    r"^(?:[A-Za-z-]+\s+){0,3}(?P<kind>inclusion|exclusion)(?P<criteria>\s+criteri\w*)?"
    r"(?:\s+(?:for|of|in|-)?\s*[\w ()/-]{0,30}?)?\s*(?P<colon>[:：])?\s*$", re.IGNORECASE)


def _section_kind(text: str) -> str | None:
    """The kind a sub-heading line names (it must end in a colon or say "criteria"), or None."""
    match = _SECTION_HEADING.match(text)
    if match is None or len(text.split()) > 8 or not (match.group("criteria") or match.group("colon")):
        return None
    return match.group("kind").lower()


def _block_items(block: str, kind: str) -> list[Item]:
    pieces = _pieces(block)
    items: list[Item] = []
    context: str | None = None
    for index, (_indent, text) in enumerate(pieces):
        if not text or _NOT_CRITERIA.match(text):
            continue
        section = _section_kind(text)
        if section is not None:
            kind, context = section, text
            continue
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        if _is_lead_in(text, following):
            context = text
            continue
        items.append(Item(kind, text, context))
    return items


def _is_heading(text: str) -> bool:
    return text.rstrip().endswith((":", "："))


def _is_lead_in(text: str, following: tuple[int, str] | None) -> bool:
    """A line that only introduces the items below it ("… as defined by:", "including the following;")."""
    if following is None:
        return False
    stripped = text.rstrip(" :;：")
    sentence = stripped.endswith(".") and not _FULL_STOP_LEAD_IN.search(stripped)
    return (not sentence and bool(_LEAD_IN.search(stripped))) or (_is_heading(text) and len(stripped.split()) <= 6)


def _pieces(block: str) -> list[tuple[int, str]]:
    """(indent, text) per list item or paragraph, inline-numbered runs split."""
    raw: list[tuple[int, list[str]]] = []
    blank = True
    lines = block.split("\n")
    # A block without any list marker is one criterion per line when its lines are not hard-wrapped (the classic
    # API's plain lines: some run past 100 characters) and, in any case, where a line ending a clause (";", "." or
    # ":") is followed by one starting with a capital.
    unmarked = not any(_MARKER.match(line.strip()) for line in lines if line.strip())
    per_line = unmarked and max((len(line.strip()) for line in lines), default=0) > 100
    for line in lines:
        if not line.strip():
            blank = True
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        marker = _MARKER.match(body)
        ended = bool(raw) and (per_line or (unmarked and raw[-1][1][-1].endswith((";", ".", ":"))
                               and body[:1].isupper()))
        if marker or blank or not raw or ended:
            raw.append((indent, [body]))
        else:
            raw[-1][1].append(body)
        blank = False
    pieces: list[tuple[int, str]] = []
    inline = any(_starts_inline_run(" ".join(lines)) for _, lines in raw)
    expected = 1
    for indent, lines in raw:
        text = _BULLET.sub("", " ".join(lines))
        if inline:
            parts, expected = _split_inline(text, expected)
        else:
            parts = [_strip_marker(text)]
        pieces += [(indent, unescape(p).strip(" ;")) for p in parts if unescape(p).strip(" ;")]
    return pieces


def _strip_marker(text: str) -> str:
    # "* 1\. Age…": a bullet then a number; both go.
    for _ in range(2):
        match = _MARKER.match(text)
        if not match:
            break
        text = text[match.end():]
    return text


def _starts_inline_run(text: str) -> bool:
    """'1\\. first; 2. second; …': numbered items run together on one line."""
    body = text.lstrip("*-• ")
    return bool(re.match(r"1\\?\.\s", body)) and bool(re.search(r"[;.]\s*2\\?\.\s", body))


def _split_inline(text: str, expected: int) -> tuple[list[str], int]:
    """Split at ' N. ' where N continues the running top-level count, and at '; Capital' between items."""
    leading = _LEADING_NUMBER.match(text)
    if leading and int(leading.group(1)) == expected:
        expected += 1
        text = text[leading.end():]
    else:  # a nested list's own marker ("1." again under item 6): the running count goes on
        text = _strip_marker(text)
    cuts: list[tuple[int, int]] = []
    for match in _INLINE_NUMBER.finditer(text):
        if int(match.group(1)) == expected:
            cuts.append((match.start(), match.end()))
            expected += 1
    parts: list[str] = []
    start = 0
    for cut_start, cut_end in cuts:
        parts.append(text[start:cut_start])
        start = cut_end
    parts.append(text[start:])
    split: list[str] = []
    for part in parts:
        split += _INLINE_SEMICOLON.split(part)
    return split, expected


__all__ = ["Item", "split_criteria", "unescape"]
