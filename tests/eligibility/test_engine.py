"""adapter.eligibility.engine: the structure of an EvidenceVariable — combinations, exclusions, what is not
interpreted, criterion ids and the verdict — on a small EvidenceVariable that is not ours.

What each kind of characteristic means is tested per rule module, in tests/eligibility/rules/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from adapter.eligibility.engine import DerivedSpec, EngineOptions, Evaluator, evaluate
from adapter.eligibility.outcome import Outcome
from adapter.eligibility.rules import RULES, Rule, RuleContext, rule_for
from adapter.eligibility.rules.demographics import age, gender
from adapter.eligibility.rules.derived import derived
from adapter.eligibility.rules.observations import observation
from adapter.eligibility.rules.record_entries import record_entry
from adapter.vocabulary import AGE, GENDER, RECORD_KINDS
from tests.eligibility.rules.helpers import (
    A1C_BELOW_7,
    A1C_BELOW_8,
    GENERIC_AS_OF,
    GP_LABS,
    MANUAL,
    NO_LDL,
    SURGERY,
    T1DM,
    T2DM,
    combo,
    entry_of,
    generic_patient,
    results,
    run,
)

pytestmark: list[pytest.MarkDecorator] = []


def test_generic_all_of_any_of():
    assert results(combo("all-of", A1C_BELOW_8, entry_of("condition", T2DM, "T2DM"))) == ["pass"]
    assert results(combo("all-of", A1C_BELOW_8, A1C_BELOW_7)) == ["fail"]
    assert results(combo("all-of", A1C_BELOW_8, NO_LDL)) == ["unknown"]
    assert results(combo("all-of", A1C_BELOW_7, NO_LDL)) == ["fail"]  # a fail decides all-of
    assert results(combo("all-of", A1C_BELOW_8, MANUAL)) == ["manual"]
    assert results(combo("any-of", A1C_BELOW_7, A1C_BELOW_8)) == ["pass"]
    assert results(combo("any-of", A1C_BELOW_8, NO_LDL)) == ["pass"]  # a pass decides any-of
    assert results(combo("any-of", A1C_BELOW_7, NO_LDL, MANUAL)) == ["unknown"]  # data could still settle it
    assert results(combo("any-of", A1C_BELOW_7, MANUAL)) == ["manual"]
    assert results(combo("any-of", A1C_BELOW_7, A1C_BELOW_7)) == ["fail"]


def test_generic_at_least_at_most():
    three = (A1C_BELOW_8, A1C_BELOW_7, entry_of("condition", T2DM, "T2DM"))  # pass, fail, pass
    assert results(combo("at-least", *three, threshold=2)) == ["pass"]
    assert results(combo("at-least", *three, threshold=3)) == ["fail"]
    assert results(combo("at-least", A1C_BELOW_8, NO_LDL, A1C_BELOW_7, threshold=2)) == ["unknown"]
    assert results(combo("at-most", *three, threshold=1)) == ["fail"]
    assert results(combo("at-most", *three, threshold=2)) == ["pass"]
    assert results(combo("at-most", A1C_BELOW_8, NO_LDL, threshold=1)) == ["unknown"]
    assert results(combo("at-least", *three)) == ["manual"]  # no threshold: cannot be decided by data


def test_generic_nested_exclude():
    no_t1dm = {**entry_of("condition", T1DM, "Type 1 diabetes"), "exclude": True}
    no_t2dm = {**entry_of("condition", T2DM, "Type 2 diabetes"), "exclude": True}
    assert results(combo("all-of", A1C_BELOW_8, no_t1dm)) == ["pass"]
    assert results(combo("all-of", A1C_BELOW_8, no_t2dm)) == ["fail"]
    # exclusion at the top: the criterion fails when the characteristic is met
    (r, why), = run({**A1C_BELOW_8, "exclude": True})
    assert r == "fail" and why.startswith("meets exclusion: ")
    # excluding an excluded item: double negation
    assert results(combo("all-of", {**combo("all-of", no_t2dm), "exclude": True})) == ["pass"]
    # unknown stays unknown under exclude
    assert results({**NO_LDL, "exclude": True}) == ["unknown"]


def test_generic_definition_expression_and_canonical_are_manual():
    expression = {"description": "BMI trend", "definitionExpression": {"language": "text/cql", "expression": "X"}}
    canonical = {"description": "A library", "definitionCanonical": "http://example.org/Library/x"}
    (r1, why1), (r2, why2), (r3, why3), (r4, _) = run(expression, canonical, MANUAL, {})
    assert (r1, r2, r3, r4) == ("manual", "manual", "manual", "manual")
    # the description is the criterion's own text: the reason does not repeat it
    assert why1 == "definitionExpression is not interpreted by this engine; for a person to decide"
    assert "definitionCanonical is not interpreted" in why2
    assert why3 == "a person decides"


def test_generic_criterion_ids_and_verdict():
    variable = {"resourceType": "EvidenceVariable", "characteristic": [A1C_BELOW_8, {**A1C_BELOW_7, "linkId": "x"}]}
    evaluation = evaluate(variable, generic_patient(*GP_LABS), GENERIC_AS_OF)
    assert [c.id for c in evaluation.criteria] == ["criterion-1", "x"]
    assert evaluation.verdict == "ineligible" and evaluation.patient == "Patient/gp"
    assert evaluate({"characteristic": [A1C_BELOW_8, NO_LDL]}, generic_patient(*GP_LABS),
                    GENERIC_AS_OF).verdict == "insufficient-data"
    assert evaluate({"characteristic": [A1C_BELOW_8, MANUAL]}, generic_patient(*GP_LABS),
                    GENERIC_AS_OF).verdict == "potentially-eligible"
    assert evaluate({}, generic_patient(), GENERIC_AS_OF).criteria == ()



# ------------------------------------------------------------------------------------- the rule table


def rule(ctx: RuleContext, *codes: str) -> Rule:
    coding = [{"system": system, "code": code} for system, code in (c.split("|") for c in codes)]
    return rule_for({"type": {"coding": coding}}, ctx)


def test_each_type_is_dispatched_by_the_vocabulary_table():
    spec = DerivedSpec("cockcroft-gault", "mL/min", (), 30, (), 30)
    ctx = Evaluator({}, generic_patient(), GENERIC_AS_OF, EngineOptions(derived={"urn:test|crcl": spec})).context
    assert rule(ctx, AGE.token) is age and rule(ctx, GENDER.token) is gender
    assert all(rule(ctx, kind.type_code.token) is record_entry for kind in RECORD_KINDS)
    assert rule(ctx, "urn:test|crcl") is derived and rule(ctx, "http://loinc.org|718-7") is observation
    assert rule_for({}, ctx) is observation  # no code at all: the observation rule says so (manual)
    assert rule(ctx, "http://loinc.org|718-7", GENDER.token, AGE.token) is age  # the table's order decides
    assert list(RULES) == [AGE.token, GENDER.token, *(k.type_code.token for k in RECORD_KINDS)]


def test_a_characteristic_is_evaluated_once_however_often_it_is_referred_to():
    a1c = {**A1C_BELOW_8, "linkId": "a1c"}
    window = {"eventId": "a1c", "range": {"low": {"value": -14, "code": "d"}, "high": {"value": 0, "code": "d"}}}
    no_surgery = {**entry_of("procedure", SURGERY, "Surgery"), "exclude": True, "timeFromEvent": [window]}
    variable = {"characteristic": [a1c, combo("all-of", no_surgery, {**no_surgery})]}
    evaluator = Evaluator(variable, generic_patient(*GP_LABS), GENERIC_AS_OF, EngineOptions())
    calls: list[str] = []
    original = evaluator._definition

    def counting(characteristic: Mapping[str, Any]) -> Outcome:
        calls.append(characteristic.get("linkId", "-"))
        return original(characteristic)

    evaluator._definition = counting  # type: ignore[method-assign]
    for characteristic in variable["characteristic"]:
        evaluator.characteristic(characteristic)
    assert calls.count("a1c") == 1 and len(calls) == 4  # a1c, the all-of, its two exclusions: none twice
