"""adapter.eligibility.facts.clinical: Conditions, medications, Procedures and AllergyIntolerances."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapter.eligibility.facts import extract_facts
from adapter.units import UnitTable
from adapter.vocabulary import RECORD_KIND_BY_RESOURCE, RECORD_RESOURCE_TYPES
from tests.eligibility.facts.builders import APATINIB, SNOMED, condition, med, patient

pytestmark: list[pytest.MarkDecorator] = []


def test_conditions(unit_table: UnitTable):
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
    facts = extract_facts(resources, units=unit_table)
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


def test_medications_r4_r5_and_references(unit_table: UnitTable):
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
    facts = extract_facts(resources, units=unit_table)
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
def test_medication_statuses(kind, fields, usable, unit_table: UnitTable):
    facts = extract_facts([patient(), med(kind, "m", medicationCodeableConcept=APATINIB, **fields)], units=unit_table)
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
def test_procedure_statuses(status, usable, unit_table: UnitTable):
    resource = {
        "resourceType": "Procedure",
        "id": "t",
        "status": status,
        "code": {"coding": [{"system": SNOMED, "code": "116859006"}]},
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": "2024-01-10",
    }
    (fact,) = extract_facts([patient(), resource], units=unit_table).procedures
    assert fact.usable is usable and fact.status == status
    assert fact.date == datetime(2024, 1, 10, tzinfo=UTC)


def test_procedure_dates_r4_and_r5(unit_table: UnitTable):
    r4 = {
        "resourceType": "Procedure", "id": "r4", "status": "completed", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": SNOMED, "code": "116859006"}]},
        "performedPeriod": {"start": "2024-01-10T10:00:00Z", "end": "2024-01-10T12:00:00Z"},
    }  # fmt: skip
    r5 = {**r4, "id": "r5", "occurrencePeriod": {"start": "2024-02-01", "end": "2024-02-02"}}
    del r5["performedPeriod"]
    facts = extract_facts([patient(), r4, r5], units=unit_table)
    by_ref = {f.reference: f for f in facts.procedures}
    assert by_ref["Procedure/r4"].end == datetime(2024, 1, 10, 12, tzinfo=UTC)
    assert by_ref["Procedure/r5"].date == datetime(2024, 2, 1, tzinfo=UTC)
    assert by_ref["Procedure/r5"].end == datetime(2024, 2, 2, tzinfo=UTC)
    assert [f.reference for f in facts.clinical_facts_for("procedures", [f"{SNOMED}|116859006"])] == [
        "Procedure/r5",
        "Procedure/r4",
    ]


def test_allergies(unit_table: UnitTable):
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
    facts = extract_facts(resources, units=unit_table)
    assert [(f.reference, f.usable) for f in facts.allergies] == [
        ("AllergyIntolerance/a1", True),
        ("AllergyIntolerance/a2", False),
        ("AllergyIntolerance/a3", False),
    ]
    assert facts.allergies[0].status == "active"
    assert facts.foreign == (("AllergyIntolerance/a4", "subject Patient/other is not Patient/p1"),)


@pytest.mark.parametrize("resource_type", RECORD_RESOURCE_TYPES)
def test_every_record_resource_type_becomes_a_fact_of_its_kind(resource_type, unit_table: UnitTable):
    kind = RECORD_KIND_BY_RESOURCE[resource_type]
    resource = {
        "resourceType": resource_type,
        "id": "r",
        "status": "completed",
        "code": {"coding": [{"system": SNOMED, "code": "1"}]},
        "medicationCodeableConcept": {"coding": [{"system": SNOMED, "code": "1"}]},
        kind.subject_element: {"reference": "Patient/p1"},  # AllergyIntolerance names its patient in `patient`
    }
    facts = extract_facts([patient(), resource], units=unit_table)
    (fact,) = getattr(facts, kind.name)
    assert fact.reference == f"{resource_type}/r" and fact.codes == frozenset({f"{SNOMED}|1"})
    assert fact.usable and facts.foreign == ()
