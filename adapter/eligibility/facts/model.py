"""The facts: one ``ObservationFact`` per result, one ``ClinicalFact`` per record entry, ``PatientFacts`` for both.

Facts are frozen and hold no FHIR dicts: everything the engine needs has been read out. Every fact says
whether it is usable and, if not, why, so that the engine can answer "unknown" with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import attrgetter

from adapter.vocabulary import (
    RECORD_KIND_BY_MAPPING_KEY,
    RECORD_KIND_BY_NAME,
    RECORD_KIND_BY_RESOURCE,
    RecordKind,
)

_EPOCH_MIN = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ObservationFact:
    """One result: an Observation, or one component of it.

    Not slotted: ``observations.py`` builds it by setting its ``__dict__`` in one call (see there).
    """

    reference: str  # "Observation/<id>", "Observation/<id>#component[<n>]", or the entry's fullUrl
    codes: frozenset[str]  # system|code of every coding of Observation.code (component.code)
    text: str | None  # code.text, else the first coding's display
    effective: datetime | None  # timezone-aware
    effective_source: str | None  # "effectiveDateTime", "effectivePeriod.start", ..., "issued"
    effective_precision: str | None  # "year", "month", "day" or "time"
    status: str | None
    value: Decimal | None  # valueQuantity.value (or valueInteger)
    comparator: str | None  # "<", "<=", ">=", ">" (as given)
    unit: str | None  # UCUM, normalised
    unit_display: str | None  # valueQuantity.unit as written
    value_type: str | None  # "Quantity", "CodeableConcept", "string", "integer", "boolean", ...
    value_code: frozenset[str] | None  # system|code of valueCodeableConcept
    value_string: str | None  # valueString (valueBoolean as "true"/"false")
    reference_high: Decimal | None
    reference_high_unit: str | None
    reference_range_text: str | None
    usable: bool
    unusable_reason: str | None
    notes: tuple[str, ...] = ()
    value_text: str | None = None  # valueCodeableConcept text, else its first display (ordinal results)
    reference_high_from_text: bool = False  # reference_high was read from referenceRange.text ("0-40 U/L")


@dataclass(frozen=True, slots=True)
class ClinicalFact:
    """A Condition, medication resource, Procedure or AllergyIntolerance."""

    reference: str
    resource_type: str
    codes: frozenset[str]
    text: str | None
    date: datetime | None  # onset / start / authoredOn / performed (start)
    status: str | None  # clinicalStatus for Condition/AllergyIntolerance, else status
    usable: bool
    unusable_reason: str | None
    end: datetime | None = None  # end of a period, when one was given; a Condition's abatement
    verification_status: str | None = None
    notes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # the code's text and every coding's display: what name matching reads


@dataclass(frozen=True, slots=True)
class PatientFacts:
    patient_ref: str  # "Patient/<id>" (the fullUrl when the Patient has no id)
    birth_date: date | None
    gender: str | None
    deceased: bool | None  # deceasedBoolean, or True when deceasedDateTime is present
    observations: Mapping[str, tuple[ObservationFact, ...]]  # system|code -> newest first
    conditions: tuple[ClinicalFact, ...] = ()
    medications: tuple[ClinicalFact, ...] = ()
    procedures: tuple[ClinicalFact, ...] = ()
    allergies: tuple[ClinicalFact, ...] = ()
    foreign: tuple[tuple[str, str], ...] = ()  # (reference, reason): other patients' data, unused
    patient_id: str | None = None
    birth_date_precision: str | None = None  # "year", "month", "day"
    deceased_date: datetime | None = None
    notes: tuple[str, ...] = ()

    def observations_for(self, codes: Iterable[str]) -> list[ObservationFact]:
        """All results with any of ``codes`` (``system|code``), deduplicated, newest first."""
        if isinstance(codes, str):
            codes = (codes,)
        seen: set[int] = set()
        found: list[ObservationFact] = []
        for code in codes:
            for fact in self.observations.get(code, ()):
                if id(fact) not in seen:
                    seen.add(id(fact))
                    found.append(fact)
        found.sort(key=_effective_key, reverse=True)
        return found

    def clinical_facts_for(self, kind: str, codes: Iterable[str]) -> list[ClinicalFact]:
        """Facts of ``kind`` with any of ``codes``.

        ``kind`` is a record kind's name (``conditions``, ``medications``, ``procedures``, ``allergies``), its
        mapping key (``condition``, ...) or one of its FHIR resource types (``Condition``, ...).
        """
        record_kind = record_kind_named(kind)
        wanted = frozenset((codes,) if isinstance(codes, str) else codes)
        found = [fact for fact in getattr(self, record_kind.name) if not fact.codes.isdisjoint(wanted)]
        found.sort(key=lambda f: f.date or _EPOCH_MIN, reverse=True)
        return found


def record_kind_named(kind: str) -> RecordKind:
    """The record kind for a name, mapping key or resource type; ValueError for anything else."""
    found = RECORD_KIND_BY_NAME.get(kind) or RECORD_KIND_BY_MAPPING_KEY.get(kind) or RECORD_KIND_BY_RESOURCE.get(kind)
    if found is None:
        raise ValueError(f"unknown kind of clinical fact {kind!r}; expected one of {sorted(RECORD_KIND_BY_NAME)}")
    return found


def _effective_key(fact: ObservationFact) -> datetime:
    return fact.effective or _EPOCH_MIN  # undated facts last


_by_effective = attrgetter("effective")


def sort_newest_first(facts: list[ObservationFact]) -> tuple[ObservationFact, ...]:
    """Newest first, undated last; stable, so equal dates keep the input order."""
    if len(facts) > 1:
        dated = [f for f in facts if f.effective is not None]
        if len(dated) == len(facts):
            facts.sort(key=_by_effective, reverse=True)
        else:
            dated.sort(key=_by_effective, reverse=True)
            dated.extend(f for f in facts if f.effective is None)
            facts = dated
    return tuple(facts)
