"""adapter.eligibility.facts: patient facts from FHIR R4/R5 resources as plain dicts."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapter.eligibility.facts import (
    ClinicalFact,
    ObservationFact,
    PatientFacts,
    extract_facts,
    facts_from_bundle,
)
from adapter.errors import PatientDataError

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
REALWORLD = Path(__file__).resolve().parents[3] / "shared" / "realworld"
needs_realworld = pytest.mark.skipif(not REALWORLD.is_dir(), reason=f"real-world data not available at {REALWORLD}")


# ------------------------------------------------------------------------------------------ builders


def patient(pid: str = "p1", **extra) -> dict:
    return {"resourceType": "Patient", "id": pid, "birthDate": "1970-05-17", "gender": "female", **extra}


def obs(
    oid: str,
    code: str = "718-7",
    value: object = 13.3,
    unit: str | None = "g/dL",
    *,
    subject: str = "Patient/p1",
    when: str | None = "2024-03-01T08:00:00+01:00",
    status: str = "final",
    system: str | None = UCUM,
    **extra,
) -> dict:
    resource: dict = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
    }
    if when is not None:
        resource["effectiveDateTime"] = when
    if value is not None:
        quantity: dict = {"value": value}
        if unit is not None:
            quantity.update(unit=unit, code=unit)
            if system:
                quantity["system"] = system
        resource["valueQuantity"] = quantity
    resource.update(extra)
    return resource


def one(facts: PatientFacts, code: str, system: str = LOINC) -> ObservationFact:
    found = facts.observations_for([f"{system}|{code}"])
    assert len(found) == 1, found
    return found[0]


def condition(cid: str, code: str = "276804009", **extra) -> dict:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": SNOMED, "code": code}], "text": "ESCC"},
        "subject": {"reference": "Patient/p1"},
        **extra,
    }


# ---------------------------------------------------------------------------------- input and patient


def test_no_patient_is_an_error():
    with pytest.raises(PatientDataError, match="no Patient resource in the input"):
        extract_facts([obs("o1")])
    with pytest.raises(PatientDataError, match="no Patient"):
        facts_from_bundle({"resourceType": "Bundle", "type": "collection"})


def test_two_patients_is_an_error_naming_both():
    with pytest.raises(PatientDataError) as info:
        extract_facts([patient("a"), patient("b")])
    assert "Patient/a" in str(info.value) and "Patient/b" in str(info.value)


def test_same_patient_twice_is_one_patient():
    facts = extract_facts([patient("a"), patient("a"), obs("o1", subject="Patient/a")])
    assert facts.patient_ref == "Patient/a"
    assert len(facts.observations_for([f"{LOINC}|718-7"])) == 1


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        42,
        None,
        {"foo": "bar"},
        [{"foo": "bar"}],
        [patient(), "x"],
        {"resourceType": "Bundle", "entry": [{"resource": {"no": "type"}}]},
        {"resourceType": "Bundle", "entry": "nope"},
    ],
)
def test_not_fhir_is_an_error(bad):
    with pytest.raises(PatientDataError):
        facts_from_bundle(bad)


def test_single_patient_resource_list_and_bundles():
    assert facts_from_bundle(patient()).patient_ref == "Patient/p1"
    assert facts_from_bundle([patient(), obs("o1")]).observations
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": "https://x/fhir/Patient/p1", "resource": patient()}, {"resource": obs("o1")}],
    }
    assert one(facts_from_bundle(bundle), "718-7").value == Decimal("13.3")
    # a list of Bundles (e.g. CDS Hooks prefetch) and Bundle entries
    prefetch = [
        patient(),
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": obs("o2")}]},
        {"fullUrl": "urn:uuid:1", "resource": obs("o3", when="2020-01-01")},
        {"request": {"method": "DELETE"}, "fullUrl": "urn:uuid:2"},  # an entry without resource
    ]
    facts = extract_facts(prefetch)
    assert [f.reference for f in facts.observations_for([f"{LOINC}|718-7"])] == [
        "Observation/o2",
        "Observation/o3",
    ]


def test_patient_id_must_match():
    assert extract_facts([patient("p1")], patient_id="p1").patient_id == "p1"
    with pytest.raises(PatientDataError, match="expected 'p2'"):
        extract_facts([patient("p1")], patient_id="p2")


def test_patient_without_id_or_fullurl_is_an_error():
    with pytest.raises(PatientDataError, match="neither an id nor a fullUrl"):
        extract_facts([{"resourceType": "Patient"}])


def test_demographics():
    facts = extract_facts([patient(deceasedBoolean=False)])
    assert facts.birth_date == date(1970, 5, 17)
    assert facts.birth_date_precision == "day"
    assert facts.gender == "female"
    assert facts.deceased is False
    facts = extract_facts([patient(deceasedDateTime="2020-02-27T22:54:40+01:00")])
    assert facts.deceased is True
    assert facts.deceased_date == datetime(2020, 2, 27, 21, 54, 40, tzinfo=UTC)
    facts = extract_facts([{"resourceType": "Patient", "id": "x", "birthDate": "1970"}])
    assert facts.deceased is None and facts.gender is None
    assert facts.birth_date == date(1970, 1, 1) and facts.birth_date_precision == "year"
    assert any("partial" in n for n in facts.notes)


# ----------------------------------------------------------------------------------- whose data


def test_references_to_the_patient():
    resources = [
        {"fullUrl": "urn:uuid:abc", "resource": patient("p1")},
        obs("o1", subject="Patient/p1"),
        obs("o2", subject="https://ehr.example/fhir/Patient/p1"),
        obs("o3", subject="urn:uuid:abc"),
        obs("o4", subject="Patient/p1/_history/3"),
        obs("o5", subject="Patient/p2"),
        obs("o6", subject="urn:uuid:other"),
        obs("o7", subject="Patient/p10"),
    ]
    facts = extract_facts(resources)
    refs = {f.reference for f in facts.observations_for([f"{LOINC}|718-7"])}
    assert refs == {"Observation/o1", "Observation/o2", "Observation/o3", "Observation/o4"}
    assert dict(facts.foreign) == {
        "Observation/o5": "subject Patient/p2 is not Patient/p1",
        "Observation/o6": "subject urn:uuid:other is not Patient/p1",
        "Observation/o7": "subject Patient/p10 is not Patient/p1",
    }


def test_resource_without_subject_is_foreign():
    no_subject = obs("o1")
    del no_subject["subject"]
    facts = extract_facts([patient(), no_subject, condition("c1", subject={"display": "someone"})])
    assert not facts.observations and not facts.conditions
    assert [ref for ref, _ in facts.foreign] == ["Observation/o1", "Condition/c1"]
    assert all("no subject reference" in reason for _, reason in facts.foreign)


def test_patient_without_id_is_named_by_fullurl():
    entries = [
        {"fullUrl": "urn:uuid:pp", "resource": {"resourceType": "Patient"}},
        {"fullUrl": "urn:uuid:oo", "resource": {**obs("x", subject="urn:uuid:pp"), "id": None}},
    ]
    facts = extract_facts(entries)
    assert facts.patient_ref == "urn:uuid:pp" and facts.patient_id is None
    assert one(facts, "718-7").reference == "urn:uuid:oo"


# ------------------------------------------------------------------------------------- observations


def test_observation_basics_and_keys():
    resource = obs("o1", value=13.311348747308667)
    resource["code"]["coding"].append({"system": "http://acme.lab", "code": "HGB"})
    resource["code"]["text"] = "Haemoglobin"
    facts = extract_facts([patient(), resource])
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


def test_newest_first():
    resources = [
        patient(),
        obs("old", when="2019-01-01"),
        obs("newest", when="2024-01-01T10:00:00Z"),
        obs("undated", when=None),
        obs("middle", when="2021-06"),
        obs("other-code", code="59260-0", unit="mmol/L", when="2023-01-01"),
    ]
    facts = extract_facts(resources)
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


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_usable_statuses(status):
    assert one(extract_facts([patient(), obs("o1", status=status)]), "718-7").usable


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
def test_unusable_statuses(status, reason):
    fact = one(extract_facts([patient(), obs("o1", status=status)]), "718-7")
    assert not fact.usable
    assert reason in fact.unusable_reason
    assert fact.value == Decimal("13.3")  # kept for display; never used


def test_data_absent_reason_on_resource():
    resource = obs(
        "o1",
        value=None,
        dataAbsentReason={
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "masked"}]
        },
    )
    fact = one(extract_facts([patient(), resource]), "718-7")
    assert not fact.usable and fact.value is None
    assert "data absent: masked" in fact.unusable_reason


def test_data_absent_reason_extension_on_value_quantity():
    resource = obs("o1", value=None)
    resource["valueQuantity"] = {
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "error"}]
    }
    fact = one(extract_facts([patient(), resource]), "718-7")
    assert not fact.usable and fact.value is None and fact.unit is None
    assert fact.unusable_reason == "data absent: error"


def test_value_quantity_without_value():
    resource = obs("o1", value=None)
    resource["valueQuantity"] = {"unit": "g/dL", "system": UCUM, "code": "g/dL"}
    fact = one(extract_facts([patient(), resource]), "718-7")
    assert not fact.usable and fact.unusable_reason == "no value"


def test_no_value_at_all():
    fact = one(extract_facts([patient(), obs("o1", value=None)]), "718-7")
    assert not fact.usable and fact.unusable_reason == "no value"


def test_unreadable_value():
    fact = one(extract_facts([patient(), obs("o1", value="12,5")]), "718-7")
    assert not fact.usable and "unreadable value" in fact.unusable_reason


def test_modifier_extension_makes_it_unusable():
    url = "https://example.org/specimen-hemolyzed"
    fact = one(extract_facts([patient(), obs("o1", modifierExtension=[{"url": url}])]), "718-7")
    assert not fact.usable
    assert fact.unusable_reason == f"unrecognised modifierExtension {url}"


def test_several_reasons_are_joined():
    resource = obs("o1", status="preliminary", when=None, modifierExtension=[{"url": "u"}])
    fact = one(extract_facts([patient(), resource]), "718-7")
    assert fact.unusable_reason == "unrecognised modifierExtension u; preliminary result; no date"


def test_comparator_unit_normalisation_and_display():
    resource = obs("o1", code="26515-7", value=189.6, unit="K/uL")
    resource["valueQuantity"]["comparator"] = "<"
    fact = one(extract_facts([patient(), resource]), "26515-7")
    assert fact.comparator == "<"
    assert fact.unit == "10*3/uL" and fact.unit_display == "K/uL"


def test_unit_only_as_display_text_and_missing_unit():
    resource = obs("o1", unit=None)
    resource["valueQuantity"]["unit"] = "mg/dL"
    assert one(extract_facts([patient(), resource]), "718-7").unit == "mg/dL"
    fact = one(extract_facts([patient(), obs("o1", unit=None)]), "718-7")
    assert fact.unit is None and fact.usable  # the engine reports "no unit"


def test_alt_in_iu_per_litre_is_u_per_litre():
    fact = one(extract_facts([patient(), obs("o1", code="1742-6", value=142.3, unit="IU/L")]), "1742-6")
    assert fact.unit == "U/L" and fact.unit_display == "IU/L"
    hcg = one(extract_facts([patient(), obs("o2", code="21198-7", value=5, unit="IU/L")]), "21198-7")
    assert hcg.unit is None


def test_other_value_types():
    coded = obs("o1", code="2106-3", value=None)
    coded["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "260385009", "display": "Negative"}]}
    text = obs("o2", code="48676-1", value=None, valueString="less than 1.8")
    integer = obs("o3", code="89247-1", value=None, valueInteger=1)
    boolean = obs("o4", code="x-1", value=None, valueBoolean=True)
    ranged = obs("o5", code="5787-7", value=None, valueRange={"low": {"value": 2}, "high": {"value": 5}})
    facts = extract_facts([patient(), coded, text, integer, boolean, ranged])
    fact = one(facts, "2106-3")
    assert fact.value_type == "CodeableConcept" and fact.value_code == frozenset({f"{SNOMED}|260385009"})
    assert fact.usable and fact.value is None
    assert one(facts, "48676-1").value_string == "less than 1.8"
    fact = one(facts, "89247-1")
    assert fact.value == Decimal(1) and fact.value_type == "integer" and fact.unit is None
    assert one(facts, "x-1").value_string == "true"
    fact = one(facts, "5787-7")
    assert fact.value_type == "Range" and fact.value is None and fact.usable


# ------------------------------------------------------------------------------------------- dates


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
def test_effective_dates(fields, expected, source, precision):
    resource = obs("o1", when=None, **fields)
    fact = one(extract_facts([patient(), resource]), "718-7")
    assert fact.effective == expected
    assert fact.effective_source == source
    assert fact.effective_precision == precision
    assert fact.usable


def test_date_notes():
    facts = extract_facts(
        [
            patient(),
            obs("partial", when="2017-06"),
            obs("issued", when=None, issued="2013-04-04T14:34:00+01:00"),
            obs("nozone", code="777-3", when="2020-01-01T08:00:00"),
        ]
    )
    partial, issued = facts.observations_for([f"{LOINC}|718-7"])
    assert any("partial date '2017-06'" in n for n in partial.notes)
    assert any("issued" in n for n in issued.notes)
    nozone = one(facts, "777-3")
    assert nozone.effective == datetime(2020, 1, 1, 8, tzinfo=UTC)
    assert any("without zone" in n for n in nozone.notes)


def test_effective_date_wins_over_issued_and_keeps_its_offset():
    resource = obs("o1", when="2018-11-20T12:05:00+01:00", issued="2018-03-11T10:28:00+01:00")
    fact = one(extract_facts([patient(), resource]), "718-7")
    assert fact.effective == datetime(2018, 11, 20, 12, 5, tzinfo=timezone(timedelta(hours=1)))
    # The sender's offset is kept: the local date decides "on or before the evaluation date".
    assert fact.effective.utcoffset() == timedelta(hours=1) and fact.effective.hour == 12
    assert fact.effective_source == "effectiveDateTime"


def test_no_date_is_unusable():
    fact = one(extract_facts([patient(), obs("o1", when=None)]), "718-7")
    assert not fact.usable and fact.unusable_reason == "no date" and fact.effective is None
    fact = one(extract_facts([patient(), obs("o1", when="not a date")]), "718-7")
    assert not fact.usable and "no date" in fact.unusable_reason
    assert any("unreadable date" in n for n in fact.notes)


# ------------------------------------------------------------------------------------- components


def bp_panel(**extra) -> dict:
    return {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-02-02T09:30:00Z",
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 152, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 95, "unit": "mmHg"},
            },
        ],
        **extra,
    }


def test_components_become_facts_with_parent_date_and_status():
    facts = extract_facts([patient(), bp_panel()])
    systolic, diastolic = one(facts, "8480-6"), one(facts, "8462-4")
    assert systolic.reference == "Observation/bp#component[0]"
    assert diastolic.reference == "Observation/bp#component[1]"
    assert systolic.value == 152 and systolic.unit == "mm[Hg]"
    assert diastolic.unit == "mm[Hg]"  # from the text "mmHg"
    assert systolic.effective == diastolic.effective == datetime(2024, 2, 2, 9, 30, tzinfo=UTC)
    assert systolic.status == "final" and systolic.usable and diastolic.usable
    panel = one(facts, "85354-9")
    assert not panel.usable and "panel" in panel.unusable_reason


def test_component_inherits_parent_unusability():
    facts = extract_facts([patient(), bp_panel(status="entered-in-error", modifierExtension=[{"url": "m"}])])
    for code in ("8480-6", "8462-4"):
        fact = one(facts, code)
        assert not fact.usable
        assert "entered in error" in fact.unusable_reason and "modifierExtension m" in fact.unusable_reason


def test_component_own_modifier_and_absent_reason():
    panel = bp_panel()
    panel["component"][0]["modifierExtension"] = [{"url": "cm"}]
    del panel["component"][1]["valueQuantity"]
    panel["component"][1]["dataAbsentReason"] = {"coding": [{"code": "not-performed"}], "text": "refused"}
    facts = extract_facts([patient(), panel])
    assert one(facts, "8480-6").unusable_reason == "unrecognised modifierExtension cm"
    assert one(facts, "8462-4").unusable_reason == "data absent: not-performed (refused)"


# -------------------------------------------------------------------------------- reference ranges


def test_reference_range_high():
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
    fact = one(extract_facts([patient(), resource]), "1742-6")
    assert fact.reference_high == Decimal(56)
    assert fact.reference_high_unit == "U/L"  # per-analyte alias applies to the range too
    assert fact.reference_range_text == "7-56"


def test_reference_range_without_type_or_unit_and_text_only():
    untyped = obs("o1", referenceRange=[{"low": {"value": 12}, "high": {"value": 16}}])
    text_only = obs("o2", code="777-3", value=250, unit="10*9/L", referenceRange=[{"text": "150-400"}])
    facts = extract_facts([patient(), untyped, text_only])
    fact = one(facts, "718-7")
    assert fact.reference_high == Decimal(16) and fact.reference_high_unit is None
    fact = one(facts, "777-3")
    assert fact.reference_high is None and fact.reference_range_text == "150-400"


# ------------------------------------------------------------------------------- clinical facts


def test_conditions():
    resources = [
        patient(),
        condition(
            "active",
            clinicalStatus={"coding": [{"code": "active"}]},
            verificationStatus={"coding": [{"code": "confirmed"}]},
            onsetDateTime="2023-05-01",
        ),
        condition("resolved", code="94381002", clinicalStatus={"coding": [{"code": "resolved"}]}),
        condition("refuted", verificationStatus={"coding": [{"code": "refuted"}]}),
        condition("error", verificationStatus={"coding": [{"code": "entered-in-error"}]}),
        condition("recorded", recordedDate="2022-01-01T00:00:00Z"),
        condition("modified", modifierExtension=[{"url": "x"}]),
    ]
    facts = extract_facts(resources)
    by_ref = {f.reference: f for f in facts.conditions}
    active = by_ref["Condition/active"]
    assert active.usable and active.status == "active" and active.verification_status == "confirmed"
    assert active.date == datetime(2023, 5, 1, tzinfo=UTC) and active.resource_type == "Condition"
    assert active.codes == frozenset({f"{SNOMED}|276804009"}) and active.text == "ESCC"
    resolved = by_ref["Condition/resolved"]
    assert resolved.usable and resolved.status == "resolved"  # kept: the engine decides
    assert by_ref["Condition/refuted"].unusable_reason == "verificationStatus refuted"
    assert not by_ref["Condition/error"].usable
    assert by_ref["Condition/recorded"].date == datetime(2022, 1, 1, tzinfo=UTC)
    assert "date from recordedDate" in by_ref["Condition/recorded"].notes
    assert "modifierExtension" in by_ref["Condition/modified"].unusable_reason
    found = facts.clinical_facts_for("conditions", [f"{SNOMED}|276804009"])
    assert by_ref["Condition/active"] in found and by_ref["Condition/resolved"] not in found
    assert facts.clinical_facts_for("condition", [f"{SNOMED}|94381002"]) == [resolved]
    with pytest.raises(ValueError, match="unknown kind"):
        facts.clinical_facts_for("vaccines", [])


APATINIB = {
    "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1721560"}],
    "text": "apatinib",
}


def med(kind: str, mid: str, **extra) -> dict:
    return {"resourceType": kind, "id": mid, "subject": {"reference": "Patient/p1"}, **extra}


def test_medications_r4_r5_and_references():
    medication = {"resourceType": "Medication", "id": "m1", "code": APATINIB}
    contained = {"resourceType": "Medication", "id": "c1", "code": {"text": "docetaxel"}}
    resources = [
        patient(),
        {"fullUrl": "urn:uuid:med-1", "resource": medication},
        med(
            "MedicationStatement",
            "r4",
            status="active",
            medicationCodeableConcept=APATINIB,
            effectivePeriod={"start": "2023-01-01", "end": "2023-06-30"},
        ),
        med("MedicationStatement", "r5", status="recorded", medication={"concept": APATINIB}),
        med(
            "MedicationRequest",
            "ref",
            status="completed",
            medicationReference={"reference": "Medication/m1"},
            authoredOn="2023-02-01",
        ),
        med("MedicationRequest", "urn", status="active", medicationReference={"reference": "urn:uuid:med-1"}),
        med(
            "MedicationAdministration",
            "contained",
            status="completed",
            contained=[contained],
            medicationReference={"reference": "#c1"},
            effectiveDateTime="2023-03-01",
        ),
        med(
            "MedicationAdministration",
            "r5adm",
            status="completed",
            medication={"reference": {"reference": "Medication/m1"}},
            occurenceDateTime="2024-01-01",
        ),
        med("MedicationRequest", "missing", status="active", medicationReference={"reference": "Medication/zz"}),
    ]
    facts = extract_facts(resources)
    by_ref = {f.reference: f for f in facts.medications}
    apatinib = "http://www.nlm.nih.gov/research/umls/rxnorm|1721560"
    r4 = by_ref["MedicationStatement/r4"]
    assert r4.usable and r4.codes == frozenset({apatinib}) and r4.text == "apatinib"
    assert r4.date == datetime(2023, 1, 1, tzinfo=UTC) and r4.end == datetime(2023, 6, 30, tzinfo=UTC)
    assert by_ref["MedicationStatement/r5"].codes == frozenset({apatinib})
    assert by_ref["MedicationRequest/ref"].codes == frozenset({apatinib})
    assert by_ref["MedicationRequest/ref"].date == datetime(2023, 2, 1, tzinfo=UTC)
    assert by_ref["MedicationRequest/urn"].codes == frozenset({apatinib})
    assert by_ref["MedicationAdministration/contained"].text == "docetaxel"
    assert by_ref["MedicationAdministration/r5adm"].date == datetime(2024, 1, 1, tzinfo=UTC)
    missing = by_ref["MedicationRequest/missing"]
    assert not missing.usable and "Medication/zz" in missing.unusable_reason
    assert len(facts.clinical_facts_for("medications", [apatinib])) == 5


@pytest.mark.parametrize(
    ("kind", "fields", "usable"),
    [
        ("MedicationStatement", {"status": "entered-in-error"}, False),
        ("MedicationStatement", {"status": "not-taken"}, False),
        ("MedicationStatement", {"status": "completed"}, True),
        ("MedicationStatement", {"status": "intended"}, False),
        ("MedicationRequest", {"status": "cancelled"}, False),
        ("MedicationRequest", {"status": "entered-in-error"}, False),
        ("MedicationRequest", {"status": "stopped"}, True),
        ("MedicationRequest", {"status": "active", "doNotPerform": True}, False),
        ("MedicationAdministration", {"status": "not-done"}, False),
        ("MedicationAdministration", {"status": "entered-in-error"}, False),
        ("MedicationAdministration", {"status": "in-progress"}, True),
    ],
)
def test_medication_statuses(kind, fields, usable):
    facts = extract_facts([patient(), med(kind, "m", medicationCodeableConcept=APATINIB, **fields)])
    (fact,) = facts.medications
    assert fact.usable is usable
    assert fact.status == fields["status"]
    if not usable:
        assert fact.unusable_reason


@pytest.mark.parametrize(
    ("status", "usable"),
    [
        ("completed", True),
        ("in-progress", True),
        ("not-done", False),
        ("entered-in-error", False),
        ("preparation", False),
    ],
)
def test_procedure_statuses(status, usable):
    resource = {
        "resourceType": "Procedure",
        "id": "t",
        "status": status,
        "code": {"coding": [{"system": SNOMED, "code": "116859006"}]},
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": "2024-01-10",
    }
    (fact,) = extract_facts([patient(), resource]).procedures
    assert fact.usable is usable and fact.status == status
    assert fact.date == datetime(2024, 1, 10, tzinfo=UTC)


def test_procedure_dates_r4_and_r5():
    r4 = {
        "resourceType": "Procedure", "id": "r4", "status": "completed", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": SNOMED, "code": "116859006"}]},
        "performedPeriod": {"start": "2024-01-10T10:00:00Z", "end": "2024-01-10T12:00:00Z"},
    }  # fmt: skip
    r5 = {**r4, "id": "r5", "occurrencePeriod": {"start": "2024-02-01", "end": "2024-02-02"}}
    del r5["performedPeriod"]
    facts = extract_facts([patient(), r4, r5])
    by_ref = {f.reference: f for f in facts.procedures}
    assert by_ref["Procedure/r4"].end == datetime(2024, 1, 10, 12, tzinfo=UTC)
    assert by_ref["Procedure/r5"].date == datetime(2024, 2, 1, tzinfo=UTC)
    assert by_ref["Procedure/r5"].end == datetime(2024, 2, 2, tzinfo=UTC)
    assert [f.reference for f in facts.clinical_facts_for("procedures", [f"{SNOMED}|116859006"])] == [
        "Procedure/r5",
        "Procedure/r4",
    ]


def test_allergies():
    base = {
        "resourceType": "AllergyIntolerance",
        "code": {"coding": [{"system": SNOMED, "code": "123"}], "text": "apatinib"},
        "patient": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
    }
    resources = [
        patient(),
        {**base, "id": "a1"},
        {**base, "id": "a2", "verificationStatus": {"coding": [{"code": "refuted"}]}},
        {**base, "id": "a3", "verificationStatus": {"coding": [{"code": "entered-in-error"}]}},
        {**base, "id": "a4", "patient": {"reference": "Patient/other"}},
    ]
    facts = extract_facts(resources)
    assert [(f.reference, f.usable) for f in facts.allergies] == [
        ("AllergyIntolerance/a1", True),
        ("AllergyIntolerance/a2", False),
        ("AllergyIntolerance/a3", False),
    ]
    assert facts.allergies[0].status == "active"
    assert facts.foreign == (("AllergyIntolerance/a4", "subject Patient/other is not Patient/p1"),)


def test_junk_values_do_not_crash():
    junk = [
        obs("j1", status={"x": 1}),  # type: ignore[arg-type]
        obs("j2", when=5),  # type: ignore[arg-type]
        obs("j3", value=[1]),
        obs("j4", referenceRange="x", component=[1, {"code": "nope"}]),
        {**obs("j5"), "code": {"coding": [1, {"code": ["a"]}, {"system": LOINC}]}},
        {**obs("j6"), "valueQuantity": {"value": 1, "code": ["mg"], "unit": {"a": 1}}},
        {**obs("j7"), "subject": "Patient/p1"},
        {**condition("c1"), "status": [], "verificationStatus": {"coding": [{"code": {"a": 1}}]}},
        med("MedicationRequest", "m1", status={"a": 1}, medicationReference={"reference": 7}),
        {"resourceType": "Procedure", "id": "x", "status": ["done"], "subject": {"reference": "Patient/p1"}},
    ]
    facts = extract_facts([patient(), *junk])
    facts_by_ref = {f.reference: f for group in facts.observations.values() for f in group}
    assert not facts_by_ref["Observation/j1"].usable
    assert facts_by_ref["Observation/j2"].unusable_reason == "no date"
    assert "unreadable value" in facts_by_ref["Observation/j3"].unusable_reason
    assert facts_by_ref["Observation/j6"].unit is None
    assert ("Observation/j7", "no subject reference: cannot tell whose data it is") in facts.foreign
    assert not facts.medications[0].usable and not facts.procedures[0].usable


# ------------------------------------------------------------------------------------ immutability


def test_facts_are_frozen():
    facts = extract_facts([patient(), obs("o1"), condition("c1")])
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


def test_fast_built_observation_fact_is_complete_and_equal():
    fact = one(extract_facts([patient(), obs("o1")]), "718-7")
    names = {f.name for f in dataclasses.fields(ObservationFact)}
    assert set(vars(fact)) == names
    rebuilt = ObservationFact(**{name: getattr(fact, name) for name in names})
    assert rebuilt == fact and hash(rebuilt) == hash(fact)
    assert dataclasses.replace(fact, value=Decimal(1)).value == Decimal(1)


def test_input_is_not_modified():
    resources = [patient(), bp_panel(), obs("o1", modifierExtension=[{"url": "u"}])]
    before = json.dumps(resources, sort_keys=True)
    extract_facts(resources)
    assert json.dumps(resources, sort_keys=True) == before


# ------------------------------------------------------------------------------------- performance


def synthetic_patient(n: int = 500) -> list[dict]:
    codes = [("718-7", "g/dL"), ("777-3", "10*3/uL"), ("2160-0", "mg/dL"), ("1742-6", "U/L"), ("6301-6", "{INR}")]
    resources = [patient()]
    for i in range(n):
        code, unit = codes[i % len(codes)]
        resource = obs(
            f"o{i}",
            code=code,
            value=round(1 + (i * 7.31) % 300, 4),
            unit=unit,
            when=f"20{10 + i % 14:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}T08:{i % 60:02d}:00+01:00",
            issued="2024-01-01T00:00:00Z",
            referenceRange=[{"low": {"value": 1}, "high": {"value": 100, "unit": unit, "system": UCUM, "code": unit}}],
        )
        resources.append(bp_panel(id=f"bp{i}") if i % 25 == 0 else resource)
    return resources


def test_extraction_of_500_observations_is_fast():
    resources = synthetic_patient(500)
    extract_facts(resources)  # warm the unit and date caches
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        facts = extract_facts(resources)
        best = min(best, time.process_time() - start)
    assert len({id(f) for group in facts.observations.values() for f in group}) == 480 + 20 * 3
    assert best < 0.05  # measured ~1.5-3 ms (CPU time); generous for slow, loaded machines


# ------------------------------------------------------------------------------------ real world


def load(relative: str) -> dict:
    return json.loads((REALWORLD / relative).read_text(encoding="utf-8"))


def with_patient(resource: dict) -> list[dict]:
    """A standalone realworld Observation, with a Patient of the id it refers to."""
    pid = resource["subject"]["reference"].split("/")[-1]
    return [{"resourceType": "Patient", "id": pid}, resource]


_INDEX_PATIENT = re.compile(r"^### (\S+\.json)")
_INDEX_ID = re.compile(r"Patient\.id: `([^`]+)`\s+birthDate: (\S+)\s+gender: (\w+)")
_INDEX_LAB = re.compile(r"^- [^\[]+\[(\d+-\d)\]: (\S+) (\S+) \((\S+)\) n=(\d+)")


def synthea_index() -> dict[str, dict]:
    bundles: dict[str, dict] = {}
    current: dict | None = None
    for line in (REALWORLD / "synthea" / "INDEX.md").read_text(encoding="utf-8").splitlines():
        if m := _INDEX_PATIENT.match(line):
            current = bundles.setdefault(m.group(1), {"labs": {}})
        elif current is not None and (m := _INDEX_ID.search(line)):
            current.update(id=m.group(1), birth=m.group(2), gender=m.group(3), deceased="deceased:" in line)
        elif current is not None and (m := _INDEX_LAB.match(line)):
            current["labs"][m.group(1)] = m.groups()[1:]
    return bundles


@needs_realworld
def test_synthea_bundles_match_the_index():
    index = synthea_index()
    assert len(index) == 19
    checked = 0
    for name, expected in index.items():
        facts = facts_from_bundle(load(f"synthea/{name}"))
        assert facts.patient_ref == f"Patient/{expected['id']}", name
        assert facts.birth_date == date.fromisoformat(expected["birth"])
        assert facts.gender == expected["gender"]
        assert facts.deceased is (True if expected["deceased"] else None)
        assert facts.foreign == (), name  # urn:uuid subject references are the patient's
        for code, (value, unit, when, count) in expected["labs"].items():
            found = facts.observations_for([f"{LOINC}|{code}"])
            assert len(found) == int(count), (name, code)
            latest = found[0]
            assert latest.usable, (name, code, latest.unusable_reason)
            assert latest.effective == datetime.fromisoformat(when), (name, code)
            assert latest.value == Decimal(value), (name, code)
            assert latest.unit_display == unit
            checked += 1
    assert checked > 150


@needs_realworld
def test_synthea_units_and_codes():
    facts = facts_from_bundle(load("synthea/smartgen_Jordan_Cruickshank_5de38439-d320-46d3-854d-3c098e88de4c.json"))
    platelets = facts.observations_for([f"{LOINC}|26515-7"])[0]
    assert platelets.unit == "10*3/uL" and platelets.unit_display == "K/uL"
    assert platelets.value == Decimal("189.64223091570517")
    alt = facts.observations_for([f"{LOINC}|1742-6"])[0]
    assert alt.unit == "U/L" and alt.unit_display == "IU/L"
    creatinine = facts.observations_for([f"{LOINC}|38483-4"])
    assert len(creatinine) == 9 and creatinine[0].value == Decimal("0.7630770376230118")
    assert creatinine[0].unit == "mg/dL"
    systolic = facts.observations_for([f"{LOINC}|8480-6"])
    assert systolic and all("#component[" in f.reference and f.unit == "mm[Hg]" for f in systolic)
    assert facts.medications and all(m.codes for m in facts.medications)
    assert facts.procedures and all(p.date for p in facts.procedures)


@needs_realworld
def test_synthea_deceased_patient_with_administrations():
    facts = facts_from_bundle(load("synthea/synthea2x_1017080-bundle.json"))
    assert facts.deceased is True
    assert facts.deceased_date == datetime.fromisoformat("2020-02-27T22:54:40+01:00")
    kinds = {m.resource_type for m in facts.medications}
    assert kinds == {"MedicationRequest", "MedicationAdministration"}
    assert facts.allergies[0].text == "Allergy to fish"


@needs_realworld
def test_au_patient_summary_bundle():
    facts = facts_from_bundle(load("intl/au/Bundle-aups-referral-endoconsult-autogen.json"))
    assert facts.patient_ref == "urn:uuid:85822a88-55b1-460c-bb7b-e8fc22d8568f"  # the Patient has no id
    assert facts.birth_date == date(1985, 2, 6) and facts.foreign == ()
    hb = one(facts, "718-7")
    assert hb.value == Decimal(125) and hb.unit == "g/L" and hb.unit_display is None
    assert hb.reference_high is None and hb.reference_range_text == "115-165"
    assert hb.usable and hb.effective == datetime(2024, 6, 12, tzinfo=UTC)
    platelets = one(facts, "777-3")
    assert platelets.value == Decimal(250) and platelets.unit == "10*9/L"
    ph = one(facts, "2756-5")
    assert ph.value == Decimal("7.0") and ph.unit is None and ph.unit_display is None
    colonies = one(facts, "19090-0")
    assert colonies.comparator == ">" and colonies.unit == "/mL"
    meds = {m.text: m for m in facts.medications}
    assert meds["Nitrofurantoin"].codes == frozenset({f"{SNOMED}|85343003"})
    assert "medication from #nitrofurantoin" in meds["Nitrofurantoin"].notes
    assert {c.status for c in facts.conditions} == {"active", "resolved"}
    assert facts.allergies[0].verification_status == "unconfirmed" and facts.allergies[0].usable


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
def test_au_unusable_observations(name, code, reason):
    fact = one(extract_facts(with_patient(load(f"intl/au/{name}"))), code)
    assert not fact.usable
    assert fact.unusable_reason.startswith(reason)
    assert fact.value is None


@needs_realworld
def test_au_suppressed_value_keeps_reference_range():
    fact = one(
        extract_facts(with_patient(load("intl/au/Observation-pathresult-suppressed-valueQuantity.json"))), "14647-2"
    )
    assert fact.reference_high == Decimal("5.6") and fact.reference_high_unit == "mmol/L"


@needs_realworld
def test_au_creatinine_clearance_components():
    facts = extract_facts(with_patient(load("intl/au/Observation-creatinine-clearance-1.json")))
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
def test_au_bodyweight_with_missing_clothing_component():
    facts = extract_facts(with_patient(load("intl/au/Observation-bodyweight-3-clothing-missing.json")))
    weight = one(facts, "29463-7")
    assert weight.usable and weight.value == Decimal("75.0") and weight.unit == "kg"
    assert weight is one(facts, "27113001", SNOMED)
    clothing = one(facts, "8352-7")
    assert not clothing.usable and "data absent: unknown" in clothing.unusable_reason


@needs_realworld
def test_mii_creatinine_with_modifier_extension():
    facts = extract_facts(with_patient(load("intl/de-mii/Observation-mii-exa-labor-laborwert.json")))
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
def test_mii_data_absent_and_range_value():
    facts = extract_facts(with_patient(load("intl/de-mii/Observation-mii-exa-labor-laborwert-data-absent-reason.json")))
    fact = one(facts, "59826-8")
    assert not fact.usable and fact.unusable_reason == "data absent: unknown"
    facts = extract_facts(with_patient(load("intl/de-mii/Observation-mii-exa-labor-laborwert-range.json")))
    fact = one(facts, "5787-7")
    assert fact.value_type == "Range" and fact.value is None


@needs_realworld
def test_fhir_core_f204_creatinine():
    facts = extract_facts(with_patient(load("intl/fhir-core-r4/observation-example-f204-creatinine.json")))
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


@needs_realworld
def test_synderai_document_bundles():
    for path in sorted((REALWORLD / "intl" / "eu-synderai").glob("*.json")):
        facts = facts_from_bundle(json.loads(path.read_text(encoding="utf-8")))
        assert facts.foreign == ()
        hb = facts.observations_for([f"{LOINC}|718-7"])[0]
        assert hb.usable and hb.unit == "g/dL"
        inr = facts.observations_for([f"{LOINC}|2160-0"])[0]
        assert inr.unit == "mg/dL"
