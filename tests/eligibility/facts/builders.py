"""Builders of small FHIR resources (plain dicts) and readers of the shared real-world data, for the facts tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.eligibility.facts import ObservationFact, PatientFacts
from tests.support import fhir

LOINC = "http://loinc.org"


SNOMED = "http://snomed.info/sct"


UCUM = "http://unitsofmeasure.org"


REALWORLD = Path(__file__).resolve().parents[4] / "shared" / "realworld"  # beside the repository


# The data must be there (../shared beside the repository): a test that needs it fails, never skips, without it.
needs_realworld = pytest.mark.realworld


def patient(pid: str = "p1", **extra) -> dict:
    return fhir.patient(pid, **extra)


def obs(oid: str, code: str = "718-7", value: object = 13.3, unit: str | None = "g/dL", **kwargs) -> dict:
    """A result of Patient/p1 (tests.support.fhir.observation with these tests' defaults)."""
    return fhir.observation(oid, code, value, unit, **kwargs)


def one(facts: PatientFacts, code: str, system: str = LOINC) -> ObservationFact:
    found = facts.observations_for([f"{system}|{code}"])
    assert len(found) == 1, found
    return found[0]


def condition(cid: str, code: str = "276804009", **extra) -> dict:
    return fhir.condition(cid, code, text="ESCC", **extra)


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


APATINIB = {
    "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1721560"}],
    "text": "apatinib",
}


def med(kind: str, mid: str, **extra) -> dict:
    return fhir.medication(kind, mid, **extra)


def load(relative: str) -> dict:
    return json.loads((REALWORLD / relative).read_text(encoding="utf-8"))


def with_patient(resource: dict) -> list[dict]:
    """A standalone realworld Observation, with a Patient of the id it refers to."""
    pid = resource["subject"]["reference"].split("/")[-1]
    return [{"resourceType": "Patient", "id": pid}, resource]
