"""Observation.referenceRange -> ReferenceRange: every normal range kept, with whom it is for (facts/ranges.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from adapter.eligibility.facts import ReferenceRange
from tests.eligibility.rules.helpers import LOINC, SNOMED, UCUM, generic_patient, lab

pytestmark: list[pytest.MarkDecorator] = []

MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"


def mgdl(value: Any) -> dict[str, Any]:
    return {"value": value, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}


def ranges_of(*ranges: dict[str, Any]) -> tuple[ReferenceRange, ...]:
    facts = generic_patient(lab("cr", "2160-0", 1.0, "mg/dL", referenceRange=list(ranges)))
    (fact,) = facts.observations[f"{LOINC}|2160-0"]
    return fact.reference_ranges


def applies_to(system: str, code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": system, "code": code}]}]


def test_every_normal_range_is_kept_with_its_sex_and_age() -> None:
    male, female, child = ranges_of(
        {"low": mgdl(0.7), "high": mgdl(1.3), "appliesTo": applies_to(MEANING, "male")},
        {"low": mgdl(0.6), "high": mgdl(1.1), "appliesTo": applies_to(SNOMED, "248152002"),
         "age": {"low": {"value": 18, "unit": "yr", "system": UCUM, "code": "a"}}},
        {"high": mgdl(0.7), "age": {"high": {"value": 11, "system": UCUM, "code": "mo"}}},
    )
    assert (male.high, male.unit, male.sex, male.age_unit) == (Decimal("1.3"), "mg/dL", "male", None)
    assert (female.sex, female.age_low, female.age_high, female.age_unit) == ("female", Decimal(18), None, "a")
    assert (child.sex, child.age_high, child.age_unit) == (None, Decimal(11), "mo")


def test_administrative_gender_and_snomed_male_read_as_a_sex() -> None:
    (gender,), (snomed,) = (ranges_of({"high": mgdl(1.3), "appliesTo": applies_to(
        "http://hl7.org/fhir/administrative-gender", "female")}),
        ranges_of({"high": mgdl(1.3), "appliesTo": applies_to(SNOMED, "248153007")}))
    assert gender.sex == "female" and snomed.sex == "male"


def test_targets_are_skipped_and_unknown_populations_kept_as_unread() -> None:
    found = ranges_of(
        {"high": mgdl(5), "type": {"coding": [{"system": MEANING, "code": "recommended"}]}},
        {"high": mgdl(1.0), "type": {"coding": [{"system": MEANING, "code": "normal"}]},
         "appliesTo": [{"coding": [{"system": MEANING, "code": "pregnant"}], "text": "pregnant"}]},
        {"high": mgdl(1.2), "age": {"low": {"value": 1, "code": "h", "system": UCUM}}},
    )
    assert [r.high for r in found] == [Decimal("1.0"), Decimal("1.2")]
    assert found[0].unread == ("appliesTo pregnant",) and found[0].sex is None
    assert found[1].unread == ("age in 'h'",) and found[1].age_unit is None


def test_a_range_given_as_text_reads_its_high_and_keeps_the_text() -> None:
    (rng,) = ranges_of({"text": "0.6-1.1 mg/dL", "appliesTo": applies_to(MEANING, "female")})
    assert (rng.high, rng.unit, rng.from_text, rng.sex) == (Decimal("1.1"), "mg/dL", True, "female")
    (unread,) = ranges_of({"text": "M: 0.7-1.3, F: 0.6-1.1"})
    assert unread.high is None and unread.text == "M: 0.7-1.3, F: 0.6-1.1"
