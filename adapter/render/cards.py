"""TrialEvaluations as CDS Hooks cards: one per trial the patient could qualify for, in inert Markdown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from adapter.eligibility.compare import show
from adapter.eligibility.outcome import Evidence
from adapter.eligibility.prose import quantity_text
from adapter.evaluation import TrialEvaluation
from adapter.render.card_model import Card, Link, Source
from adapter.render.report import number
from adapter.units.convert import within_range
from adapter.vocabulary import CTGOV_STUDY_PAGE

SOURCE_LABEL = "trial-fhir-adapter"
SUMMARY_LIMIT = 139  # CDS Hooks: a card summary is under 140 characters
SYMBOLS = {"pass": "✔", "fail": "✘", "unknown": "?", "manual": "review"}
DRAFT_PREFIX = "DRAFT — "  # a drafted trial's card says so first, in the summary a clinician sees
DRAFT_DETAIL = ("**Draft mapping, not clinically reviewed**: these criteria were drafted from the trial's record "
                "by software and no clinician has checked how they are read. Confirm each with the trial team.")
SECTIONS = (("unknown", "Need data"), ("fail", "Not met"), ("manual", "To review"), ("pass", "Met"))
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~!&#"})
_SCHEME_COLON = re.compile(r"(?<=[A-Za-z0-9+.\-]):(?=\S)")  # https: mailto: javascript: (not "ANC: 1.5")
_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z0-9\-])\.(?=[A-Za-z])")  # www.evil.example, evil.com (not 1.5)
_SLASHES = re.compile(r"(?<=\\:)//")


def md(text: Any) -> str:
    """Text from a trial record or a patient's data, inert inside Markdown: no markup, no HTML, no entity, and
    nothing a renderer could turn into a link or an image — Markdown specials are escaped, and a URL's pieces
    (`https\\:\\/\\/`, `www\\.evil\\.example`) are broken up so no autolinker (GFM, linkify) sees one.
    Control characters are dropped; whitespace (newlines included) becomes single spaces."""
    text = "".join(c for c in " ".join(str(text).split()) if c.isprintable())
    text = text.translate(_MD_SPECIAL)
    text = _SCHEME_COLON.sub(r"\\:", text)
    text = _SLASHES.sub(r"\\/\\/", text)
    text = _DOMAIN_DOT.sub(r"\\.", text)
    return text.replace("\\](", "\\]\\(")


def _number(value: Decimal | str | None) -> Any:
    """As the JSON report writes a value (95, 1.5), so a card and the report agree; an absurd one (1e+999999) in
    exponent form — writing out its digits would take minutes."""
    if isinstance(value, Decimal) and not within_range(value):
        return show(value)
    return number(value)


def _evidence(item: Evidence) -> str:
    value = _number(item.value)
    text = quantity_text(str(value), item.unit) if value is not None else str(value)
    if item.normalized_value is not None:
        text += f" (= {quantity_text(str(_number(item.normalized_value)), item.normalized_unit)})"
    if item.date:
        text += f", {item.date.isoformat()[:10]}"
    if item.note:
        text += f", {item.note}"
    return md(text)


def card_summary(result: TrialEvaluation) -> str:
    counts = result.summary
    if result.verdict == "insufficient-data":
        n = counts["unknown"]
        what = f"{n} {'criterion needs' if n == 1 else 'criteria need'} data"
    else:
        n = counts["manual"]
        what = f"potentially eligible, {n} {'criterion' if n == 1 else 'criteria'} to review"
    summary = f"{DRAFT_PREFIX if result.draft else ''}Possible trial: {result.nct_id} — {what}"
    if not result.recruiting:
        summary += f" (not recruiting: {result.overall_status or 'UNKNOWN'})"
    return summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1] + "…"


def card_detail(result: TrialEvaluation) -> str:
    counts = result.summary
    status = result.overall_status or "UNKNOWN"
    criteria = result.evaluation.criteria
    lines = [
        *([DRAFT_DETAIL, ""] if result.draft else []),
        f"**{md(result.title)}** ({result.nct_id}, {md(status)}{'' if result.recruiting else ', not recruiting'})",
        "",
        f"Evaluated on {result.evaluation.as_of.isoformat()}: {counts['pass']} met ✔, {counts['fail']} not met ✘, "
        f"{counts['unknown']} need data ?, {counts['manual']} to review by the team.",
    ]
    settle = [
        f"- {'; '.join(md(m) for m in c.missing) if c.missing else md(c.reason)} — for *{md(c.id)}*"
        for c in criteria
        if c.result == "unknown"
    ]
    if settle:
        lines += ["", "### Tests that would settle it", *settle]
    for result_kind, heading in SECTIONS:
        group = [c for c in criteria if c.result == result_kind]
        if not group:
            continue
        lines += ["", f"### {heading}"]
        for c in group:
            line = f"- {SYMBOLS[result_kind]} **{md(c.id)}** ({c.type}): {md(c.text)}"
            if c.reason:
                line += f" — {md(c.reason)}"
            if c.evidence:
                line += f" [{'; '.join(_evidence(e) for e in c.evidence)}]"
            lines.append(line)
    return "\n".join(lines)


def card_for(result: TrialEvaluation) -> Card:

    url = CTGOV_STUDY_PAGE + result.nct_id
    return Card(
        uuid=str(uuid.uuid4()),
        summary=card_summary(result),
        # A draft's card is never more than `info`: an unreviewed reading should not raise an alarm.
        indicator="warning" if result.verdict == "insufficient-data" and not result.draft else "info",
        source=Source(label=SOURCE_LABEL, url=url),
        detail=card_detail(result),
        links=[Link(label=f"{result.nct_id} on ClinicalTrials.gov", url=url, type="absolute")],
    )


def cards(evaluations: Iterable[TrialEvaluation], include_closed: bool) -> list[Card]:
    """A card per trial that is not ineligible; trials not recruiting only when `include_closed`."""
    return [
        card_for(result)
        for result in evaluations
        if (result.recruiting or include_closed) and result.verdict != "ineligible"
    ]
