"""Compiled trials (`eligibility.plan`): the same results and words as the reference interpreter on every fixture
patient, facts narrowed to what the plans read changing nothing, structured outcomes, reasons written lazily."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapter.eligibility import assemble
from adapter.eligibility.engine import evaluate, evaluate_plan, plan_of
from adapter.eligibility.facts import facts_from_bundle
from adapter.eligibility.plan import Combination, Fixed, Leaf
from adapter.eligibility.result import CriterionResult
from adapter.errors import PatientDataError
from adapter.vocabulary import RECORD_KINDS
from tests.eligibility.plan_equivalence import READS, TRIALS, check_patient
from tests.eligibility.rules.helpers import A1C_BELOW_8, GENERIC_AS_OF, GP_LABS, generic_patient
from tests.support.trials import CATALOG, PATIENTS

pytestmark: list[pytest.MarkDecorator] = []


def _patients() -> list[tuple[str, Any]]:
    found = []
    for path in sorted(PATIENTS.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        try:
            facts_from_bundle(bundle, CATALOG.units)
        except PatientDataError:
            continue  # the input-error fixtures hold no patient
        found.append((path.name, bundle))
    return found


PATIENT_BUNDLES = _patients()


def test_the_fixture_set_is_the_patients():
    assert len(PATIENT_BUNDLES) >= 30  # the input-error fixtures aside


@pytest.mark.parametrize("as_of", [date(2026, 11, 1), date(2025, 3, 15)])
@pytest.mark.parametrize(("name", "bundle"), PATIENT_BUNDLES, ids=[n for n, _ in PATIENT_BUNDLES])
def test_compiled_equals_interpreted_with_and_without_reads(name, bundle, as_of):
    check_patient(bundle, as_of)


def test_reads_leave_out_the_results_no_criterion_reads():
    # The synthetic benchmark patient's QTc and 24-h protein are read; a result coded with a code no trial names is
    # not: narrowed facts drop it, and nothing else.
    bundle = json.loads((PATIENTS / "p-edge-629-pass.json").read_text(encoding="utf-8"))
    extra = {"resourceType": "Observation", "id": "unread", "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},  # LOINC 8302-2 Body height
             "subject": {"reference": bundle["entry"][0]["fullUrl"]}, "effectiveDateTime": "2026-10-01",
             "valueQuantity": {"value": 170, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}}
    bundle = {**bundle, "entry": [*bundle["entry"], {"resource": extra}]}
    assert "http://loinc.org|8302-2" not in READS.observation_codes
    assert check_patient(bundle, date(2026, 11, 1)) >= 1
    narrowed = facts_from_bundle(bundle, CATALOG.units, reads=READS)
    assert "http://loinc.org|8302-2" not in narrowed.observations


def test_a_plan_says_what_it_reads():
    for trial in TRIALS:
        plan = trial.plan
        assert plan is trial.plan and plan is plan_of(trial.evidence_variable, trial.engine_options)
        leaves = [n for n in plan.nodes.values() if isinstance(n, Leaf)]
        assert {c for n in leaves if n.read for c in n.read.codes} <= plan.reads.observation_codes
        assert plan.reads.record_kinds <= {k.name for k in RECORD_KINDS}
        assert [c.id for c in plan.criteria] == [
            c.get("linkId") or f"criterion-{i + 1}" for i, c in enumerate(trial.evidence_variable["characteristic"])]
    assert "http://loinc.org|718-7" in READS.observation_codes  # LOINC 718-7 Hemoglobin [Mass/volume] in Blood
    assert {"conditions", "medications"} <= READS.record_kinds


def test_thresholds_are_typed_once():
    plan = TRIALS[0].plan
    reads = [n.read for n in plan.nodes.values() if isinstance(n, Leaf) and n.read is not None]
    wanted = [r.wanted for r in reads if isinstance(r.wanted, tuple)]
    assert wanted and all(isinstance(w[1].low, Decimal) or isinstance(w[1].high, Decimal) for w in wanted)


def test_structured_outcomes_say_what_was_compared():
    # generic_patient's HbA1c against "HbA1c below 8 %" (tests.eligibility.rules.helpers)
    variable = {"resourceType": "EvidenceVariable", "characteristic": [A1C_BELOW_8]}
    (criterion,) = evaluate(variable, generic_patient(*GP_LABS), GENERIC_AS_OF).criteria
    detail = criterion.detail
    assert detail is not None and detail.kind == "observation"
    assert detail.facts == tuple(e.reference for e in criterion.evidence)
    assert (detail.comparator, detail.threshold) == ("<", Decimal(8))
    assert criterion.result == ("pass" if detail.value is not None and detail.value < 8 else "fail")


def test_reasons_are_written_only_when_read(monkeypatch):
    trial = TRIALS[0]
    facts = facts_from_bundle(PATIENT_BUNDLES[0][1], CATALOG.units)
    expected = [c.reason for c in evaluate_plan(trial.plan, facts, date(2026, 11, 1)).criteria]
    trial.plan.without_data.clear()  # no criterion assembled earlier, so every one is written anew

    def no_words(*_: object) -> object:
        raise AssertionError("a reason was written")

    monkeypatch.setattr(assemble, "not_restating", no_words)
    evaluation = evaluate_plan(trial.plan, facts, date(2026, 11, 1))
    assert [c.result for c in evaluation.criteria] and evaluation.verdict  # no English needed for these
    with pytest.raises(AssertionError, match="a reason was written"):
        _ = evaluation.criteria[-1].reason
    monkeypatch.undo()
    assert [c.reason for c in evaluation.criteria] == expected


def test_a_reason_is_written_once():
    calls: list[int] = []

    def write() -> str:
        calls.append(1)
        return "Hemoglobin 9 g/dL ≥ 9 g/dL"

    result = CriterionResult("hb", "inclusion", "Hb ≥ 9", "pass", write, (), ())
    assert not calls
    assert result.reason == result.reason == "Hemoglobin 9 g/dL ≥ 9 g/dL" and len(calls) == 1
    assert result == CriterionResult("hb", "inclusion", "Hb ≥ 9", "pass", "Hemoglobin 9 g/dL ≥ 9 g/dL", (), ())


def test_any_evidence_variable_compiles_what_it_cannot_read_stays_manual():
    variable = {"characteristic": [
        {"linkId": "expr", "definitionExpression": {"language": "text/cql", "expression": "X"}},
        {"linkId": "mod", "modifierExtension": [{"url": "urn:x"}], "definitionByTypeAndValue": {}},
        {"linkId": "combo", "definitionByCombination": {"code": "statistical", "characteristic": []}},
    ]}
    plan = plan_of(variable, TRIALS[0].engine_options)
    assert [type(c.node) for c in plan.criteria] == [Fixed, Fixed, Combination]
    results = evaluate_plan(plan, generic_patient(), GENERIC_AS_OF).criteria
    assert [c.result for c in results] == ["manual", "manual", "manual"]


def test_every_criterion_says_what_kind_of_reading_decided_it():
    trial = TRIALS[0]
    facts = facts_from_bundle(PATIENT_BUNDLES[0][1], CATALOG.units)
    evaluation = evaluate_plan(trial.plan, facts, date(2026, 11, 1))
    criteria = [c for c in evaluation.criteria if c.id != "record-deceased"]
    kinds = {plan.id: plan.reading for plan in trial.plan.criteria}
    for criterion in criteria:
        assert criterion.detail.kind == kinds[criterion.id] or (
            kinds[criterion.id] == "combination" and criterion.detail.kind in ("observation", "record-entry")), (
            criterion.id)
        assert set(criterion.detail.facts) <= {e.reference for e in criterion.evidence}, criterion.id
        if criterion.detail.kind == "observation" and criterion.result in ("pass", "fail"):
            assert criterion.detail.facts and criterion.detail.comparator, criterion.id
    assert {"age", "record-entry", "observation"} <= {c.detail.kind for c in criteria}


def test_results_travel_between_processes_with_their_words():
    import copy
    import pickle

    facts = facts_from_bundle(PATIENT_BUNDLES[0][1], CATALOG.units)
    evaluation = evaluate_plan(TRIALS[0].plan, facts, date(2026, 11, 1))
    again = pickle.loads(pickle.dumps(evaluation))
    assert again == evaluation and [c.reason for c in again.criteria] == [c.reason for c in evaluation.criteria]
    assert copy.deepcopy(evaluation.criteria[0]) == evaluation.criteria[0]
