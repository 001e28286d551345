"""Builders of small FHIR resources (plain dicts) and readers of the shared real-world data, for the facts tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.eligibility.facts import ObservationFact, PatientFacts

LOINC = "http://loinc.org"


SNOMED = "http://snomed.info/sct"


UCUM = "http://unitsofmeasure.org"


REALWORLD = Path(__file__).resolve().parents[4] / "shared" / "realworld"  # beside the repository


needs_realworld = pytest.mark.skipif(not REALWORLD.is_dir(), reason=f"real-world data not available at {REALWORLD}")


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
    return {"resourceType": kind, "id": mid, "subject": {"reference": "Patient/p1"}, **extra}


def load(relative: str) -> dict:
    return json.loads((REALWORLD / relative).read_text(encoding="utf-8"))


def with_patient(resource: dict) -> list[dict]:
    """A standalone realworld Observation, with a Patient of the id it refers to."""
    pid = resource["subject"]["reference"].split("/")[-1]
    return [{"resourceType": "Patient", "id": pid}, resource]
