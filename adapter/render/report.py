"""A TrialEvaluation as the JSON report contract (what the CLI prints and the API returns)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.eligibility.outcome import Evidence
from adapter.evaluation import TrialEvaluation

DRAFT_NOTE = "draft mapping, not clinically reviewed"


def number(value: Decimal | str | None) -> int | float | str | None:
    """A Decimal as a JSON number (an int when integral); strings and None as they are."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _date(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def evidence_json(item: Evidence) -> dict[str, Any]:
    data: dict[str, Any] = {"reference": item.reference}
    if item.value is not None:
        data["value"] = number(item.value)
    if item.unit:
        data["unit"] = item.unit
    if item.date:
        data["date"] = _date(item.date)
    if item.normalized_value is not None:
        data["normalized"] = {"value": number(item.normalized_value), "unit": item.normalized_unit}
    if item.note:
        data["note"] = item.note
    return data


def notes(result: TrialEvaluation) -> list[str]:
    """The evaluation's notes, led by the draft warning when the mapping is a draft."""
    review = [f"{cid}: needs review: {why}" for cid, why in result.needs_review]
    return [*([DRAFT_NOTE] if result.draft else []), *review, *result.evaluation.notes]


def report_json(result: TrialEvaluation) -> dict[str, Any]:
    evaluation = result.evaluation
    review = dict(result.needs_review)
    report: dict[str, Any] = {
        "trial": result.nct_id,
        "patient": evaluation.patient,
        "as_of": evaluation.as_of.isoformat(),
        "recruiting": result.recruiting,
        "overall_status": result.overall_status,
        **({"draft": True} if result.draft else {}),  # present only for drafts: reviewed reports stay as they were
        "verdict": evaluation.verdict,
        "summary": dict(result.summary),
        "criteria": [
            {
                "id": c.id,
                "type": c.type,
                "text": c.text,
                "result": c.result,
                "reason": c.reason,
                "codes": list(c.codes),
                "evidence": [evidence_json(e) for e in c.evidence],
                **({"missing": list(c.missing)} if c.missing else {}),
                **({"needs_review": review[c.id]} if c.id in review else {}),
            }
            for c in evaluation.criteria
        ],
    }
    if notes(result):
        report["notes"] = notes(result)
    if evaluation.unrecognized:  # every entry no criterion could read, beyond the few the notes name
        report["unrecognized_entries"] = [
            {"kind": group.kind, "systems": list(group.systems), "references": list(group.references)}
            for group in evaluation.unrecognized
        ]
    return report
