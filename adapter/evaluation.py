"""Evaluate a patient against a trial: the trial's EvidenceVariable and engine options, the patient's facts,
the engine; the result carries what the renderers (`adapter.render`) need to know about the trial.

Pure glue over pure parts; reading files and servers is the caller's job (the trials come from a catalog).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from adapter.eligibility.engine import criterion_codes, evaluate
from adapter.eligibility.outcome import Result, Verdict
from adapter.eligibility.result import Evaluation
from adapter.vocabulary import SNOMED

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.eligibility.facts import PatientFacts


@dataclass(frozen=True, slots=True)
class TrialEvaluation:
    """The engine's Evaluation of one patient for one trial, and the trial facts a report or card shows."""

    nct_id: str
    title: str
    recruiting: bool
    overall_status: str | None
    draft: bool  # the mapping is a draft no clinician has reviewed
    evaluation: Evaluation

    @property
    def verdict(self) -> Verdict:
        return self.evaluation.verdict

    @property
    def summary(self) -> dict[Result, int]:
        """Criteria per result: pass, fail, unknown, manual (each present, 0 when none)."""
        return self.evaluation.counts


def evaluate_trial(trial: Trial, facts: PatientFacts, as_of: date) -> TrialEvaluation:
    """The trial's criteria evaluated on the patient's facts as of `as_of`."""
    evaluation = evaluate(trial.evidence_variable, facts, as_of, trial.engine_options)
    return TrialEvaluation(
        nct_id=trial.nct_id,
        title=trial.title,
        recruiting=trial.recruiting,
        overall_status=trial.record.overall_status,
        draft=trial.draft,
        evaluation=evaluation,
    )


def observation_codes(trials: Iterable[Trial]) -> list[str]:
    """Every result code (system|code, not SNOMED record categories) the trials' criteria can read."""
    codes: set[str] = set()
    for trial in trials:
        options = trial.engine_options
        derived = set(options.derived)
        for characteristic in trial.evidence_variable["characteristic"]:
            codes.update(
                c for c in criterion_codes(characteristic, options) if not c.startswith(SNOMED) and c not in derived
            )
        codes.update(panel.token for panel in trial.concepts.search_panels)
    return sorted(codes)
