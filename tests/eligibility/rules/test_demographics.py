"""adapter.eligibility.rules.demographics: age on the evaluation date (also from a partial birth date) and sex."""

from __future__ import annotations

import pytest

from tests.eligibility.rules.helpers import (
    LOINC,
    SMOKING,
    SNOMED,
    T629,
    T787251,
    by_value,
    concept,
    criterion,
    lab_type,
    qty,
    run,
    variant,
)

pytestmark: list[pytest.MarkDecorator] = []


@pytest.mark.parametrize(
    "birth, age, r787251, r629",
    [
        ("2008-11-01", 18, "pass", "pass"),  # 18th birthday today
        ("2008-11-02", 17, "fail", "fail"),  # 18th birthday tomorrow
        ("1956-11-01", 70, "pass", "pass"),
        ("1955-11-02", 70, "pass", "pass"),  # 71st birthday tomorrow
        ("1955-11-01", 71, "pass", "fail"),
        ("1951-11-01", 75, "pass", "fail"),
        ("1950-11-02", 75, "pass", "fail"),  # 76th birthday tomorrow
        ("1950-11-01", 76, "fail", "fail"),
        ("1950-10-31", 76, "fail", "fail"),
    ],
)
def test_age_on_the_evaluation_date(birth, age, r787251, r629, reports):
    bundle = variant("p-age-18-today", birthDate=birth)
    for nct, expected in ((T787251, r787251), (T629, r629)):
        c = criterion(reports.of(bundle, nct), "inc-age")
        assert (c["result"], c["evidence"][0]["value"]) == (expected, age), c["reason"]
        assert f"age {age} " in c["reason"] and c["evidence"][0]["note"] == f"born {birth}"


def test_partial_birth_date_does_not_give_a_certain_age(reports):
    """A birthDate of "2008" may be 2008-01-01 … 2008-12-31: on 2026-11-01 the patient is 17 or 18.

    The engine reads it as 2008-01-01 and answers `pass` for "age ≥ 18"; a wrong pass is worse than
    `unknown`. Likewise "1955" gives a certain `fail` against 18–70 though the patient may be 70.
    """
    young = variant("p-age-18-today", birthDate="2008")
    c = criterion(reports.of(young, T787251), "inc-age")
    assert c["result"] == "unknown", c["reason"]
    old = variant("p-age-18-today", birthDate="1955-11")  # 70 or 71 on 2026-11-01
    c = criterion(reports.of(old, T629), "inc-age")
    assert c["result"] == "unknown", c["reason"]
    # a partial date that settles it is fine: born in 1990, 35 or 36, within 18–70 either way
    assert criterion(reports.of(variant("p-age-18-today", birthDate="1990"), T629), "inc-age")["result"] == "pass"


def test_generic_observation_coded_value_gender_and_age():
    never = by_value(lab_type(SMOKING, "Smoking"), valueCodeableConcept=concept(LOINC, "LA18978-9", "never smoker"))
    daily = by_value(lab_type(SMOKING, "Smoking"), valueCodeableConcept=concept(LOINC, "LA18976-3", "daily smoker"))
    female = by_value(concept(SNOMED, "263495000"), valueCodeableConcept=concept(
        "http://hl7.org/fhir/administrative-gender", "female"))
    male = by_value(concept(SNOMED, "263495000"), valueCodeableConcept=concept(
        "http://hl7.org/fhir/administrative-gender", "male"))
    adult = by_value(concept(SNOMED, "424144002"), valueQuantity=qty(18, "a", ">="))
    under_55 = by_value(concept(SNOMED, "424144002"), valueQuantity=qty(55, "a", "<"))
    months = by_value(concept(SNOMED, "424144002"), valueQuantity=qty(216, "mo", ">="))
    too_many_weeks = by_value(concept(SNOMED, "424144002"), valueQuantity=qty(100_000, "wk", ">="))
    hours = by_value(concept(SNOMED, "424144002"), valueQuantity=qty(18, "h", ">="))
    got = run(never, daily, female, male, adult, under_55, months, too_many_weeks, hours)
    assert [r for r, _ in got] == ["pass", "fail", "pass", "fail", "pass", "fail", "pass", "fail", "manual"]
    assert got[0][1] == "Smoking is never smoker" and got[3][1] == "sex female, not male"
    assert got[5][1] == "age 55 outside < 55 years"
    assert got[6][1].startswith("age 6") and "months within ≥ 216 months" in got[6][1]


@pytest.mark.parametrize(
    "unit, born, as_of, expected",
    [("mo", "2000-01-31", "2000-02-29", 0), ("mo", "2000-01-15", "2000-02-15", 1),
     ("a", "2000-02-29", "2018-02-28", 17), ("a", "2000-02-29", "2018-03-01", 18),
     ("wk", "2026-01-01", "2026-01-15", 2), ("d", "2026-01-01", "2026-01-15", 14)],
)
def test_completed_age_in_each_unit(unit, born, as_of, expected):
    from datetime import date

    from adapter.eligibility.rules.demographics import completed

    assert completed(unit, date.fromisoformat(born), date.fromisoformat(as_of)) == expected


@pytest.mark.parametrize(
    "birth, span",
    [("1970-05-17", (55, 55)), ("1970-03-16", (55, 55)), ("1970-03-15", (56, 56)), ("1970", (55, 56)),
     ("1970-03", (55, 56)), ("1970-02", (56, 56)), ("1970-12", (55, 55))],
)
def test_age_span_is_the_youngest_and_oldest_age_the_birth_date_allows(birth, span):
    from adapter.eligibility.rules.demographics import age_span
    from tests.eligibility.rules.helpers import GENERIC_AS_OF, generic_patient

    assert age_span(generic_patient(birth=birth), GENERIC_AS_OF) == span  # as of 2026-03-15
