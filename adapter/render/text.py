"""A TrialEvaluation as a checklist for people: the verdict, then each criterion with its reason and evidence (for an
ineligible patient, unless verbose, the criteria that failed and one line counting the others)."""

from __future__ import annotations

from decimal import Decimal

from adapter.eligibility.compare import show
from adapter.eligibility.outcome import Evidence, Result
from adapter.eligibility.prose import quantity_text
from adapter.evaluation import TrialEvaluation
from adapter.render.report import DRAFT_NOTE, notes, number

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
    # Through the report's JSON number, so the text shows exactly what the JSON report holds; the unit as people
    # write it (10⁹/L, mmHg, an age in years).
    value = number(item.value)
    shown = f" {quantity_text(_value_text(value), item.unit)}" if value is not None else ""
    when = item.date.isoformat()[:10] if item.date else ""
    return f"            ↳ {item.reference}{shown}{'  ' + when if when else ''}"


def _value_text(value: int | float | str) -> str:
    return show(Decimal(str(value))) if isinstance(value, int | float) else value


def report_text(result: TrialEvaluation, *, colour: bool = False, verbose: bool = False) -> str:
    """The checklist. For an ineligible patient, unless `verbose`, only the criteria that failed — what decided
    it — and one line counting the others."""
    def paint(text: str, key: str) -> str:
        return f"\033[{COLOURS[key]}m{text}\033[0m" if colour else text

    evaluation = result.evaluation
    summary = result.summary
    lines = [
        f"{result.nct_id}{'  DRAFT (' + DRAFT_NOTE + ')' if result.draft else ''}  patient {evaluation.patient}  "
        f"as of {evaluation.as_of.isoformat()}",
        f"verdict: {paint(evaluation.verdict, evaluation.verdict)}   "
        f"({summary['pass']} pass, {summary['fail']} fail, {summary['unknown']} unknown, "
        f"{summary['manual']} for review)"
        + ("" if result.recruiting else f"   trial not recruiting ({result.overall_status})"),
    ]
    lines += [f"note: {note}" for note in notes(result)]
    folded = evaluation.verdict == "ineligible" and not verbose
    shown = [c for c in evaluation.criteria if c.result == "fail"] if folded else list(evaluation.criteria)
    for kind in ("inclusion", "exclusion"):
        items = sorted((c for c in shown if c.type == kind), key=lambda c: ORDER[c.result])
        if not items:
            continue
        lines.append("")
        lines.append(f"{kind.upper()} CRITERIA{' THAT FAILED' if folded else ''}")
        for c in items:
            mark = paint(f"[{MARKS[c.result]:<7}]", c.result)
            lines.append(f"  {mark} {c.id}: {c.text}")
            lines.append(f"            {c.reason}")
            lines += [_evidence_line(e) for e in c.evidence]
    if folded:
        lines += ["", _folded_line(summary)]
    return "\n".join(lines) + "\n"


def _folded_line(summary: dict[Result, int]) -> str:
    """The criteria an ineligible patient's checklist leaves out, counted."""
    words: tuple[tuple[Result, str], ...] = (("pass", "pass"), ("unknown", "unknown"), ("manual", "for review"))
    others = [f"{summary[kind]} {word}" for kind, word in words if summary[kind]]
    listed = ", ".join(others) if others else "none"
    return f"other criteria not shown: {listed} (--verbose shows every criterion)"
