"""The one builder of small FHIR resources for tests (plain dicts, R4/R5 alike).

Every test that needs a Patient, a result, a record entry or a Bundle builds it here, so that what a "lab result"
looks like in the tests is decided once. Defaults describe an ordinary, complete record; each test states only what
it is about (a missing unit, another subject, an entered-in-error status …) through keyword arguments, and `extra`
adds or replaces any element.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapter.vocabulary import LOINC, SNOMED, UCUM

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_OMIT: Any = object()


def concept(system: str, code: str, text: str | None = None, display: str | None = None) -> dict[str, Any]:
    """A CodeableConcept with one coding."""
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding], **({"text": text} if text else {})}


def patient(pid: str = "p1", *, gender: str | None = "female", birth_date: str | None = "1970-05-17",
            **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if gender is not None:
        resource["gender"] = gender
    if birth_date is not None:
        resource["birthDate"] = birth_date
    return {**resource, **extra}


def quantity(value: Any, unit: str | None, system: str | None = UCUM, comparator: str | None = None
             ) -> dict[str, Any]:
    """A Quantity: with `unit` as both the human unit and the UCUM code (no unit: a bare value)."""
    q: dict[str, Any] = {"value": value}
    if comparator is not None:
        q["comparator"] = comparator
    if unit is not None:
        q.update(unit=unit, code=unit)
        if system:
            q["system"] = system
    return q


def observation(oid: str, code: str = "718-7", value: Any = 13.3, unit: str | None = "g/dL", *,
                subject: str = "Patient/p1", when: str | None = "2024-03-01T08:00:00+01:00", status: str = "final",
                system: str | None = UCUM, code_system: str = LOINC, high: Any = _OMIT,
                **extra: Any) -> dict[str, Any]:
    """A result: `code` in `code_system` (LOINC), `value` in `unit` (None: no valueQuantity), effective `when`;
    `high` adds a reference range's high in the same unit."""
    resource: dict[str, Any] = {"resourceType": "Observation", "id": oid, "status": status,
                                "code": {"coding": [{"system": code_system, "code": code}]},
                                "subject": {"reference": subject}}
    if when is not None:
        resource["effectiveDateTime"] = when
    if value is not None:
        resource["valueQuantity"] = quantity(value, unit, system)
    if high is not _OMIT:
        resource["referenceRange"] = [{"high": quantity(high, unit, system)}]
    return {**resource, **extra}


def condition(cid: str, code: str | Mapping[str, Any] = "276804009", *, text: str | None = None,
              subject: str | None = "Patient/p1", status: str | None = None, verification: str | None = None,
              **extra: Any) -> dict[str, Any]:
    """A Condition coded `code` (a SNOMED code, or a whole CodeableConcept); `status`/`verification` add
    clinicalStatus and verificationStatus."""
    coded = dict(code) if isinstance(code, Mapping) else concept(SNOMED, code, text)
    resource: dict[str, Any] = {"resourceType": "Condition", "id": cid, "code": coded}
    if subject is not None:
        resource["subject"] = {"reference": subject}
    if status is not None:
        resource["clinicalStatus"] = concept(CLINICAL, status)
    if verification is not None:
        resource["verificationStatus"] = concept(VERIFICATION, verification)
    return {**resource, **extra}


def procedure(rid: str, code: Mapping[str, Any], *, when: str | None = "2026-10-22T15:00:00+08:00",
              subject: str | None = "Patient/p1", status: str = "completed", **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Procedure", "id": rid, "status": status, "code": dict(code)}
    if subject is not None:
        resource["subject"] = {"reference": subject}
    if when is not None:
        resource["performedDateTime"] = when
    return {**resource, **extra}


def medication(kind: str, mid: str, *, subject: str | None = "Patient/p1", **extra: Any) -> dict[str, Any]:
    """A medication record of `kind` (MedicationStatement, MedicationRequest, MedicationAdministration, …)."""
    resource: dict[str, Any] = {"resourceType": kind, "id": mid}
    if subject is not None:
        resource["subject"] = {"reference": subject}
    return {**resource, **extra}


def bundle(resources: Iterable[Mapping[str, Any]], *, type: str = "collection", full_urls: bool = False
           ) -> dict[str, Any]:
    """A Bundle of `resources`; `full_urls` gives each entry `urn:uuid:<id>`."""
    entries = [{**({"fullUrl": f"urn:uuid:{r['id']}"} if full_urls else {}), "resource": dict(r)} for r in resources]
    return {"resourceType": "Bundle", "type": type, "entry": entries}
