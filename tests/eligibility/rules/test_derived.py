"""adapter.eligibility.rules.derived: Cockcroft–Gault creatinine clearance, on the fixture patients and generically."""

from __future__ import annotations

import pytest

from adapter.eligibility.engine import DerivedSpec, EngineOptions
from tests.eligibility.rules.helpers import (
    LOINC,
    T629,
    T787251,
    UCUM,
    by_value,
    concept,
    criterion,
    generic_patient,
    lab,
    load,
    qty,
    refs,
    results,
    run,
    variant,
)

pytestmark: list[pytest.MarkDecorator] = []


def test_cockcroft_gault_just_below_60_fails_787251_when_creatinine_is_high(reports):
    # 89 kg instead of 90: (140 − 44) × 89 / (72 × 2.0) = 59.3
    c = criterion(reports.of(variant("p-crcl-exactly-60", crcl_exactly_60_weight=89), T787251),
                  "inc-renal-function")
    assert c["result"] == "unknown"  # creatinine fails, C–G fails, but no measured 24 h clearance on record
    assert "59.33 mL/min < 60 mL/min" in c["reason"] and "no Creatinine clearance (24 h urine) result" in c["reason"]
    assert "Creatinine clearance (24 h urine) (2164-2)" in c["missing"]


def test_cockcroft_gault_just_above_50_passes_629(reports):
    # 51 kg instead of 50: (140 − 68) × 51 / (72 × 1.0) = 51.0
    c = criterion(reports.of(variant("p-crcl-exactly-50", crcl_exactly_50_weight=51), T629), "inc-renal-function")
    assert c["result"] == "pass" and "51 mL/min > 50 mL/min" in c["reason"]


def test_cockcroft_gault_for_a_woman_multiplies_by_085(reports):
    outcome, reason = reports.result("p-female-cockcroft-gault", T629, "inc-renal-function")
    assert outcome == "fail"
    assert "46.04 mL/min ≤ 50 mL/min = (140 − 65) × 52 kg / (72 × 1 mg/dL) × 0.85" in reason
    # the same woman as a man would pass: 54.2 mL/min
    bundle = load("p-female-cockcroft-gault")
    bundle["entry"][0]["resource"]["gender"] = "male"
    c = criterion(reports.of(bundle, T629), "inc-renal-function")
    assert c["result"] == "pass" and "54.17 mL/min > 50 mL/min" in c["reason"] and "0.85" not in c["reason"]


def test_cockcroft_gault_evidence_references_creatinine_and_weight(reports):
    c = criterion(reports("p-crcl-exactly-50", T629), "inc-renal-function")
    assert refs(c) == ["Observation/crcl-exactly-50-cr", "Observation/crcl-exactly-50-weight"]
    assert "http://loinc.org|29463-7" in c["codes"] and "http://loinc.org|38483-4" in c["codes"]


def test_cockcroft_gault_unknown_without_weight(reports):
    bundle = load("p-crcl-exactly-50")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != "crcl-exactly-50-weight"]
    c = criterion(reports.of(bundle, T629), "inc-renal-function")
    assert c["result"] == "unknown"
    assert "cannot be computed" in c["reason"] and "no body weight result" in c["reason"]


def test_cockcroft_gault_unknown_without_sex(reports):
    """Man: (140 − 44) × 90 / (72 × 2.0) = 60.0 ≥ 60; woman: × 0.85 = 51 < 60 — the sex decides: unknown."""
    bundle = load("p-crcl-exactly-60")
    bundle["entry"][0]["resource"]["gender"] = "unknown"
    c = criterion(reports.of(bundle, T787251), "inc-renal-function")
    assert c["result"] == "unknown" and "administrative gender is unknown" in c["reason"]


def test_cockcroft_gault_settled_when_both_sexes_agree(reports):
    """Man 50.0, woman 42.5: neither is > 50, so 629's renal criterion fails whatever the sex (issue 9: it was
    `unknown`, though no sex could pass it)."""
    bundle = load("p-crcl-exactly-50")
    bundle["entry"][0]["resource"]["gender"] = "unknown"
    c = criterion(reports.of(bundle, T629), "inc-renal-function")
    assert c["result"] == "fail", c["reason"]
    assert "sex unknown, the same either way" in c["reason"] and "as a woman" in c["reason"]


def test_censored_creatinine_cannot_enter_cockcroft_gault(reports):
    bundle = variant("p-crcl-exactly-50", crcl_exactly_50_cr={
        "value": 0.5, "comparator": "<", "unit": "mg/dL", "system": UCUM, "code": "mg/dL"})
    c = criterion(reports.of(bundle, T629), "inc-renal-function")
    assert c["result"] == "unknown" and "censored value cannot enter the formula" in c["reason"]


def test_cockcroft_gault_is_compared_before_it_is_rounded(reports):
    """(140 − 44) × 89.95 kg / (72 × 2.0 mg/dL) = 59.97 mL/min, which is not ≥ 60.

    The engine rounds the clearance to 0.1 (60.0) and then compares, so 787251's "CCr ≥ 60" passes; with the
    creatinine above 1.5 ×ULN and no measured clearance the criterion should stay `unknown`, not `pass`.
    Rounding belongs to the display only.
    """
    bundle = variant("p-crcl-exactly-60", crcl_exactly_60_weight=89.95)
    c = criterion(reports.of(bundle, T787251), "inc-renal-function")
    assert c["result"] == "unknown", c["reason"]


def test_generic_derived_measure():
    spec = DerivedSpec(formula="cockcroft-gault", unit="mL/min", creatinine_codes=(f"{LOINC}|2160-0",),
                       creatinine_lookback_days=30, weight_codes=(f"{LOINC}|29463-7",), weight_lookback_days=30)
    options = EngineOptions(derived={"urn:test|crcl": spec})
    facts = generic_patient(lab("cr", "2160-0", 0.8, "mg/dL"), lab("kg", "29463-7", 70, "kg"), gender="male",
                            birth="1966-03-15")
    crcl = by_value(concept("urn:test", "crcl", "CrCl"), valueQuantity=qty(100, "mL/min", ">="))
    (r, why), = run(crcl, facts=facts, options=options)
    # (140 − 60) × 70 / (72 × 0.8) = 97.2
    assert r == "fail" and why == "CrCl 97.22 mL/min < 100 mL/min = (140 − 60) × 70 kg / (72 × 0.8 mg/dL)"
    # without the option the same characteristic is an ordinary (absent) observation
    assert results(crcl, facts=facts) == ["unknown"]
