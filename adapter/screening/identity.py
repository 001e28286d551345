"""Who a screened patient is, for the people who act on the worklist: name, MRN, birth date, age, sex, and how
fresh the data behind an evaluation is. Pure: read from the parsed Patient resource and the patient's facts;
nothing here changes an evaluation.

These fields identify the patient: every output that carries them is protected health information.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapter.eligibility.facts.model import PatientFacts
    from adapter.eligibility.outcome import Evidence

MR_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
MR_TYPE_CODE = "MR"
_NAME_USES = ("official", "usual")


def patient_resource(resources: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return next((r for r in resources if r.get("resourceType") == "Patient"), {})


def display_name(patient: Mapping[str, Any]) -> str | None:
    """Patient.name as a person reads it: the official name, else the usual one, else the first; given names
    then family, or the name's text when it has no parts."""
    names = [n for n in _list(patient.get("name")) if isinstance(n, Mapping)]
    if not names:
        return None
    chosen = next((n for use in _NAME_USES for n in names if n.get("use") == use), names[0])
    parts = [str(g) for g in _list(chosen.get("given")) if isinstance(g, str) and g.strip()]
    family = chosen.get("family")
    if isinstance(family, str) and family.strip():
        parts.append(family)
    if parts:
        return " ".join(" ".join(parts).split())
    text = chosen.get("text")
    return " ".join(text.split()) if isinstance(text, str) and text.strip() else None


def medical_record_number(patient: Mapping[str, Any], mrn_system: str | None = None) -> tuple[str | None, str | None]:
    """(value, system) of the patient's MRN: the identifier in `mrn_system` when given, else the one typed MR
    (v2-0203), else the first identifier with a value."""
    identifiers = [i for i in _list(patient.get("identifier")) if isinstance(i, Mapping) and _text(i.get("value"))]
    chosen = None
    if mrn_system:
        chosen = next((i for i in identifiers if i.get("system") == mrn_system), None)
    if chosen is None:
        chosen = next((i for i in identifiers if _is_mr(i)), None)
    if chosen is None and identifiers:
        chosen = identifiers[0]
    if chosen is None:
        return None, None
    return _text(chosen.get("value")), _text(chosen.get("system"))


def _is_mr(identifier: Mapping[str, Any]) -> bool:
    kind = identifier.get("type")
    codings = _list(kind.get("coding")) if isinstance(kind, Mapping) else []
    return any(isinstance(c, Mapping) and c.get("system") == MR_TYPE_SYSTEM and c.get("code") == MR_TYPE_CODE
               for c in codings)


def age_on(birth: date | None, as_of: date) -> int | None:
    """Completed years on `as_of` (None without a birth date, or born after it)."""
    if birth is None or birth > as_of:
        return None
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def newest_evidence(evidence: Iterable[Evidence]) -> str | None:
    """The date (YYYY-MM-DD) of the newest dated evidence, as the evidence itself states it."""
    dates = [e.date.date() for e in evidence if e.date is not None]
    return max(dates).isoformat() if dates else None


def identity(resources: Sequence[Mapping[str, Any]], facts: PatientFacts, as_of: date,
             mrn_system: str | None = None) -> dict[str, Any]:
    """The identifying fields of a result line (the same for each trial)."""
    patient = patient_resource(resources)
    mrn, system = medical_record_number(patient, mrn_system)
    birth = patient.get("birthDate")
    return {
        "name": display_name(patient),
        "mrn": mrn,
        "mrn_system": system,
        "birth_date": birth if isinstance(birth, str) else None,
        "age": age_on(facts.birth_date, as_of),
        "sex": facts.gender,
        "deceased": bool(facts.deceased),
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
