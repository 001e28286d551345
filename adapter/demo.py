"""The main job on its embedded default: both trials as FHIR, and every fixture patient evaluated.

Writes `OUT/trials/{R5,R4}/<NCT>-<version>.json` (transaction Bundles), `OUT/evaluations/<patient>.<NCT>.json`
(the report) and `.fhir.json` (ResearchSubject + Parameters), and returns a table for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from adapter.eligibility.facts import facts_from_bundle
from adapter.eligibility.fhir_result import evaluation_bundle
from adapter.errors import PatientDataError
from adapter.evaluation import evaluate_trial
from adapter.fhir_build import build_bundle
from adapter.trials import PROJECT_ROOT, available_trials, load_trial

PATIENT_FIXTURES = PROJECT_ROOT / "fixtures" / "patients"


@dataclass(frozen=True)
class Row:
    patient: str
    trial: str
    verdict: str
    deciding: str


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _deciding(report: dict[str, Any]) -> str:
    for result in ("fail", "unknown"):
        ids = [c["id"] for c in report["criteria"] if c["result"] == result]
        if ids:
            return f"{result}: {', '.join(ids)}"
    return f"{report['summary']['manual']} criteria for review"


def run_demo(out: Path, as_of: date, patients_dir: Path = PATIENT_FIXTURES) -> list[Row]:
    trials = available_trials()
    for version in ("R5", "R4"):
        for nct in trials:
            bundle = build_bundle(load_trial(nct), version)  # type: ignore[arg-type]
            _write(out / "trials" / version / f"{bundle['id']}.json", bundle)
    rows: list[Row] = []
    for path in sorted(patients_dir.glob("*.json")):
        name = path.stem
        try:
            facts = facts_from_bundle(json.loads(path.read_text(encoding="utf-8")))
        except (PatientDataError, json.JSONDecodeError) as exc:
            rows.extend(Row(name, nct, "input error", str(exc).splitlines()[0][:70]) for nct in trials)
            continue
        for nct in trials:
            evaluation, report = evaluate_trial(nct, facts, as_of)
            _write(out / "evaluations" / f"{name}.{nct}.json", report)
            _write(out / "evaluations" / f"{name}.{nct}.fhir.json", evaluation_bundle(evaluation, trial=nct))
            rows.append(Row(name, nct, report["verdict"], _deciding(report)))
    return rows


def format_table(rows: list[Row]) -> str:
    headers = ("patient", "trial", "verdict", "deciding criteria")
    cells = [headers, *((r.patient, r.trial, r.verdict, r.deciding) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    lines = []
    for row in cells:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
        if row is headers:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(headers[3]))
    return "\n".join(lines) + "\n"
