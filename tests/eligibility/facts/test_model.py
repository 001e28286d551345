"""adapter.eligibility.facts.model: the facts, their lookups and their immutability."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapter.eligibility.facts import ClinicalFact, PatientFacts, extract_facts
from adapter.units import UnitTable
from tests.eligibility.facts.builders import LOINC, condition, obs, one, patient

pytestmark: list[pytest.MarkDecorator] = []


def test_newest_first(unit_table: UnitTable):
    resources = [
        patient(),
        obs("old", when="2019-01-01"),
        obs("newest", when="2024-01-01T10:00:00Z"),
        obs("undated", when=None),
        obs("middle", when="2021-06"),
        obs("other-code", code="59260-0", unit="mmol/L", when="2023-01-01"),
    ]
    facts = extract_facts(resources, units=unit_table)
    assert [f.reference for f in facts.observations[f"{LOINC}|718-7"]] == [
        "Observation/newest",
        "Observation/middle",
        "Observation/old",
        "Observation/undated",
    ]
    merged = facts.observations_for([f"{LOINC}|718-7", f"{LOINC}|59260-0"])
    assert [f.reference for f in merged][:2] == ["Observation/newest", "Observation/other-code"]
    assert facts.observations_for(f"{LOINC}|59260-0")[0].reference == "Observation/other-code"
    assert facts.observations_for([f"{LOINC}|1-1"]) == []


def test_facts_are_frozen(unit_table: UnitTable):
    facts = extract_facts([patient(), obs("o1"), condition("c1")], units=unit_table)
    fact = one(facts, "718-7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fact.value = Decimal(1)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.conditions[0].usable = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.gender = "male"  # type: ignore[misc]
    with pytest.raises(TypeError):
        facts.observations["x"] = ()  # type: ignore[index]
    assert isinstance(facts.observations[f"{LOINC}|718-7"], tuple)
    assert isinstance(facts.conditions[0], ClinicalFact)


def clinical(reference: str, codes: set[str], when: datetime | None) -> ClinicalFact:
    return ClinicalFact(reference, reference.split("/")[0], frozenset(codes), None, when, "active", True, None)


def test_clinical_facts_for_takes_a_kind_name_mapping_key_or_resource_type():
    old = clinical("MedicationRequest/old", {"|a"}, datetime(2020, 1, 1, tzinfo=UTC))
    new = clinical("MedicationStatement/new", {"|a", "|b"}, datetime(2024, 1, 1, tzinfo=UTC))
    undated = clinical("MedicationRequest/undated", {"|b"}, None)
    facts = PatientFacts("Patient/p", None, None, None, {}, medications=(old, undated, new))
    for kind in ("medications", "medication", "MedicationRequest", "MedicationAdministration"):
        assert facts.clinical_facts_for(kind, ["|a", "|b"]) == [new, old, undated]  # newest first, undated last
    assert facts.clinical_facts_for("medications", "|a") == [new, old]  # one code as a string
    assert facts.clinical_facts_for("conditions", ["|a"]) == []
    with pytest.raises(ValueError, match=r"expected one of \['allergies', 'conditions', 'medications', 'procedures'\]"):
        facts.clinical_facts_for("Observation", ["|a"])
