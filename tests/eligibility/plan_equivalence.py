"""Shared by the plan tests: a patient evaluated by the compiled engine and by the reference interpreter, with
facts read whole and read narrowed to what the plans read — all four must agree, words included."""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.catalog import Trial
from adapter.eligibility.engine import evaluate_plan
from adapter.eligibility.facts import facts_from_bundle
from adapter.eligibility.interpret import interpret
from adapter.eligibility.result import Evaluation
from adapter.evaluation import reads_of
from tests.support.trials import CATALOG

TRIALS: list[Trial] = CATALOG.all()
READS = reads_of(TRIALS)


def as_compared(evaluation: Evaluation) -> tuple[object, ...]:
    """Everything an evaluation says, the criteria's reasons written out."""
    return (evaluation.patient, evaluation.as_of, evaluation.verdict, evaluation.notes, evaluation.unrecognized,
            tuple((c.id, c.type, c.text, c.result, c.reason, c.codes, c.evidence, c.missing)
                  for c in evaluation.criteria))


def check_patient(bundle: Any, as_of: date) -> int:
    """Asserts the four ways agree for every trial; returns how many Observation facts `reads` left out."""
    whole = facts_from_bundle(bundle, CATALOG.units)
    narrowed = facts_from_bundle(bundle, CATALOG.units, reads=READS)
    for trial in TRIALS:
        expected = as_compared(interpret(trial.evidence_variable, whole, as_of, trial.engine_options))
        assert as_compared(evaluate_plan(trial.plan, whole, as_of)) == expected, trial.nct_id
        assert as_compared(evaluate_plan(trial.plan, narrowed, as_of)) == expected, trial.nct_id
    assert (narrowed.conditions, narrowed.medications, narrowed.procedures, narrowed.allergies, narrowed.foreign) == (
        whole.conditions, whole.medications, whole.procedures, whole.allergies, whole.foreign)
    return len({id(f) for fs in whole.observations.values() for f in fs}) - len(
        {id(f) for fs in narrowed.observations.values() for f in fs})
