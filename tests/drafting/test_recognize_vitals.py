"""Round 3 of the threshold reader: vital signs, ages written without "years", "~" ranges, "> ULN" without a number,
units that do not fit (eGFR per m²), and bounds that restate or except another (never a silent wrong bound)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapter.drafting.quantities import find_quantities, fold
from adapter.drafting.recognize import Recognizer, Threshold
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

RECOGNIZER = Recognizer.for_library(CATALOG.concepts)


def read(text: str) -> list[Threshold]:
    return RECOGNIZER.thresholds(text)[1]


def shown(t: Threshold) -> tuple[str, str | None, str]:
    return t.what, t.concept, t.quantity.describe()


@pytest.mark.parametrize(("text", "expected"), [
    ("RR > 30/min", ("respiratory-rate", "respiratory-rate", "> 30 /min")),
    ("respiratory rate ≥ 24 breaths per minute", ("respiratory-rate", "respiratory-rate", ">= 24 /min")),
    ("SpO₂ ≤ 93%", ("spo2", "spo2", "<= 93 %")),
    ("oxygen saturation < 94 % on room air", ("spo2", "spo2", "< 94 %")),
    ("heart rate < 50 bpm", ("heart-rate", "heart-rate", "< 50 /min")),
    ("Pulse > 120 beats/min", ("heart-rate", "heart-rate", "> 120 /min")),
    ("weighing no more than 120 kg", ("body-weight", "body-weight", "<= 120 kg")),
    ("Body weight ≥ 40 kg", ("body-weight", "body-weight", ">= 40 kg")),
])
def test_vital_signs_are_coded_concepts(text: str, expected: tuple[str, str, str]) -> None:
    found = read(text)
    assert [shown(t) for t in found] == [expected]
    assert found[0].problem is None and found[0].review is None


def test_vital_sign_codes_are_those_of_the_fhir_vital_signs_profile() -> None:
    codes = {name: [c.code for c in CATALOG.concepts.observations[name].codes]
             for name in ("spo2", "respiratory-rate", "heart-rate", "body-weight")}
    assert codes == {"spo2": ["2708-6", "59408-5"], "respiratory-rate": ["9279-1"], "heart-rate": ["8867-4"],
                     "body-weight": ["29463-7"]}


@pytest.mark.parametrize("text", ["Respiratory rate < 20.", "O2 saturation ≤94"])
def test_a_vital_sign_without_a_unit_is_read_in_its_unit_for_review(text: str) -> None:
    (t,) = read(text)
    assert t.problem is None and t.concept is not None
    assert t.review is not None and "no unit written" in t.review


@pytest.mark.parametrize("text", ["HR+ breast cancer with Ki67 ≥ 20%", "HR-positive, HER2-negative; Ki-67 > 20 %",
                                  "weight loss > 10% in 6 months", "birth weight < 1500 g"])
def test_words_that_are_not_a_vital_sign(text: str) -> None:
    assert [t for t in read(text) if t.what in ("heart-rate", "body-weight")] == []


@pytest.mark.parametrize(("text", "low", "high", "comparator"), [
    ("Hospitalized patients aged 18 to 75", 18, 75, None),
    ("Males and females between the ages of 18 and 55", 18, 55, None),
    ("Male or female, between 18 and 70", 18, 70, None),
    ("Age ≥ 18", None, None, ">="),
    ("Adults (≥18) who test positive", None, None, ">="),
    ("All participants will be 18 or older", None, None, ">="),
])
def test_ages_written_without_years(text: str, low: int | None, high: int | None, comparator: str | None) -> None:
    (t,) = read(text)
    assert t.kind == "age" and t.quantity.unit == "a" and t.problem is None
    assert t.quantity.comparator == comparator
    if low is not None and high is not None:
        assert (t.quantity.low, t.quantity.high) == (Decimal(low), Decimal(high))
    else:
        assert t.quantity.value == Decimal(18)
    assert "no unit written" in (t.review or "")


@pytest.mark.parametrize("text", ["platelets between 100 and 400", "score between 18 and 70 on the scale",
                                  "Age ≥ 18.5", "CD4 count between 200 and 500"])
def test_a_number_without_age_words_or_with_other_words_is_not_an_age(text: str) -> None:
    assert [t for t in read(text) if t.kind == "age"] == []


def test_ecog_written_with_a_tilde() -> None:
    (t,) = read("ECOG 0~1")
    assert t.what == "ecog" and (t.quantity.low, t.quantity.high) == (Decimal(0), Decimal(1))


@pytest.mark.parametrize(("text", "comparator"), [
    ("creatinine more than the upper limit of normal", ">"),
    ("serum creatinine ≤ ULN", "<="),
])
def test_a_bound_of_the_uln_without_a_number_is_one_uln(text: str, comparator: str) -> None:
    (t,) = read(text)
    assert (t.concept, t.comparator, t.quantity.value, t.quantity.unit) == ("creatinine", comparator, Decimal(1), "ULN")


def test_an_offset_above_the_uln_is_not_read_as_the_uln() -> None:
    assert [q for q in find_quantities(fold("PT > ULN + 4 s")) if q.unit == "ULN"] == []


def test_egfr_per_square_metre_is_manual_with_the_value_never_converted() -> None:
    (t,) = read("eGFR > 50 ml/min/m2 (calculated by the MDRD formula)")
    assert t.quantity.unit == "mL/min/m2" and t.quantity.value == Decimal(50)
    assert t.problem is not None and "does not fit" in t.problem


def test_a_span_restating_the_bound_is_not_a_second_limit() -> None:
    found = read("Have SpO2<94% (range 90-93%) on room air.")
    assert [shown(t) for t in found if t.problem is None] == [("spo2", "spo2", "< 94 %")]


def test_a_rule_for_patients_with_a_heart_rate_is_manual() -> None:
    found = read("For patients with heart rate (HR) 60-100 beats per minute (bpm), no manual read of QTc is required")
    assert found and all(t.problem is not None for t in found)


def test_a_bound_after_unless_is_kept_for_review() -> None:
    (t,) = read("beta blockers unless heart rate < 65 beats per minute")
    assert t.review is not None and "unless" in t.review


@pytest.mark.parametrize(("text", "what", "unit"), [
    ("Arterial blood lactate > 2 mmol/l", "lactate", "mmol/L"),
    ("CRP > 10 mg/L", "crp", "mg/L"),
    ("Ferritin > 500 ng/mL", "ferritin", "ng/mL"),
    ("HBV DNA < 2000 IU/mL", "hbv-dna", "[IU]/mL"),
    ("PaO2 /FiO2 ≤ 300 mm Hg", "pao2-fio2", "mm[Hg]"),
    ("lipase ≤ 1.5 x ULN", "lipase", "ULN"),
])
def test_elements_without_sourced_codes_are_recognised_and_drafted_manual(text: str, what: str, unit: str) -> None:
    (t,) = read(text)
    assert (t.what, t.quantity.unit, t.concept) == (what, unit, None)


@pytest.mark.parametrize(("text", "comparator"), [
    ("Volunteers above the age of 18 years", ">"),
    ("Children under the age of 18.", "<"),
    ("Healthy subjects aged 18 years old and above.", ">="),
])
def test_more_age_phrasings(text: str, comparator: str) -> None:
    (t,) = read(text)
    assert (t.kind, t.comparator, t.quantity.value, t.quantity.unit) == ("age", comparator, Decimal(18), "a")


def test_within_a_uln_multiple_is_an_upper_bound_but_within_a_time_is_not_read() -> None:
    (t,) = read("Creatinine within 1.5 x ULN")
    assert (t.concept, t.comparator, t.quantity.value, t.quantity.unit) == ("creatinine", "<=", Decimal("1.5"), "ULN")
    assert read("Creatinine measured within 3 months") == []


@pytest.mark.parametrize(("text", "unit", "review"), [
    ("BMI more than 35 kg m2", "kg/m2", False),
    ("Subject has a BMI of > 40", "kg/m2", True),
    ("HIV infection with CD4+ count > 400", "/uL", True),
])
def test_bmi_and_cd4_units(text: str, unit: str, review: bool) -> None:
    (t,) = read(text)
    assert t.quantity.unit == unit and t.concept is None  # drafting_only: manual with the value shown
    assert (t.review is not None) == review


def test_a_bound_describing_a_past_event_is_flagged() -> None:
    (t,) = read("Serious post-vaccination reaction (body temperature above 40 °C, hyperemia)")
    assert t.concept == "body-temperature" and t.review is not None and "past event" in t.review
    (now,) = read("Fever (body temperature above 38 °C) at screening")
    assert now.review is None
