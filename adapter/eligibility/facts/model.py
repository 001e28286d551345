"""The facts: one ``ObservationFact`` per result, one ``ClinicalFact`` per record entry, ``PatientFacts`` for both.

Facts are frozen and hold no FHIR dicts: everything the engine needs has been read out. Every fact says
whether it is usable and, if not, why, so that the engine can answer "unknown" with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import NamedTuple

from adapter.vocabulary import (
    RECORD_KIND_BY_MAPPING_KEY,
    RECORD_KIND_BY_NAME,
    RECORD_KIND_BY_RESOURCE,
    RecordKind,
)

_EPOCH_MIN = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """One normal (or untyped) ``referenceRange`` of a result, and whom it is for.

    Which range applies to a patient is the ULN rule's business (``rules/uln.py``): the fact keeps
    them all, because the sex or age that selects one is the patient's, not the result's.
    """

    low: Decimal | None
    high: Decimal | None
    unit: str | None  # UCUM of ``high`` (else ``low``); None when no unit was written
    sex: str | None = None  # "male" / "female" when ``appliesTo`` says so; None: any sex
    age_low: Decimal | None = None  # ``age`` Range, in ``age_unit``, both ends inclusive
    age_high: Decimal | None = None
    age_unit: str | None = None  # "a", "mo", "wk" or "d"
    # What a range is for that is not understood here ("appliesTo pregnant", "age in 'h'"): the range may or may
    # not apply to this patient, so it never settles a ULN on its own.
    unread: tuple[str, ...] = ()
    text: str | None = None
    from_text: bool = False  # ``high`` was read from the range's text ("0-40 U/L")


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
    reference_range_text: str | None  # the first normal range's text
    usable: bool
    unusable_reason: str | None
    notes: tuple[str, ...] = ()
    value_text: str | None = None  # valueCodeableConcept text, else its first display (ordinal results)
    # Every normal (or untyped) referenceRange, in the order given; a range with only text that reads as a
    # simple range ("0-40 U/L") carries that high (``from_text``).
    reference_ranges: tuple[ReferenceRange, ...] = ()

    @property
    def reference_high(self) -> Decimal | None:
        """The first range's high, whoever it is for (the ULN rule chooses by patient; this is for display)."""
        first = self._first_high()
        return first.high if first else None

    @property
    def reference_high_unit(self) -> str | None:
        first = self._first_high()
        return first.unit if first else None

    @property
    def reference_high_from_text(self) -> bool:
        first = self._first_high()
        return bool(first and first.from_text)

    def _first_high(self) -> ReferenceRange | None:
        return next((r for r in self.reference_ranges if r.high is not None), None)


class CourseEvidence(NamedTuple):
    """One dated sign that a medication course was in use: its own dates, or a dispense or dose of it."""

    date: datetime
    label: str  # "ordered", "asserted", "taken (statement)", "dispensed", "administered", "valid until", ...
    reference: str | None = None  # the dispense or administration it came from; None: the course's own date


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
    # A MedicationRequest/MedicationStatement's dated evidence of use, newest first: its own dates and the
    # dispenses and administrations of the same drug (or naming it). "active" alone is not "taking now".
    evidence: tuple[CourseEvidence, ...] = ()

    @property
    def last_evidence(self) -> datetime | None:
        """The newest evidence that the course was in use (None: not a course, or nothing dated)."""
        return self.evidence[0].date if self.evidence else None


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
        elif not isinstance(codes, tuple | list):
            codes = tuple(codes)
        buckets = [bucket for bucket in map(self.observations.get, codes) if bucket]
        if len(buckets) < 2:  # one code on record: its bucket is already newest first
            return list(buckets[0]) if buckets else []
        seen: set[int] = set()
        found: list[ObservationFact] = []
        for code in codes:
            for fact in self.observations.get(code, ()):
                if id(fact) not in seen:
                    seen.add(id(fact))
                    found.append(fact)
        found.sort(key=_effective_key, reverse=True)
        return found

    def newest_results(self, codes: Sequence[str]) -> Iterable[ObservationFact]:
        """As `observations_for`, as an iterable: results read on demand (`extract_facts(..., reads=...)`) are
        built only as far as they are iterated."""
        newest = getattr(self.observations, "newest", None)
        return newest(codes) if newest is not None else self.observations_for(codes)

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
