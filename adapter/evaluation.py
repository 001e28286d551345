"""Evaluate a patient against a trial: the trial's compiled plan (`Trial.plan`), the patient's facts, the engine;
the result carries what the renderers (`adapter.render`) need to know about the trial. `reads_of(trials)` says
what facts the trials' plans read (for `extract_facts(..., reads=...)`).

Pure glue over pure parts; reading files and servers is the caller's job (the trials come from a catalog).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from adapter.eligibility.engine import evaluate_plan
from adapter.eligibility.facts.reads import FactReads
from adapter.eligibility.options import EngineOptions
from adapter.eligibility.outcome import Result, Verdict
from adapter.eligibility.result import Evaluation
from adapter.eligibility.review import Flag, hold_unreviewed
from adapter.vocabulary import AGE, GENDER, RECORD_KIND_BY_TYPE_TOKEN, coding_tokens

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
    needs_review: tuple[tuple[str, str], ...] = ()  # (criterion id, why its computable reading needs a check)

    @property
    def verdict(self) -> Verdict:
        return self.evaluation.verdict

    @property
    def summary(self) -> dict[Result, int]:
        """Criteria per result: pass, fail, unknown, manual (each present, 0 when none)."""
        return self.evaluation.counts


def evaluate_trial(trial: Trial, facts: PatientFacts, as_of: date) -> TrialEvaluation:
    """The trial's criteria evaluated on the patient's facts as of `as_of`."""
    evaluation = evaluate_plan(trial.plan, facts, as_of)
    return TrialEvaluation(
        nct_id=trial.nct_id,
        title=trial.title,
        recruiting=trial.recruiting,
        overall_status=trial.record.overall_status,
        draft=trial.draft,
        evaluation=hold_unreviewed(evaluation, [Flag(*flag) for flag in trial.review_flags]),
        needs_review=trial.review_flags,
    )


def reads_of(trials: Iterable[Trial]) -> FactReads:
    """What the trials' compiled plans read — for `extract_facts(..., reads=...)` — with every result code a
    criterion may name (`observation_codes`: search panels too)."""
    chosen = list(trials)
    reads = FactReads(frozenset(observation_codes(chosen)), frozenset())
    for trial in chosen:
        reads |= trial.plan.reads
    return reads


def observation_codes(trials: Iterable[Trial]) -> list[str]:
    """Every result code (system|code) the trials' criteria can read: the types of lab and vital criteria and
    the inputs of derived measures — not record entries (conditions, medications, …), age or sex."""
    codes: set[str] = set()
    for trial in trials:
        codes |= trial.result_codes
    return sorted(codes)


def trial_result_codes(trial: Trial) -> frozenset[str]:
    """`observation_codes` of one trial (kept on the trial: `Trial.result_codes`)."""
    codes: set[str] = set()
    options = trial.engine_options
    for characteristic in trial.evidence_variable["characteristic"]:
        codes.update(_result_codes(characteristic, options))
    codes.update(panel.token for panel in trial.concepts.search_panels)
    return frozenset(codes)


def _result_codes(characteristic: Mapping[str, Any], options: EngineOptions) -> list[str]:
    found: list[str] = []
    by_type = characteristic.get("definitionByTypeAndValue")
    if by_type:
        types = coding_tokens(by_type.get("type"))
        if not any(t in RECORD_KIND_BY_TYPE_TOKEN or t in (AGE.token, GENDER.token) for t in types):
            for type_token in types:
                spec = options.derived.get(type_token)
                found += [*spec.creatinine_codes, *spec.weight_codes] if spec else [type_token]
    for child in (characteristic.get("definitionByCombination") or {}).get("characteristic", []):
        found += _result_codes(child, options)
    return found
