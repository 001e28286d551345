"""adapter.eligibility.facts.observations: Observation usability, values, units, dates, components, ranges."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapter.eligibility.facts import ObservationFact, extract_facts
from adapter.units import UnitTable
from tests.eligibility.facts.builders import (
    LOINC,
    SNOMED,
    UCUM,
    bp_panel,
    load,
    needs_realworld,
    obs,
    one,
    patient,
    with_patient,
)

pytestmark: list[pytest.MarkDecorator] = []


def test_observation_basics_and_keys(unit_table: UnitTable):
    resource = obs("o1", value=13.311348747308667)
    resource["code"]["coding"].append({"system": "http://acme.lab", "code": "HGB"})
    resource["code"]["text"] = "Haemoglobin"
    facts = extract_facts([patient(), resource], units=unit_table)
    by_loinc = facts.observations[f"{LOINC}|718-7"]
    by_local = facts.observations["http://acme.lab|HGB"]
    assert by_loinc[0] is by_local[0]  # the same fact under every coding
    fact = by_loinc[0]
    assert fact.reference == "Observation/o1"
    assert fact.codes == frozenset({f"{LOINC}|718-7", "http://acme.lab|HGB"})
    assert fact.text == "Haemoglobin"
    assert fact.value == Decimal("13.311348747308667")  # shortest repr, not the binary expansion
    assert fact.unit == "g/dL" and fact.unit_display == "g/dL"
    assert fact.value_type == "Quantity"
    assert fact.effective == datetime(2024, 3, 1, 7, 0, tzinfo=UTC)
    assert fact.effective.tzinfo is not None
    assert fact.effective_source == "effectiveDateTime" and fact.effective_precision == "time"
    assert fact.status == "final" and fact.usable and fact.unusable_reason is None
    assert len(facts.observations_for([f"{LOINC}|718-7", "http://acme.lab|HGB"])) == 1


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_usable_statuses(status, unit_table: UnitTable):
    assert one(extract_facts([patient(), obs("o1", status=status)], units=unit_table), "718-7").usable


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("preliminary", "preliminary result"),
        ("registered", "registered"),
        ("cancelled", "cancelled"),
        ("entered-in-error", "entered in error"),
        ("unknown", "status unknown"),
        ("bogus", "not recognised"),
        ("", "no status"),
    ],
)
def test_unusable_statuses(status, reason, unit_table: UnitTable):
    fact = one(extract_facts([patient(), obs("o1", status=status)], units=unit_table), "718-7")
    assert not fact.usable
    assert reason in fact.unusable_reason
    assert fact.value == Decimal("13.3")  # kept for display; never used


def test_value_quantity_without_value(unit_table: UnitTable):
    resource = obs("o1", value=None)
    resource["valueQuantity"] = {"unit": "g/dL", "system": UCUM, "code": "g/dL"}
    fact = one(extract_facts([patient(), resource], units=unit_table), "718-7")
    assert not fact.usable and fact.unusable_reason == "no value"


def test_no_value_at_all(unit_table: UnitTable):
    fact = one(extract_facts([patient(), obs("o1", value=None)], units=unit_table), "718-7")
    assert not fact.usable and fact.unusable_reason == "no value"


def test_several_reasons_are_joined(unit_table: UnitTable):
    resource = obs("o1", status="preliminary", when=None, modifierExtension=[{"url": "u"}])
    fact = one(extract_facts([patient(), resource], units=unit_table), "718-7")
    assert fact.unusable_reason == "unrecognised modifierExtension u; preliminary result; no date"


def test_comparator_unit_normalisation_and_display(unit_table: UnitTable):
    resource = obs("o1", code="26515-7", value=189.6, unit="K/uL")
    resource["valueQuantity"]["comparator"] = "<"
    fact = one(extract_facts([patient(), resource], units=unit_table), "26515-7")
    assert fact.comparator == "<"
    assert fact.unit == "10*3/uL" and fact.unit_display == "K/uL"


def test_unit_only_as_display_text_and_missing_unit(unit_table: UnitTable):
    resource = obs("o1", unit=None)
    resource["valueQuantity"]["unit"] = "mg/dL"
    assert one(extract_facts([patient(), resource], units=unit_table), "718-7").unit == "mg/dL"
    fact = one(extract_facts([patient(), obs("o1", unit=None)], units=unit_table), "718-7")
    assert fact.unit is None and fact.usable  # the engine reports "no unit"


def test_alt_in_iu_per_litre_is_u_per_litre(unit_table: UnitTable):
    fact = one(
        extract_facts([patient(), obs("o1", code="1742-6", value=142.3, unit="IU/L")], units=unit_table), "1742-6"
    )
    assert fact.unit == "U/L" and fact.unit_display == "IU/L"
    hcg = one(extract_facts([patient(), obs("o2", code="21198-7", value=5, unit="IU/L")], units=unit_table), "21198-7")
    assert hcg.unit is None


def test_other_value_types(unit_table: UnitTable):
    coded = obs("o1", code="2106-3", value=None)
    coded["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "260385009", "display": "Negative"}]}
    text = obs("o2", code="48676-1", value=None, valueString="less than 1.8")
    integer = obs("o3", code="89247-1", value=None, valueInteger=1)
    boolean = obs("o4", code="x-1", value=None, valueBoolean=True)
    ranged = obs("o5", code="5787-7", value=None, valueRange={"low": {"value": 2}, "high": {"value": 5}})
    facts = extract_facts([patient(), coded, text, integer, boolean, ranged], units=unit_table)
    fact = one(facts, "2106-3")
    assert fact.value_type == "CodeableConcept" and fact.value_code == frozenset({f"{SNOMED}|260385009"})
    assert fact.usable and fact.value is None
    assert one(facts, "48676-1").value_string == "less than 1.8"
    fact = one(facts, "89247-1")
    assert fact.value == Decimal(1) and fact.value_type == "integer" and fact.unit is None
    assert one(facts, "x-1").value_string == "true"
    fact = one(facts, "5787-7")
    assert fact.value_type == "Range" and fact.value is None and fact.usable


@pytest.mark.parametrize(
    ("fields", "expected", "source", "precision"),
    [
        ({"effectiveDateTime": "2024-03-01"}, datetime(2024, 3, 1, tzinfo=UTC), "effectiveDateTime", "day"),
        (
            {"effectivePeriod": {"start": "2024-03-01T10:00:00Z", "end": "2024-03-02T10:00:00Z"}},
            datetime(2024, 3, 1, 10, tzinfo=UTC),
            "effectivePeriod.start",
            "time",
        ),
        (
            {"effectivePeriod": {"end": "2024-03-02T10:00:00Z"}},
            datetime(2024, 3, 2, 10, tzinfo=UTC),
            "effectivePeriod.end",
            "time",
        ),
        (
            {"effectiveInstant": "2024-03-01T10:00:00.123+02:00"},
            datetime(2024, 3, 1, 8, 0, 0, 123000, tzinfo=UTC),
            "effectiveInstant",
            "time",
        ),
        (
            {"issued": "2013-04-04T14:34:00+01:00"},
            datetime(2013, 4, 4, 13, 34, tzinfo=UTC),
            "issued",
            "time",
        ),
        ({"effectiveDateTime": "2017-06"}, datetime(2017, 6, 1, tzinfo=UTC), "effectiveDateTime", "month"),
        ({"effectiveDateTime": "2017"}, datetime(2017, 1, 1, tzinfo=UTC), "effectiveDateTime", "year"),
    ],
)
def test_effective_dates(fields, expected, source, precision, unit_table: UnitTable):
    resource = obs("o1", when=None, **fields)
    fact = one(extract_facts([patient(), resource], units=unit_table), "718-7")
    assert fact.effective == expected
    assert fact.effective_source == source
    assert fact.effective_precision == precision
    assert fact.usable


def test_no_date_is_unusable(unit_table: UnitTable):
    fact = one(extract_facts([patient(), obs("o1", when=None)], units=unit_table), "718-7")
    assert not fact.usable and fact.unusable_reason == "no date" and fact.effective is None
    fact = one(extract_facts([patient(), obs("o1", when="not a date")], units=unit_table), "718-7")
    assert not fact.usable and "no date" in fact.unusable_reason
    assert any("unreadable date" in n for n in fact.notes)


def test_components_become_facts_with_parent_date_and_status(unit_table: UnitTable):
    facts = extract_facts([patient(), bp_panel()], units=unit_table)
    systolic, diastolic = one(facts, "8480-6"), one(facts, "8462-4")
    assert systolic.reference == "Observation/bp#component[0]"
    assert diastolic.reference == "Observation/bp#component[1]"
    assert systolic.value == 152 and systolic.unit == "mm[Hg]"
    assert diastolic.unit == "mm[Hg]"  # from the text "mmHg"
    assert systolic.effective == diastolic.effective == datetime(2024, 2, 2, 9, 30, tzinfo=UTC)
    assert systolic.status == "final" and systolic.usable and diastolic.usable
    panel = one(facts, "85354-9")
    assert not panel.usable and "panel" in panel.unusable_reason


def test_component_inherits_parent_unusability(unit_table: UnitTable):
    facts = extract_facts(
        [patient(), bp_panel(status="entered-in-error", modifierExtension=[{"url": "m"}])], units=unit_table
    )
    for code in ("8480-6", "8462-4"):
        fact = one(facts, code)
        assert not fact.usable
        assert "entered in error" in fact.unusable_reason and "modifierExtension m" in fact.unusable_reason


def test_component_own_modifier_and_absent_reason(unit_table: UnitTable):
    panel = bp_panel()
    panel["component"][0]["modifierExtension"] = [{"url": "cm"}]
    del panel["component"][1]["valueQuantity"]
    panel["component"][1]["dataAbsentReason"] = {"coding": [{"code": "not-performed"}], "text": "refused"}
    facts = extract_facts([patient(), panel], units=unit_table)
    assert one(facts, "8480-6").unusable_reason == "unrecognised modifierExtension cm"
    assert one(facts, "8462-4").unusable_reason == "data absent: not-performed (refused)"


def test_reference_range_high(unit_table: UnitTable):
    resource = obs(
        "o1",
        code="1742-6",
        value=40,
        unit="U/L",
        referenceRange=[
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/referencerange-meaning", "code": "treatment"}
                    ]
                },
                "high": {"value": 10, "unit": "U/L", "system": UCUM, "code": "U/L"},
            },
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/referencerange-meaning", "code": "normal"}
                    ]
                },
                "low": {"value": 7},
                "high": {"value": 56, "unit": "IU/L"},
                "text": "7-56",
            },
        ],
    )
    fact = one(extract_facts([patient(), resource], units=unit_table), "1742-6")
    assert fact.reference_high == Decimal(56)
    assert fact.reference_high_unit == "U/L"  # per-analyte alias applies to the range too
    assert fact.reference_range_text == "7-56"


def test_reference_range_without_type_or_unit_and_text_only(unit_table: UnitTable):
    untyped = obs("o1", referenceRange=[{"low": {"value": 12}, "high": {"value": 16}}])
    text_only = obs("o2", code="777-3", value=250, unit="10*9/L", referenceRange=[{"text": "150-400"}])
    facts = extract_facts([patient(), untyped, text_only], units=unit_table)
    fact = one(facts, "718-7")
    assert fact.reference_high == Decimal(16) and fact.reference_high_unit is None
    fact = one(facts, "777-3")
    # a simple text range is read (issue 9), in the result's unit when the text gives none
    assert fact.reference_high == Decimal(400) and fact.reference_range_text == "150-400"
    assert fact.reference_high_unit == "10*9/L" and fact.reference_high_from_text


def test_fast_built_observation_fact_is_complete_and_equal(unit_table: UnitTable):
    fact = one(extract_facts([patient(), obs("o1")], units=unit_table), "718-7")
    names = {f.name for f in dataclasses.fields(ObservationFact)}
    assert set(vars(fact)) == names
    rebuilt = ObservationFact(**{name: getattr(fact, name) for name in names})
    assert rebuilt == fact and hash(rebuilt) == hash(fact)
    assert dataclasses.replace(fact, value=Decimal(1)).value == Decimal(1)


@needs_realworld
@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        (
            "Observation-bodyweight-cancelled.json",
            "29463-7",
            "cancelled (status cancelled); data absent: not-performed",
        ),
        ("Observation-pathresult-suppressed-dataAbsentReason.json", "94309-2", "data absent: masked"),
        ("Observation-pathresult-suppressed-valueQuantity.json", "14647-2", "data absent: masked"),
        ("Observation-pathresult-missing-value.json", "94309-2", "data absent: unknown"),
    ],
)
def test_au_unusable_observations(name, code, reason, unit_table: UnitTable):
    fact = one(extract_facts(with_patient(load(f"intl/au/{name}")), units=unit_table), code)
    assert not fact.usable
    assert fact.unusable_reason.startswith(reason)
    assert fact.value is None


@needs_realworld
def test_au_suppressed_value_keeps_reference_range(unit_table: UnitTable):
    fact = one(
        extract_facts(
            with_patient(load("intl/au/Observation-pathresult-suppressed-valueQuantity.json")), units=unit_table
        ),
        "14647-2",
    )
    assert fact.reference_high == Decimal("5.6") and fact.reference_high_unit == "mmol/L"


@needs_realworld
def test_au_creatinine_clearance_components(unit_table: UnitTable):
    facts = extract_facts(with_patient(load("intl/au/Observation-creatinine-clearance-1.json")), units=unit_table)
    parent = one(facts, "2164-2")
    assert not parent.usable and "no value" in parent.unusable_reason
    bsa, ibw = facts.observations[f"{SNOMED}|442407001"][0:2]
    assert {bsa.reference, ibw.reference} == {
        "Observation/creatinine-clearance-1#component[0]",
        "Observation/creatinine-clearance-1#component[1]",
    }
    by_ref = {f.reference: f for f in (bsa, ibw)}
    first = by_ref["Observation/creatinine-clearance-1#component[0]"]
    second = by_ref["Observation/creatinine-clearance-1#component[1]"]
    assert not first.usable and first.unusable_reason.startswith("data absent: not-performed")
    assert second.usable and second.value == Decimal(45) and second.unit == "mL/min/{1.73_m2}"
    assert second.effective == datetime(2024, 12, 2, tzinfo=UTC)
    assert one(facts, "50381-3") is first


@needs_realworld
def test_au_bodyweight_with_missing_clothing_component(unit_table: UnitTable):
    facts = extract_facts(
        with_patient(load("intl/au/Observation-bodyweight-3-clothing-missing.json")), units=unit_table
    )
    weight = one(facts, "29463-7")
    assert weight.usable and weight.value == Decimal("75.0") and weight.unit == "kg"
    assert weight is one(facts, "27113001", SNOMED)
    clothing = one(facts, "8352-7")
    assert not clothing.usable and "data absent: unknown" in clothing.unusable_reason


@needs_realworld
def test_mii_creatinine_with_modifier_extension(unit_table: UnitTable):
    facts = extract_facts(with_patient(load("intl/de-mii/Observation-mii-exa-labor-laborwert.json")), units=unit_table)
    fact = one(facts, "59826-8")
    assert fact.value == Decimal(72)
    assert fact.unit == "umol/L" and fact.unit_display == "µmol/l"
    assert not fact.usable
    assert fact.unusable_reason == (
        "unrecognised modifierExtension https://www.medizininformatik-initiative.de/fhir/core/modul-labor/"
        "StructureDefinition/InterpretationsbeeinflussendeEigenschaft"
    )
    assert fact.reference_high == Decimal(127) and fact.reference_high_unit is None
    assert fact.effective == datetime.fromisoformat("2018-11-20T12:05:00+01:00")  # not issued
    assert fact.text == "Kreatinin"


@needs_realworld
def test_mii_data_absent_and_range_value(unit_table: UnitTable):
    facts = extract_facts(
        with_patient(load("intl/de-mii/Observation-mii-exa-labor-laborwert-data-absent-reason.json")), units=unit_table
    )
    fact = one(facts, "59826-8")
    assert not fact.usable and fact.unusable_reason == "data absent: unknown"
    facts = extract_facts(
        with_patient(load("intl/de-mii/Observation-mii-exa-labor-laborwert-range.json")), units=unit_table
    )
    fact = one(facts, "5787-7")
    assert fact.value_type == "Range" and fact.value is None


@needs_realworld
def test_fhir_core_f204_creatinine(unit_table: UnitTable):
    facts = extract_facts(
        with_patient(load("intl/fhir-core-r4/observation-example-f204-creatinine.json")), units=unit_table
    )
    fact = one(facts, "20005", "https://intranet.aumc.nl/labtestcodes")
    assert fact.effective_source == "issued"
    assert fact.effective == datetime.fromisoformat("2013-04-04T14:34:00+01:00")
    assert any("issued" in n for n in fact.notes)
    assert fact.usable and fact.value == Decimal(122)
    # valueQuantity.system is SNOMED (258814008): the code is not read as UCUM, but the unit
    # text "umol/L" is valid, unambiguous UCUM - so the unit is umol/L (decision, see facts.py)
    assert fact.unit == "umol/L" and fact.unit_display == "umol/L"
    assert fact.reference_high == Decimal(104) and fact.reference_high_unit is None
    assert facts.observations_for([f"{LOINC}|2160-0"]) == []  # a local code only, no LOINC


@pytest.mark.parametrize("junk", [True, 7, "x", {"code": {}}])
def test_component_that_is_not_a_list_is_no_component(junk, unit_table: UnitTable):
    """Found by the service fuzzer: `"component": true` was a TypeError (a 500 on REST $evaluate)."""
    resource = obs("o1", value=13.5)
    resource["component"] = junk
    facts = extract_facts([patient(), resource], units=unit_table)
    assert [f.reference for f in facts.observations[f"{LOINC}|718-7"]] == ["Observation/o1"]
