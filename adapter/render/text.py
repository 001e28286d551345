"""A TrialEvaluation as a checklist for people: the verdict, then each criterion with its reason and evidence."""

from __future__ import annotations

from decimal import Decimal

from adapter.eligibility.compare import show
from adapter.eligibility.outcome import Evidence
from adapter.evaluation import TrialEvaluation
from adapter.render.report import notes, number

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
ORDER = {"fail": 0, "unknown": 1, "pass": 2, "manual": 3}


def _evidence_line(item: Evidence) -> str:
    # Through the report's JSON number, so the text shows exactly what the JSON report holds.
    value = number(item.value)
    shown = f" {show(Decimal(str(value))) if isinstance(value, int | float) else value}" if value is not None else ""
    when = item.date.isoformat()[:10] if item.date else ""
    return f"            ↳ {item.reference}{shown}{' ' + item.unit if item.unit else ''}{'  ' + when if when else ''}"


def report_text(result: TrialEvaluation, *, colour: bool = False) -> str:
    def paint(text: str, key: str) -> str:
        return f"\033[{COLOURS[key]}m{text}\033[0m" if colour else text

    evaluation = result.evaluation
    summary = result.summary
    lines = [
        f"{result.nct_id}  patient {evaluation.patient}  as of {evaluation.as_of.isoformat()}",
        f"verdict: {paint(evaluation.verdict, evaluation.verdict)}   "
        f"({summary['pass']} pass, {summary['fail']} fail, {summary['unknown']} unknown, "
        f"{summary['manual']} for review)"
        + ("" if result.recruiting else f"   trial not recruiting ({result.overall_status})"),
    ]
    lines += [f"note: {note}" for note in notes(result)]
    for kind in ("inclusion", "exclusion"):
        items = sorted((c for c in evaluation.criteria if c.type == kind), key=lambda c: ORDER[c.result])
        if not items:
            continue
        lines.append("")
        lines.append(f"{kind.upper()} CRITERIA")
        for c in items:
            mark = paint(f"[{MARKS[c.result]:<7}]", c.result)
            lines.append(f"  {mark} {c.id}: {c.text}")
            lines.append(f"            {c.reason}")
            lines += [_evidence_line(e) for e in c.evidence]
    return "\n".join(lines) + "\n"
