"""adapter.eligibility.facts.courses: a medication course's evidence of use (``ClinicalFact.evidence``,
``last_evidence``): its own dates, and the dispenses and administrations of its drug, R4 and R5."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapter.eligibility.facts import extract_facts
from adapter.eligibility.facts.model import CourseEvidence
from adapter.units import UnitTable
from tests.eligibility.facts.builders import patient

pytestmark: list[pytest.MarkDecorator] = []

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DRUG = {"coding": [{"system": RXNORM, "code": "854235"}], "text": "enoxaparin 40 mg"}
OTHER = {"coding": [{"system": RXNORM, "code": "854252"}], "text": "enoxaparin 150 mg"}
ME = {"reference": "Patient/p1"}


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _medications(unit_table: UnitTable, *resources: dict, urls: bool = False) -> dict:
    entries = [{"resource": patient()}]
    entries += [{"resource": r, **({"fullUrl": f"urn:uuid:{r['id']}"} if urls else {})} for r in resources]
    facts = extract_facts([{"resourceType": "Bundle", "type": "collection", "entry": entries}], units=unit_table)
    return {f.reference: f for f in facts.medications}


def test_own_dates_of_a_request_and_a_statement(unit_table: UnitTable):
    found = _medications(
        unit_table,
        {"resourceType": "MedicationRequest", "id": "rx", "status": "active", "subject": ME,
         "medicationCodeableConcept": DRUG, "authoredOn": "2020-03-04",
         "dispenseRequest": {"validityPeriod": {"start": "2020-03-04", "end": "2020-09-04"}}},
        {"resourceType": "MedicationStatement", "id": "st", "status": "active", "subject": ME,
         "medicationCodeableConcept": OTHER, "effectivePeriod": {"start": "2019-01-01"}, "dateAsserted": "2021-05-01"},
        {"resourceType": "MedicationRequest", "id": "undated", "status": "active", "subject": ME,
         "medicationCodeableConcept": OTHER},
    )
    rx = found["MedicationRequest/rx"]
    assert rx.evidence == (CourseEvidence(day("2020-09-04"), "prescription valid until"),
                           CourseEvidence(day("2020-03-04"), "ordered"))
    assert rx.last_evidence == day("2020-09-04") and rx.date == day("2020-03-04")  # the start is unchanged
    st = found["MedicationStatement/st"]
    assert [(e.date, e.label) for e in st.evidence] == [(day("2021-05-01"), "stated"),
                                                        (day("2019-01-01"), "taken from, as stated")]
    assert found["MedicationRequest/undated"].last_evidence is None


def test_dispenses_and_administrations_of_the_same_drug_or_naming_the_course(unit_table: UnitTable):
    found = _medications(
        unit_table,
        {"resourceType": "MedicationRequest", "id": "rx", "status": "active", "subject": ME,
         "medicationCodeableConcept": DRUG, "authoredOn": "2020-03-04"},
        # R4 administration of the same code
        {"resourceType": "MedicationAdministration", "id": "dose", "status": "completed", "subject": ME,
         "medicationCodeableConcept": DRUG, "effectiveDateTime": "2021-01-01"},
        # R5 administration of another code naming the request by its fullUrl; a period: its end
        {"resourceType": "MedicationAdministration", "id": "dose5", "status": "completed", "subject": ME,
         "medication": {"concept": OTHER}, "occurencePeriod": {"start": "2021-02-01", "end": "2021-02-02"},
         "request": {"reference": "urn:uuid:rx"}},
        # R4 dispense naming the request; R5 dispense of the same code (CodeableReference)
        {"resourceType": "MedicationDispense", "id": "d4", "status": "completed", "subject": ME,
         "medicationCodeableConcept": OTHER, "authorizingPrescription": [{"reference": "MedicationRequest/rx"}],
         "whenPrepared": "2021-03-01", "whenHandedOver": "2021-03-02"},
        {"resourceType": "MedicationDispense", "id": "d5", "status": "completed", "subject": ME,
         "medication": {"concept": DRUG}, "whenHandedOver": "2021-04-01"},
        urls=True,
    )
    rx = found["MedicationRequest/rx"]
    assert [(e.date.date().isoformat(), e.label, e.reference) for e in rx.evidence] == [
        ("2021-04-01", "dispensed", "MedicationDispense/d5"),
        ("2021-03-02", "dispensed", "MedicationDispense/d4"),
        ("2021-03-01", "prepared for dispensing", "MedicationDispense/d4"),
        ("2021-02-02", "administered", "MedicationAdministration/dose5"),
        ("2021-01-01", "administered", "MedicationAdministration/dose"),
        ("2020-03-04", "ordered", None),
    ]
    assert rx.last_evidence == day("2021-04-01")
    assert "MedicationDispense/d4" not in found  # a dispense is evidence, not a fact of its own
    assert found["MedicationAdministration/dose"].evidence == ()  # a dose is its own moment


def test_what_is_not_evidence(unit_table: UnitTable):
    found = _medications(
        unit_table,
        {"resourceType": "MedicationRequest", "id": "rx", "status": "active", "subject": ME,
         "medicationCodeableConcept": DRUG, "authoredOn": "2020-03-04"},
        {"resourceType": "MedicationAdministration", "id": "not-done", "status": "not-done", "subject": ME,
         "medicationCodeableConcept": DRUG, "effectiveDateTime": "2021-01-01"},
        {"resourceType": "MedicationDispense", "id": "cancelled", "status": "cancelled", "subject": ME,
         "medicationCodeableConcept": DRUG, "whenHandedOver": "2021-01-01"},
        {"resourceType": "MedicationDispense", "id": "theirs", "status": "completed",
         "subject": {"reference": "Patient/other"}, "medicationCodeableConcept": DRUG, "whenHandedOver": "2021-01-01"},
        {"resourceType": "MedicationDispense", "id": "modified", "status": "completed", "subject": ME,
         "modifierExtension": [{"url": "x"}], "medicationCodeableConcept": DRUG, "whenHandedOver": "2021-01-01"},
        {"resourceType": "MedicationDispense", "id": "other-drug", "status": "completed", "subject": ME,
         "medicationCodeableConcept": OTHER, "whenHandedOver": "2021-01-01",
         "authorizingPrescription": [{"reference": "MedicationRequest/elsewhere"}]},
    )
    assert found["MedicationRequest/rx"].evidence == (CourseEvidence(day("2020-03-04"), "ordered"),)
