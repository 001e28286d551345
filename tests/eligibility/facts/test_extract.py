"""adapter.eligibility.facts.extract: the input (Bundles, lists, entries), whose data it is, real-world bundles."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from adapter.eligibility.facts import extract_facts, facts_from_bundle
from adapter.errors import PatientDataError
from adapter.units import UnitTable
from tests.eligibility.facts.builders import (
    LOINC,
    REALWORLD,
    SNOMED,
    UCUM,
    bp_panel,
    condition,
    load,
    med,
    needs_realworld,
    obs,
    one,
    patient,
)

pytestmark = [pytest.mark.realworld]


def test_no_patient_is_an_error(unit_table: UnitTable):
    with pytest.raises(PatientDataError, match="no Patient resource in the input"):
        extract_facts([obs("o1")], units=unit_table)
    with pytest.raises(PatientDataError, match="no Patient"):
        facts_from_bundle({"resourceType": "Bundle", "type": "collection"}, unit_table)


def test_two_patients_is_an_error_naming_both(unit_table: UnitTable):
    with pytest.raises(PatientDataError) as info:
        extract_facts([patient("a"), patient("b")], units=unit_table)
    assert "Patient/a" in str(info.value) and "Patient/b" in str(info.value)


def test_same_patient_twice_is_one_patient(unit_table: UnitTable):
    facts = extract_facts([patient("a"), patient("a"), obs("o1", subject="Patient/a")], units=unit_table)
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
def test_not_fhir_is_an_error(bad, unit_table: UnitTable):
    with pytest.raises(PatientDataError):
        facts_from_bundle(bad, unit_table)


def test_single_patient_resource_list_and_bundles(unit_table: UnitTable):
    assert facts_from_bundle(patient(), unit_table).patient_ref == "Patient/p1"
    assert facts_from_bundle([patient(), obs("o1")], unit_table).observations
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": "https://x/fhir/Patient/p1", "resource": patient()}, {"resource": obs("o1")}],
    }
    assert one(facts_from_bundle(bundle, unit_table), "718-7").value == Decimal("13.3")
    # a list of Bundles (e.g. CDS Hooks prefetch) and Bundle entries
    prefetch = [
        patient(),
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": obs("o2")}]},
        {"fullUrl": "urn:uuid:1", "resource": obs("o3", when="2020-01-01")},
        {"request": {"method": "DELETE"}, "fullUrl": "urn:uuid:2"},  # an entry without resource
    ]
    facts = extract_facts(prefetch, units=unit_table)
    assert [f.reference for f in facts.observations_for([f"{LOINC}|718-7"])] == [
        "Observation/o2",
        "Observation/o3",
    ]


def test_patient_id_must_match(unit_table: UnitTable):
    assert extract_facts([patient("p1")], patient_id="p1", units=unit_table).patient_id == "p1"
    with pytest.raises(PatientDataError, match="expected 'p2'"):
        extract_facts([patient("p1")], patient_id="p2", units=unit_table)


def test_patient_without_id_or_fullurl_is_an_error(unit_table: UnitTable):
    with pytest.raises(PatientDataError, match="neither an id nor a fullUrl"):
        extract_facts([{"resourceType": "Patient"}], units=unit_table)


def test_demographics(unit_table: UnitTable):
    facts = extract_facts([patient(deceasedBoolean=False)], units=unit_table)
    assert facts.birth_date == date(1970, 5, 17)
    assert facts.birth_date_precision == "day"
    assert facts.gender == "female"
    assert facts.deceased is False
    facts = extract_facts([patient(deceasedDateTime="2020-02-27T22:54:40+01:00")], units=unit_table)
    assert facts.deceased is True
    assert facts.deceased_date == datetime(2020, 2, 27, 21, 54, 40, tzinfo=UTC)
    facts = extract_facts([{"resourceType": "Patient", "id": "x", "birthDate": "1970"}], units=unit_table)
    assert facts.deceased is None and facts.gender is None
    assert facts.birth_date == date(1970, 1, 1) and facts.birth_date_precision == "year"
    assert any("partial" in n for n in facts.notes)


def test_references_to_the_patient(unit_table: UnitTable):
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
    facts = extract_facts(resources, units=unit_table)
    refs = {f.reference for f in facts.observations_for([f"{LOINC}|718-7"])}
    assert refs == {"Observation/o1", "Observation/o2", "Observation/o3", "Observation/o4"}
    assert dict(facts.foreign) == {
        "Observation/o5": "subject Patient/p2 is not Patient/p1",
        "Observation/o6": "subject urn:uuid:other is not Patient/p1",
        "Observation/o7": "subject Patient/p10 is not Patient/p1",
    }


def test_resource_without_subject_is_foreign(unit_table: UnitTable):
    no_subject = obs("o1")
    del no_subject["subject"]
    facts = extract_facts([patient(), no_subject, condition("c1", subject={"display": "someone"})], units=unit_table)
    assert not facts.observations and not facts.conditions
    assert [ref for ref, _ in facts.foreign] == ["Observation/o1", "Condition/c1"]
    assert all("no subject reference" in reason for _, reason in facts.foreign)


def test_patient_without_id_is_named_by_fullurl(unit_table: UnitTable):
    entries = [
        {"fullUrl": "urn:uuid:pp", "resource": {"resourceType": "Patient"}},
        {"fullUrl": "urn:uuid:oo", "resource": {**obs("x", subject="urn:uuid:pp"), "id": None}},
    ]
    facts = extract_facts(entries, units=unit_table)
    assert facts.patient_ref == "urn:uuid:pp" and facts.patient_id is None
    assert one(facts, "718-7").reference == "urn:uuid:oo"


def test_junk_values_do_not_crash(unit_table: UnitTable):
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
    facts = extract_facts([patient(), *junk], units=unit_table)
    facts_by_ref = {f.reference: f for group in facts.observations.values() for f in group}
    assert not facts_by_ref["Observation/j1"].usable
    assert facts_by_ref["Observation/j2"].unusable_reason == "no date"
    assert "unreadable value" in facts_by_ref["Observation/j3"].unusable_reason
    assert facts_by_ref["Observation/j6"].unit is None
    assert ("Observation/j7", "no subject reference: cannot tell whose data it is") in facts.foreign
    assert not facts.medications[0].usable and not facts.procedures[0].usable


def test_input_is_not_modified(unit_table: UnitTable):
    resources = [patient(), bp_panel(), obs("o1", modifierExtension=[{"url": "u"}])]
    before = json.dumps(resources, sort_keys=True)
    extract_facts(resources, units=unit_table)
    assert json.dumps(resources, sort_keys=True) == before


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


def test_extraction_of_500_observations_is_fast(unit_table: UnitTable):
    resources = synthetic_patient(500)
    extract_facts(resources, units=unit_table)  # warm the unit and date caches
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        facts = extract_facts(resources, units=unit_table)
        best = min(best, time.process_time() - start)
    assert len({id(f) for group in facts.observations.values() for f in group}) == 480 + 20 * 3
    assert best < 0.05  # measured ~1.5-3 ms (CPU time); generous for slow, loaded machines


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
def test_synthea_bundles_match_the_index(unit_table: UnitTable):
    index = synthea_index()
    assert len(index) == 19
    checked = 0
    for name, expected in index.items():
        facts = facts_from_bundle(load(f"synthea/{name}"), unit_table)
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
def test_synthea_units_and_codes(unit_table: UnitTable):
    facts = facts_from_bundle(
        load("synthea/smartgen_Jordan_Cruickshank_5de38439-d320-46d3-854d-3c098e88de4c.json"), unit_table
    )
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
def test_synthea_deceased_patient_with_administrations(unit_table: UnitTable):
    facts = facts_from_bundle(load("synthea/synthea2x_1017080-bundle.json"), unit_table)
    assert facts.deceased is True
    assert facts.deceased_date == datetime.fromisoformat("2020-02-27T22:54:40+01:00")
    kinds = {m.resource_type for m in facts.medications}
    assert kinds == {"MedicationRequest", "MedicationAdministration"}
    assert facts.allergies[0].text == "Allergy to fish"


@needs_realworld
def test_au_patient_summary_bundle(unit_table: UnitTable):
    facts = facts_from_bundle(load("intl/au/Bundle-aups-referral-endoconsult-autogen.json"), unit_table)
    assert facts.patient_ref == "urn:uuid:85822a88-55b1-460c-bb7b-e8fc22d8568f"  # the Patient has no id
    assert facts.birth_date == date(1985, 2, 6) and facts.foreign == ()
    hb = one(facts, "718-7")
    assert hb.value == Decimal(125) and hb.unit == "g/L" and hb.unit_display is None
    assert hb.reference_high == Decimal(165) and hb.reference_range_text == "115-165"  # read from the text
    assert hb.reference_high_unit == "g/L" and hb.reference_high_from_text
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
def test_synderai_document_bundles(unit_table: UnitTable):
    for path in sorted((REALWORLD / "intl" / "eu-synderai").glob("*.json")):
        facts = facts_from_bundle(json.loads(path.read_text(encoding="utf-8")), unit_table)
        assert facts.foreign == ()
        hb = facts.observations_for([f"{LOINC}|718-7"])[0]
        assert hb.usable and hb.unit == "g/dL"
        inr = facts.observations_for([f"{LOINC}|2160-0"])[0]
        assert inr.unit == "mg/dL"


def test_the_units_table_is_an_argument_not_state(unit_table: UnitTable):
    """Two tables, one after the other, each decide alone: nothing is remembered between extractions."""
    resources = [patient(), obs("o1", code="26515-7", value=189.6, unit="K/uL", system=None)]
    with_alias = UnitTable(aliases={"K/uL": "10*3/uL"}, analyte_aliases={}, molar_masses={})
    without = UnitTable(aliases={}, analyte_aliases={}, molar_masses={})
    assert one(extract_facts(resources, units=with_alias), "26515-7").unit == "10*3/uL"
    assert one(extract_facts(resources, units=without), "26515-7").unit is None
    assert one(facts_from_bundle(resources, with_alias), "26515-7").unit == "10*3/uL"
    assert one(extract_facts(resources, units=unit_table), "26515-7").unit == "10*3/uL"
