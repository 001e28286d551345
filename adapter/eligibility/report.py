"""An evaluation as the report contract (JSON), and as a checklist for people (text)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.eligibility.compare import show
from adapter.eligibility.engine import Evaluation
from adapter.eligibility.outcome import Evidence


def _number(value: Decimal | str | None) -> int | float | str | None:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _date(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _evidence(item: Evidence) -> dict[str, Any]:
    data: dict[str, Any] = {"reference": item.reference}
    if item.value is not None:
        data["value"] = _number(item.value)
    if item.unit:
        data["unit"] = item.unit
    if item.date:
        data["date"] = _date(item.date)
    if item.normalized_value is not None:
        data["normalized"] = {"value": _number(item.normalized_value), "unit": item.normalized_unit}
    if item.note:
        data["note"] = item.note
    return data


def report_json(evaluation: Evaluation, *, trial: str, recruiting: bool, overall_status: str | None) -> dict[str, Any]:
    counts = Counter(c.result for c in evaluation.criteria)
    report: dict[str, Any] = {
        "trial": trial,
        "patient": evaluation.patient,
        "as_of": evaluation.as_of.isoformat(),
        "recruiting": recruiting,
        "overall_status": overall_status,
        "verdict": evaluation.verdict,
        "summary": {k: counts.get(k, 0) for k in ("pass", "fail", "unknown", "manual")},
        "criteria": [
            {
                "id": c.id,
                "type": c.type,
                "text": c.text,
                "result": c.result,
                "reason": c.reason,
                "codes": list(c.codes),
                "evidence": [_evidence(e) for e in c.evidence],
                **({"missing": list(c.missing)} if c.missing else {}),
            }
            for c in evaluation.criteria
        ],
    }
    if evaluation.notes:
        report["notes"] = list(evaluation.notes)
    return report


COLOURS = {
    "pass": "32",
    "fail": "31",
    "unknown": "33",
    "manual": "36",
    "ineligible": "31",
    "insufficient-data": "33",
    "potentially-eligible": "32",
}
MARKS = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN", "manual": "REVIEW"}


def report_text(report: dict[str, Any], *, colour: bool = False) -> str:
    def paint(text: str, key: str) -> str:
        return f"\033[{COLOURS[key]}m{text}\033[0m" if colour else text

    summary = report["summary"]
    lines = [
        f"{report['trial']}  patient {report['patient']}  as of {report['as_of']}",
        f"verdict: {paint(report['verdict'], report['verdict'])}   "
        f"({summary['pass']} pass, {summary['fail']} fail, {summary['unknown']} unknown, "
        f"{summary['manual']} for review)"
        + ("" if report["recruiting"] else f"   trial not recruiting ({report.get('overall_status')})"),
    ]
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    order = {"fail": 0, "unknown": 1, "pass": 2, "manual": 3}
    for kind in ("inclusion", "exclusion"):
        items = sorted((c for c in report["criteria"] if c["type"] == kind), key=lambda c: order[c["result"]])
        if not items:
            continue
        lines.append("")
        lines.append(f"{kind.upper()} CRITERIA")
        for c in items:
            mark = paint(f"[{MARKS[c['result']]:<7}]", c["result"])
            lines.append(f"  {mark} {c['id']}: {c['text']}")
            lines.append(f"            {c['reason']}")
            for e in c["evidence"]:
                value = e.get("value")
                shown = (
                    f" {show(Decimal(str(value))) if isinstance(value, int | float) else value}"
                    if value is not None
                    else ""
                )
                lines.append(
                    f"            ↳ {e['reference']}{shown}{' ' + e['unit'] if e.get('unit') else ''}"
                    f"{'  ' + e['date'][:10] if e.get('date') else ''}"
                )
    return "\n".join(lines) + "\n"
