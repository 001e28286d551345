"""The mapping `Definition` as a discriminated union: the kind key present picks the model; YAML unchanged."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapter.mapping.model import (
    AgeDefinition,
    AllOf,
    AnyOf,
    ConditionDefinition,
    DerivedDefinition,
    Manual,
    MedicationDefinition,
    ObservationDefinition,
    ProcedureDefinition,
    parse_definition,
)
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []


@pytest.mark.parametrize(("data", "model"), [
    ({"observation": "hemoglobin", "comparator": ">=", "value": 9, "unit": "g/dL"}, ObservationDefinition),
    ({"derived": "creatinine-clearance-cockcroft-gault", "comparator": ">=", "value": 60, "unit": "mL/min"},
     DerivedDefinition),
    ({"age": {"low": 18}}, AgeDefinition),
    ({"condition": "hiv", "history": True}, ConditionDefinition),
    ({"procedure": "major-surgery", "absent": True, "within_days": 28}, ProcedureDefinition),
    ({"all_of": [{"sex": "female"}, {"manual": "why"}]}, AllOf),
    ({"any_of": [{"medication": "anticoagulant"}]}, AnyOf),
    ({"manual": "a person decides", "evidence": [{"condition": "hiv"}]}, Manual),
])
def test_the_kind_key_picks_the_model(data: dict[str, object], model: type) -> None:
    node = parse_definition(data)
    assert type(node) is model and node.kind == next(iter(data))


def test_a_node_has_only_its_kinds_fields() -> None:
    age = parse_definition({"age": {"low": 18, "high": 75}})
    assert not hasattr(age, "times_uln") and not hasattr(age, "absent") and not hasattr(age, "observation")
    medication = parse_definition({"medication": "anticoagulant", "within_days": 30})
    assert isinstance(medication, MedicationDefinition) and medication.concept == "anticoagulant"
    assert not hasattr(medication, "history")


@pytest.mark.parametrize(("data", "message"), [
    ({}, r"needs exactly one of .* \(found: none\)"),
    ({"observation": "x", "age": {"low": 1}, "comparator": "<", "value": 1, "unit": "g"},
     r"\(found: observation, age\)"),
    ({"procedure": "p", "history": True}, "history applies to condition, not procedure"),
    ({"age": {"low": 18}, "comparator": "<"}, "comparator/value/unit/times_uln/range do not apply to age"),
    ({"observation": "x", "comparator": "<", "value": 1}, "value needs a UCUM unit"),
    ({"observation": "x", "range": {"low": 1, "high": 2}}, r"range\.unit"),
    ({"derived": "d", "comparator": "<", "times_uln": 2}, "times_uln cannot apply"),
    ({"manual": "m", "evidence": [{"condition": "c", "absent": True}]}, "a evidence item is a condition"),
    ({"allergy": "a", "within_days": 3}, "within_days applies to procedure, medication or condition, not allergy"),
    ({"all_of": []}, "all_of needs at least one item"),
    ({"sex": "female", "colour": "red"}, "Extra inputs are not permitted"),
])
def test_invalid_nodes_are_refused_with_the_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_definition(data)


def test_defaults_written_out_on_another_kind_are_accepted_as_before() -> None:
    """`absent: false` on an observation was a default of the one-model schema: still read, not an error."""
    node = parse_definition({"observation": "x", "comparator": "<", "value": 1, "unit": "g", "absent": False})
    assert isinstance(node, ObservationDefinition)


def test_every_node_of_the_seed_mappings_is_the_model_of_its_kind() -> None:
    kinds = set()
    for nct in ("NCT03787251", "NCT03320629"):
        for criterion in CATALOG.get(nct).mapping.criteria:
            assert criterion.id and criterion.type in ("inclusion", "exclusion")
            for node in criterion.walk():
                assert getattr(node, node.kind) is not None
                kinds.add(node.kind)
    assert {"observation", "age", "condition", "medication", "all_of", "any_of", "manual"} <= kinds
