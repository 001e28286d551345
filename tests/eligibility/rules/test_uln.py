"""× ULN criteria judged against the reference range that is this patient's (rules/uln.py), the site's default
table for results sent without one, and per-test answers (a pregnancy test's Positive)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import load_catalog
from adapter.eligibility.engine import EngineOptions
from adapter.eligibility.reference_ranges import table_from_data
from tests.eligibility.rules.helpers import (
    LOINC,
    SNOMED,
    UCUM,
    UNITS,
    by_value,
    generic_patient,
    lab,
    lab_type,
    qty,
    run,
)

pytestmark: list[pytest.MarkDecorator] = []

MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
UNL = {"coding": [{"system": "http://hl7.org/fhir/characteristic-offset", "code": "UNL"}]}
CREATININE_1ULN = by_value(lab_type("2160-0", "Serum creatinine"), valueQuantity=qty(1, "{ULN}", "<="), offset=UNL)
MALE = {"high": {"value": 1.3, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
        "appliesTo": [{"coding": [{"system": MEANING, "code": "male"}]}]}
FEMALE = {"high": {"value": 1.1, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
          "appliesTo": [{"coding": [{"system": SNOMED, "code": "248152002"}]}]}
OPTIONS = EngineOptions(units=UNITS)


def creatinine(value: Any, *ranges: dict[str, Any], gender: str = "female", birth: str = "1970-05-17") -> Any:
    return generic_patient(lab("cr", "2160-0", value, "mg/dL", referenceRange=list(ranges)), gender=gender,
                           birth=birth)


def test_a_woman_is_judged_against_the_female_range() -> None:
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.2, MALE, FEMALE), options=OPTIONS)
    assert result == "fail" and "ULN 1.1 mg/dL for female" in reason
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.2, MALE, FEMALE, gender="male"), options=OPTIONS)
    assert result == "pass" and "ULN 1.3 mg/dL for male" in reason


def test_sex_not_recorded_tries_both_ranges() -> None:
    # 1.2: above the women's limit, below the men's — it depends on the sex: unknown, naming both.
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.2, MALE, FEMALE, gender="unknown"), options=OPTIONS)
    assert result == "unknown" and "1.3 mg/dL for male" in reason and "1.1 mg/dL for female" in reason
    # 0.9 passes either way, 1.4 fails either way: the engine's "as a man / as a woman" settles it.
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(0.9, MALE, FEMALE, gender="unknown"), options=OPTIONS)
    assert result == "pass" and "the same either way" in reason
    [(result, _)] = run(CREATININE_1ULN, facts=creatinine(1.4, MALE, FEMALE, gender="unknown"), options=OPTIONS)
    assert result == "fail"


def test_ranges_that_both_apply_and_disagree_are_unknown() -> None:
    general = {"high": {"value": 1.3, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}}
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.0, general, FEMALE), options=OPTIONS)
    assert result == "unknown" and "different ULNs" in reason


def test_age_bands_pick_the_adult_range() -> None:
    child = {"high": {"value": 0.7, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
             "age": {"high": {"value": 17, "system": UCUM, "code": "a"}}}
    adult = {"high": {"value": 1.1, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
             "age": {"low": {"value": 18, "system": UCUM, "code": "a"}}}
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.0, child, adult), options=OPTIONS)
    assert result == "pass" and "ULN 1.1 mg/dL for ≥ 18 years" in reason
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.0, child, adult, birth="2012-01-01"),
                             options=OPTIONS)
    assert result == "fail" and "ULN 0.7 mg/dL for ≤ 17 years" in reason


def test_a_range_for_another_sex_only_is_no_limit() -> None:
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.0, MALE), options=OPTIONS)
    assert result == "unknown" and "no reference range on the result applies to this patient" in reason


TABLE = table_from_data({
    "sources": {"lab": {"title": "a lab handbook", "url": "https://example.org/handbook"}},
    "rows": [
        {"loinc": "2160-0", "sex": "male", "age_low": 18, "unit": "mg/dL", "high": 1.3, "source": "lab"},
        {"loinc": "2160-0", "sex": "female", "age_low": 18, "unit": "umol/L", "high": 97, "source": "lab"},
    ]}, "site.yaml")


def test_the_site_table_serves_a_result_sent_without_a_range() -> None:
    options = EngineOptions(units=UNITS, reference_ranges=TABLE)
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.2), options=options)  # 97 µmol/L ≈ 1.097 mg/dL
    assert result == "fail" and "site default ULN" in reason
    assert "for female, ≥ 18 years (reference-ranges site.yaml row 2, source lab)" in reason
    [(result, _)] = run(CREATININE_1ULN, facts=creatinine(1.2, gender="male"), options=options)
    assert result == "pass"
    # without the table: unknown, as before
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.2), options=OPTIONS)
    assert result == "unknown" and "no upper reference limit (ULN) on the result" in reason


def test_the_site_table_never_overrides_what_the_lab_sent() -> None:
    options = EngineOptions(units=UNITS, reference_ranges=TABLE)
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.2, {"text": "see report"}), options=options)
    assert result == "unknown" and "given only as text: 'see report'" in reason
    [(result, reason)] = run(CREATININE_1ULN, facts=creatinine(1.2, MALE, FEMALE), options=options)
    assert "site default" not in reason and "ULN 1.1 mg/dL for female" in reason


# ------------------------------------------------------------------------------ per-test answers


def _coded(oid: str, code: str, system: str, answer: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": answer}]}
    if text:
        concept["text"] = text
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": "Patient/gp"},
            "effectiveDateTime": "2026-03-02T09:00:00Z", "valueCodeableConcept": concept}


def _written(oid: str, code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": "Patient/gp"},
            "effectiveDateTime": "2026-03-02T09:00:00Z", "valueString": text}


def _library_options() -> EngineOptions:
    return load_catalog().get("NCT03320629").engine_options


PREGNANT = by_value(lab_type("2106-3", "Pregnancy test"), valueQuantity={"value": 0, "comparator": ">",
                                                                         "system": UCUM, "code": "1"})
DIPSTICK_ABOVE_2 = by_value(lab_type("20454-5", "Urine protein dipstick"),
                            valueQuantity={"value": 2, "comparator": ">", "system": UCUM, "code": "1"})


def test_pregnancy_test_answers_read_per_test() -> None:
    options = _library_options()
    cases = [
        (_coded("h1", "2106-3", LOINC, "LA6576-8"), "pass"),  # Positive
        (_coded("h2", "2106-3", LOINC, "LA6577-6"), "fail"),  # Negative
        (_coded("h3", "2106-3", SNOMED, "10828004"), "pass"),
        (_coded("h4", "2106-3", SNOMED, "260385009"), "fail"),
        (_written("h5", "2106-3", "Positive"), "pass"),
        (_written("h6", "2106-3", "negative"), "fail"),
    ]
    for observation, expected in cases:
        [(result, reason)] = run(PREGNANT, facts=generic_patient(observation), options=options)
        assert result == expected, (observation, reason)
    assert options.answers[f"{LOINC}|2106-3"][f"{LOINC}|LA6576-8"] == Decimal(1)


def test_a_dipstick_positive_is_still_no_grade() -> None:
    # "Positive" is the pregnancy test's answer, not a global one: a dipstick "> ++" must not pass on it.
    [(result, reason)] = run(DIPSTICK_ABOVE_2, facts=generic_patient(_written("d1", "20454-5", "Positive")),
                             options=_library_options())
    assert result == "unknown" and "no grade to compare" in reason
    [(result, _)] = run(DIPSTICK_ABOVE_2, facts=generic_patient(_written("d2", "20454-5", "3+")),
                        options=_library_options())
    assert result == "pass"


STRIP_ABOVE_2 = by_value({"coding": [{"system": LOINC, "code": "20454-5"}, {"system": LOINC, "code": "5804-0"}],
                          "text": "Urine protein dipstick"},
                         valueQuantity={"value": 2, "comparator": ">", "system": UCUM, "code": "1"})


def _strip_mg_dl(oid: str, value: float, comparator: str | None = None, unit: str = "mg/dL") -> dict[str, Any]:
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit,
                **({"comparator": comparator} if comparator else {})}
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "5804-0"}]}, "subject": {"reference": "Patient/gp"},
            "effectiveDateTime": "2026-03-02T09:00:00Z", "valueQuantity": quantity}


@pytest.mark.parametrize(("value", "comparator", "unit", "expected"), [
    (300, None, "mg/dL", "pass"),     # 3+
    (100, None, "mg/dL", "fail"),     # 2+ is not above ++
    (30, None, "mg/dL", "fail"),
    (10, None, "mg/dL", "fail"),      # under 1+
    (150, None, "mg/dL", "pass"),     # between 2+ and 3+: above ++ either way
    (3, None, "g/L", "pass"),         # 300 mg/dL in g/L
    (100, ">", "mg/dL", "pass"),      # above the 2+ level
    (100, "<", "mg/dL", "fail"),
    (100, ">=", "mg/dL", "unknown"),  # 2+ or above: cannot tell
])
def test_a_strip_reported_in_mg_dl_reads_as_its_grade(value, comparator, unit, expected) -> None:
    [(result, reason)] = run(STRIP_ABOVE_2, facts=generic_patient(_strip_mg_dl("s", value, comparator, unit)),
                             options=_library_options())
    assert result == expected, reason
    assert "on the strip's scale (1 = 30 mg/dL, 2 = 100 mg/dL, 3 = 300 mg/dL)" in reason


def test_the_strip_codes_share_one_concept_and_its_scale() -> None:
    options = _library_options()
    assert {f"{LOINC}|5804-0", f"{LOINC}|50561-0", f"{LOINC}|20454-5"} <= set(options.grade_scales)
    # a quantitative spot urine protein (any method) is not a strip: no scale, a partial code
    assert f"{LOINC}|2888-6" not in options.grade_scales


def test_the_example_table_loads() -> None:
    from adapter.eligibility.reference_ranges import load_reference_ranges

    example = Path(__file__).resolve().parents[3] / "docs" / "reference-ranges.example.yaml"
    table = load_reference_ranges(example)
    assert {row.code for row in table.rows} >= {f"{LOINC}|2160-0", f"{LOINC}|1742-6"}


def test_629_a_womans_creatinine_above_her_uln_fails_renal_function(reports) -> None:
    from tests.eligibility.rules.helpers import criterion, load, resource

    bundle = load("p-edge-629-pass")
    bundle["entry"][0]["resource"]["gender"] = "female"
    cr = resource(bundle, "edge-629-pass-cr")
    cr["valueQuantity"]["value"] = 1.2  # above the women's 1.1, below the men's 1.3
    cr["referenceRange"] = [MALE, FEMALE]
    renal = criterion(reports.of(bundle, "NCT03320629"), "inc-renal-function")
    assert renal["result"] == "fail" and "ULN 1.1 mg/dL for female" in renal["reason"]
    bundle["entry"][0]["resource"]["gender"] = "male"
    renal = criterion(reports.of(bundle, "NCT03320629"), "inc-renal-function")
    assert "ULN 1.3 mg/dL for male" in renal["reason"] and renal["result"] != "fail"
