"""Evaluate a patient against a trial: the trial's EvidenceVariable, the patient's facts, the engine, the report.

Pure glue over pure parts; reading files and servers is the caller's job.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from adapter.eligibility.base import SNOMED
from adapter.eligibility.engine import EngineOptions, Evaluation, criterion_codes, evaluate
from adapter.eligibility.facts import PatientFacts
from adapter.eligibility.options import engine_options
from adapter.eligibility.report import report_json
from adapter.fhir_build.evidence_variable import build_evidence_variable
from adapter.trials import Trial, load_trial


@cache
def _trial_inputs(nct_id: str) -> tuple[Trial, dict[str, Any], EngineOptions]:
    trial = load_trial(nct_id)
    variable = build_evidence_variable(trial.mapping, trial.concepts, trial.record.brief_title or nct_id)
    return trial, variable, engine_options(trial.concepts, trial.mapping.defaults.lookback_days)


def evaluate_trial(nct_id: str, facts: PatientFacts, as_of: date) -> tuple[Evaluation, dict[str, Any]]:
    """The engine's Evaluation and the JSON report for one trial."""
    trial, variable, options = _trial_inputs(nct_id.strip().upper())
    evaluation = evaluate(variable, facts, as_of, options)
    report = report_json(
        evaluation, trial=trial.nct_id, recruiting=trial.recruiting, overall_status=trial.record.overall_status
    )
    return evaluation, report


def observation_codes(nct_ids: list[str]) -> list[str]:
    """Every result code (system|code, not SNOMED record categories) the trials' criteria can read."""
    codes: set[str] = set()
    for nct in nct_ids:
        trial, variable, options = _trial_inputs(nct.strip().upper())
        derived = set(options.derived)
        for characteristic in variable["characteristic"]:
            codes.update(c for c in criterion_codes(characteristic, options)
                         if not c.startswith(SNOMED) and c not in derived)
        codes.update(panel.token for panel in trial.concepts.search_panels)
    return sorted(codes)
