"""adapter.eligibility.rules.observations: lab and vital results — the latest usable one, units, censored values,
reference ranges (ULN), look-back windows; on the fixture patients and on a generic EvidenceVariable."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapter.eligibility.engine import EngineOptions, evaluate
from adapter.eligibility.facts import facts_from_bundle
from tests.eligibility.rules.helpers import (
    A1C_BELOW_8,
    BMI,
    CHOLESTEROL,
    GENERIC_AS_OF,
    GP_LABS,
    HBA1C,
    LIPASE,
    T629,
    T787251,
    TRIALS,
    UCUM,
    by_value,
    criterion,
    generic_patient,
    lab,
    lab_type,
    load,
    qty,
    refs,
    resource,
    results,
    run,
    variant,
)

pytestmark: list[pytest.MarkDecorator] = []


@pytest.mark.parametrize(
    "quantity, g_per_l, r787251, r629",
    [
        ({"value": 6.2, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}, "99.88", "pass", "fail"),
        ({"value": 6.3, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}, "101.49", "pass", "pass"),
        ({"value": 5.6, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}, "90.22", "pass", "fail"),
        ({"value": 5.5, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}, "88.6", "fail", "fail"),
        ({"value": 10.0, "unit": "g/dL", "system": UCUM, "code": "g/dL"}, "100", "pass", "pass"),
        ({"value": 9.99, "unit": "g/dL", "system": UCUM, "code": "g/dL"}, "99.9", "pass", "fail"),
    ],
)
def test_hemoglobin_units(quantity, g_per_l, r787251, r629, reports):
    bundle = variant("p-eligible-si-units", eligible_si_units_hb=quantity)
    for nct, expected in ((T787251, r787251), (T629, r629)):
        c = criterion(reports.of(bundle, nct), "inc-hemoglobin")
        assert c["result"] == expected, c["reason"]
        assert f"= {g_per_l} g/L" in c["reason"]
        hb = next(e for e in c["evidence"] if e["reference"] == "Observation/eligible-si-units-hb")
        assert hb["normalized"]["unit"] == "g/L"
        assert abs(hb["normalized"]["value"] - float(g_per_l)) < 0.01


@pytest.mark.parametrize(
    "glucose, excluded",
    # 10 mmol/L = 180.16 mg/dL: 180.1 mg/dL = 9.997 mmol/L, 180.2 mg/dL = 10.002 mmol/L
    [(180, False), (180.1, False), (180.2, True), (182, True)],
)
def test_fasting_glucose_in_mg_per_dl_against_10_mmol_per_l(glucose, excluded, reports):
    c = criterion(reports.of(variant("p-eligible-us-units", eligible_us_units_glu=glucose), T787251),
                  "exc-diabetes-control")
    assert c["result"] == ("fail" if excluded else "pass"), c["reason"]
    assert f"{glucose} mg/dL = " in c["reason"]


def test_stale_result_is_unknown_and_says_so(reports):
    for nct in TRIALS:
        c = criterion(reports("p-stale-blood-count", nct), "inc-hemoglobin")
        assert c["result"] == "unknown"
        assert "stale" in c["reason"] and "45 days old" in c["reason"] and "within 30 days" in c["reason"]
        assert "Observation/stale-blood-count-hb" in c["reason"]
        assert refs(c) == ["Observation/stale-blood-count-hb"]
    outcome, reason = reports.result("p-stale-blood-count", T629, "inc-blood-count-no-transfusion")
    assert outcome == "unknown" and "no dated Hemoglobin, Absolute neutrophil count or Platelet count result" in reason
    assert "inc-hemoglobin" not in reason  # the tests by their displays, not the criteria's ids


def test_missing_platelets_is_unknown_never_a_pass(reports):
    for nct in TRIALS:
        c = criterion(reports("p-missing-platelets", nct), "inc-platelets")
        assert c["result"] == "unknown" and c["reason"] == "no Platelet count result"
        assert c["missing"] == ["Platelet count (777-3, 26515-7)"] and c["evidence"] == []


def test_unitless_value_is_unknown(reports):
    for nct in TRIALS:
        c = criterion(reports("p-unitless-hemoglobin", nct), "inc-hemoglobin")
        assert c["result"] == "unknown"
        assert "value 13.1 has no unit" in c["reason"]
        assert refs(c) == ["Observation/unitless-hemoglobin-hb"]


def test_unit_text_without_code_is_read(reports):
    bundle = variant("p-eligible-us-units", eligible_us_units_hb={"value": 12.5, "unit": "g/dl"})
    c = criterion(reports.of(bundle, T629), "inc-hemoglobin")
    assert c["result"] == "pass" and "12.5 g/dl = 125 g/L ≥ 100 g/L" in c["reason"]


def test_non_ucum_unit_is_unknown(reports):
    bundle = variant("p-eligible-us-units", eligible_us_units_plt={"value": 210, "unit": "G/L"})
    c = criterion(reports.of(bundle, T787251), "inc-platelets")
    assert c["result"] == "unknown" and "no unit (written as 'G/L')" in c["reason"]


def test_censored_below_is_a_certain_fail(reports):
    for nct, limit in ((T787251, "80"), (T629, "100")):
        c = criterion(reports("p-platelets-below-50", nct), "inc-platelets")
        assert c["result"] == "fail"
        assert f"<50 10⁹/L < {limit} 10⁹/L" in c["reason"]
        assert c["evidence"][0]["value"] == "<50"


def test_censored_above_is_a_certain_pass(reports):
    for nct in TRIALS:
        c = criterion(reports("p-platelets-above-500", nct), "inc-platelets")
        assert c["result"] == "pass" and ">500 10⁹/L ≥" in c["reason"]


def test_censored_value_that_straddles_the_limit_is_unknown(reports):
    bundle = variant("p-platelets-below-50", platelets_below_50_plt={
        "value": 100, "comparator": "<", "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"})
    assert criterion(reports.of(bundle, T629), "inc-platelets")["result"] == "fail"  # < 100 never reaches 100
    c = criterion(reports.of(bundle, T787251), "inc-platelets")
    assert c["result"] == "unknown" and "cannot be compared with" in c["reason"]


def test_newest_entered_in_error_is_skipped_and_the_older_valid_result_used(reports):
    for nct in TRIALS:
        c = criterion(reports("p-hemoglobin-entered-in-error", nct), "inc-hemoglobin")
        assert c["result"] == "pass"
        assert "12.9 g/dL = 129 g/L" in c["reason"]
        assert "newer, ignored" in c["reason"] and "hemoglobin-entered-in-error-hb-wrong" in c["reason"]
        assert "entered in error" in c["reason"]
        assert refs(c)[0] == "Observation/hemoglobin-entered-in-error-hb"
        assert "Observation/hemoglobin-entered-in-error-hb-wrong" not in refs(c)


def test_only_result_entered_in_error_is_unknown(reports):
    for nct in TRIALS:
        c = criterion(reports("p-only-hemoglobin-entered-in-error", nct), "inc-hemoglobin")
        assert c["result"] == "unknown"
        assert "no usable Hemoglobin result" in c["reason"] and "entered in error" in c["reason"]


def test_another_patients_result_is_ignored(reports):
    rep = reports("p-foreign-and-future-results", T629)
    c = criterion(rep, "inc-hemoglobin")
    assert c["result"] == "pass" and refs(c) == ["Observation/foreign-and-future-results-hb"]
    assert "7.1" not in c["reason"]
    assert rep["notes"] == ["1 resource belonging to another patient was ignored."]
    facts = facts_from_bundle(load("p-foreign-and-future-results"), reports.units)
    assert dict(facts.foreign) == {
        "Observation/foreign-and-future-results-hb-other-patient":
            "subject Patient/p-someone-else is not Patient/p-foreign-and-future-results"}


def test_result_after_the_evaluation_date_is_ignored(reports):
    for nct in TRIALS:
        c = criterion(reports("p-foreign-and-future-results", nct), "inc-platelets")
        assert c["result"] == "pass" and "210 10³/µL" in c["reason"]
        assert "foreign-and-future-results-plt-future (2026-11-05) is after the evaluation date" in c["reason"]
        assert refs(c) == ["Observation/foreign-and-future-results-plt"]
    # evaluated later, the same result is used (and fails)
    later = reports.of(load("p-foreign-and-future-results"), T787251, date(2026, 11, 6))
    c = criterion(later, "inc-platelets")
    assert c["result"] == "fail" and refs(c) == ["Observation/foreign-and-future-results-plt-future"]


def test_preliminary_result_is_not_used(reports):
    for nct in TRIALS:
        c = criterion(reports("p-preliminary-and-absent-results", nct), "inc-neutrophils")
        assert c["result"] == "unknown" and "preliminary result" in c["reason"]


def test_data_absent_reason_is_unknown(reports):
    rep = reports("p-preliminary-and-absent-results", T629)
    c = criterion(rep, "inc-renal-function")
    assert c["result"] == "unknown"
    assert "data absent: error (Specimen haemolysed)" in c["reason"]
    assert "Serum creatinine (2160-0, 38483-4)" in c["missing"]


def test_no_reference_range_makes_uln_criteria_unknown(reports):
    for nct in TRIALS:
        for cid in ("inc-alt-ast", "inc-bilirubin"):
            c = criterion(reports("p-no-reference-range", nct), cid)
            assert c["result"] == "unknown"
            assert "no upper reference limit (ULN) on the result" in c["reason"]
    # 629 needs creatinine ≤ 1 ×ULN *and* C–G > 50; 787251 accepts C–G ≥ 60 alone
    c629 = criterion(reports("p-no-reference-range", T629), "inc-renal-function")
    assert c629["result"] == "unknown" and "no-reference-range-cr: no upper reference limit" in c629["reason"]
    c787 = criterion(reports("p-no-reference-range", T787251), "inc-renal-function")
    assert c787["result"] == "pass" and "Cockcroft–Gault estimate" in c787["reason"]


def test_reference_range_in_other_units_is_converted(reports):
    bundle = load("p-eligible-us-units")
    bili = resource(bundle, "eligible-us-units-bili")
    bili["referenceRange"] = [{"high": {"value": 20.5, "unit": "umol/L", "system": UCUM, "code": "umol/L"}}]
    c = criterion(reports.of(bundle, T629), "inc-bilirubin")
    assert c["result"] == "pass" and "1.5 × ULN 1.2 mg/dL" in c["reason"]  # 20.5 µmol/L = 1.199 mg/dL


def test_evidence_points_to_the_observation_with_its_normalized_value(reports):
    c = criterion(reports("p-edge-787251-pass", T787251), "inc-platelets")
    assert c["evidence"] == [{
        "reference": "Observation/edge-787251-pass-plt", "value": 80000, "unit": "/uL",
        "date": "2026-10-27T08:30:00+08:00", "normalized": {"value": 80, "unit": "10*9/L"}}]
    hb = criterion(reports("p-eligible-si-units", T629), "inc-hemoglobin")["evidence"][0]
    assert hb["reference"] == "Observation/eligible-si-units-hb" and hb["value"] == 8.1 and hb["unit"] == "mmol/L"
    assert hb["normalized"] == {"value": 130.491, "unit": "g/L"}
    ecog = criterion(reports("p-eligible-us-units", T787251), "inc-ecog")["evidence"][0]
    assert ecog["reference"] == "Observation/eligible-us-units-ecog" and ecog["value"] == "http://loinc.org|LA9623-5"


def test_bp_components_are_the_evidence(reports):
    c = criterion(reports("p-edge-787251-fail", T787251), "exc-blood-pressure-cardiac")
    assert refs(c) == ["Observation/edge-787251-fail-bp#component[0]", "Observation/edge-787251-fail-bp#component[1]",
                       "Observation/edge-787251-fail-qtc"]


def test_result_dated_after_the_evaluation_date_in_its_own_time_zone_is_ignored(reports):
    """A platelet count taken on 2026-11-02 at 06:00 in Beijing (+08:00) is after an evaluation as of 2026-11-01.

    The engine compares in UTC (2026-11-01T22:00Z ≤ end of 2026-11-01 UTC), uses the result, and the report
    shows it dated 2026-11-01.
    """
    bundle = load("p-eligible-us-units")
    plt = copy.deepcopy(resource(bundle, "eligible-us-units-plt"))
    plt.update(id="eligible-us-units-plt-nov2", effectiveDateTime="2026-11-02T06:00:00+08:00")
    plt["valueQuantity"]["value"] = 40
    bundle["entry"].append({"resource": plt})
    c = criterion(reports.of(bundle, T787251), "inc-platelets")
    assert refs(c) == ["Observation/eligible-us-units-plt"], c["reason"]
    assert c["result"] == "pass"


@pytest.mark.parametrize(
    "comparator, threshold, expected",
    [("<", 8, "pass"), ("<", "7.2", "fail"), ("<=", "7.2", "pass"), (">", "7.2", "fail"), (">=", "7.2", "pass"),
     (">", 7, "pass"), (None, "7.2", "pass"), (None, "7.3", "fail")],
)
def test_generic_value_quantity_comparators(comparator, threshold, expected):
    # no comparator reads as ≥ (the engine's documented default)
    assert results(by_value(lab_type(HBA1C, "HbA1c"), valueQuantity=qty(threshold, "%", comparator))) == [expected]


def test_generic_value_range_and_units():
    in_range = by_value(lab_type(BMI, "BMI"), valueRange={"low": qty(18.5, "kg/m2"), "high": qty(35, "kg/m2")})
    below = by_value(lab_type(BMI, "BMI"), valueRange={"low": qty(18.5, "kg/m2"), "high": qty(30, "kg/m2")})
    open_high = by_value(lab_type(BMI, "BMI"), valueRange={"low": qty(30, "kg/m2")})
    chol_mmol = by_value(lab_type(CHOLESTEROL, "Cholesterol"), valueRange={"high": qty(5, "mmol/L")})
    (r1, why1), (r2, why2), (r3, _), (r4, why4) = run(in_range, below, open_high, chol_mmol)
    assert (r1, r2, r3) == ("pass", "fail", "pass")
    assert "31.4 kg/m2 within 18.5–35" in why1 and "outside 18.5–30" in why2
    assert r4 == "unknown" and "molar mass" in why4  # mass ↔ substance needs one, and cholesterol has none


def test_generic_uln_offset():
    uln = {"coding": [{"system": "http://hl7.org/fhir/characteristic-offset", "code": "UNL"}]}
    three = by_value(lab_type(LIPASE, "Lipase"), valueQuantity=qty(3, "{ULN}", "<="), offset=uln)
    two = by_value(lab_type(LIPASE, "Lipase"), valueQuantity=qty(2, "{ULN}", "<"), offset=uln)
    two_half = by_value(lab_type(LIPASE, "Lipase"), valueQuantity=qty("2.5", "{ULN}", "<="), offset=uln)
    (r1, why1), (r2, why2), (r3, _) = run(three, two, two_half)
    assert (r1, r2, r3) == ("pass", "fail", "pass")  # 150 ≤ 180; 150 ≥ 120; 150 ≤ 150
    assert "150 U/L ≤ 180 U/L (3 × ULN 60 U/L)" in why1 and "150 U/L ≥ 120 U/L (2 × ULN 60 U/L)" in why2


def test_generic_time_from_event_lookback():
    # HbA1c dated 2026-03-02 is 13 days old on 2026-03-15
    def within(days: int) -> dict[str, Any]:
        return {**A1C_BELOW_8, "timeFromEvent": [{"range": {"low": {"value": -days, "code": "d"}}}]}

    assert results(within(13)) == ["pass"]
    (r, why), = run(within(12))
    assert r == "unknown" and "13 days old" in why and "within 12 days" in why
    assert results(A1C_BELOW_8, options=EngineOptions(default_lookback_days=10)) == ["unknown"]


def test_generic_modifier_extension_makes_a_result_unusable():
    hemolysed = lab("a1c", HBA1C, 7.2, "%", modifierExtension=[{"url": "http://example.org/hemolysed",
                                                                 "valueBoolean": True}])
    (r, why), = run(A1C_BELOW_8, facts=generic_patient(hemolysed))
    assert r == "unknown" and "unrecognised modifierExtension http://example.org/hemolysed" in why


def test_generic_evidence_value_is_decimal_exact():
    variable = {"characteristic": [by_value(lab_type(HBA1C, "HbA1c"), valueQuantity=qty("7.2", "%", "<="))]}
    evaluation = evaluate(variable, generic_patient(*GP_LABS), GENERIC_AS_OF)
    (evidence,) = evaluation.criteria[0].evidence
    assert evidence.value == Decimal("7.2") and evidence.normalized_value is None
    assert evaluation.criteria[0].result == "pass"


def test_mass_to_substance_needs_the_units_table():
    """Hemoglobin 9 g/dL against ≥ 5.5 mmol/L: the molar mass comes from the units table in the options;
    without a table the conversion is `unknown`, never a guess."""
    from tests.eligibility.rules.helpers import UNITS

    hb = by_value(lab_type("718-7", "Hemoglobin"), valueQuantity=qty("5.5", "mmol/L", ">="))
    facts = generic_patient(lab("hb", "718-7", 9, "g/dL"))
    (r, why), = run(hb, facts=facts, options=EngineOptions(units=UNITS))
    assert (r, why) == ("pass", "Hemoglobin 9 g/dL = 5.59 mmol/L ≥ 5.5 mmol/L")  # 90 g/L ÷ 16110 g/mol
    (r, why), = run(hb, facts=facts, options=EngineOptions())
    assert r == "unknown" and why.startswith("Observation/hb: ") and "molar mass" in why
