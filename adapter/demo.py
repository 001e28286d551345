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

from adapter.catalog import TrialCatalog
from adapter.core import Eligibility
from adapter.errors import AdapterError, PatientDataError
from adapter.evaluation import TrialEvaluation
from adapter.fhir_build import build_bundle
from adapter.jsonio import parse_json
from adapter.patients import PatientRecord
from adapter.render.fhir import evaluation_bundle
from adapter.render.report import report_json


@dataclass(frozen=True)
class Row:
    patient: str
    trial: str
    verdict: str
    deciding: str


def _write(path: Path, data: Any) -> None:
    from adapter.atomic import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _deciding(result: TrialEvaluation) -> str:
    for outcome in ("fail", "unknown"):
        ids = [c.id for c in result.evaluation.criteria if c.result == outcome]
        if ids:
            return f"{outcome}: {', '.join(ids)}"
    return f"{result.summary['manual']} criteria for review"


def run_demo(catalog: TrialCatalog, out: Path, as_of: date, patients_dir: Path) -> list[Row]:
    """Map every trial of the catalog, evaluate every patient file of `patients_dir`; one bad file is a row."""
    if not patients_dir.is_dir():
        raise AdapterError(f"--patients {patients_dir}: no such directory")
    eligibility = Eligibility(catalog)
    trials = eligibility.trials()
    for version in ("R5", "R4"):
        for trial in trials:
            bundle = build_bundle(trial, version)
            _write(out / "trials" / version / f"{bundle['id']}.json", bundle)
    rows: list[Row] = []
    for path in sorted(patients_dir.glob("*.json")):
        name = path.stem
        try:
            results = eligibility.evaluate(PatientRecord(parse_json(path.read_bytes(), path.name)), trials, as_of)
        except PatientDataError as exc:
            rows.extend(Row(name, t.nct_id, "input error", str(exc).splitlines()[0][:70]) for t in trials)
            continue
        for trial, result in zip(trials, results, strict=True):
            _write(out / "evaluations" / f"{name}.{trial.nct_id}.json", report_json(result))
            _write(out / "evaluations" / f"{name}.{trial.nct_id}.fhir.json", evaluation_bundle(result))
            rows.append(Row(name, trial.nct_id, result.evaluation.verdict, _deciding(result)))
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
