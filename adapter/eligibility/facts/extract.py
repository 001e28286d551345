"""A patient's resources -> ``PatientFacts``: flattening the input, deciding whose data it is, reading each resource.

Input
    A Bundle of any type (entries' ``fullUrl`` are kept: Synthea and document bundles reference the
    Patient by ``urn:uuid:``), a single resource, or a list of resources, entries or Bundles (e.g. a
    CDS Hooks prefetch). Anything else is a ``PatientDataError``.

Whose data
    Exactly one Patient (the same id twice counts once); none, or two different ones, is a
    ``PatientDataError``; so is a Patient with neither id nor fullUrl (nothing could refer to it).
    A clinical resource is the patient's when its ``subject`` (``patient`` for AllergyIntolerance: the record
    kind's ``subject_element``) reference is ``Patient/<id>``, a URL ending in ``/Patient/<id>``
    (``/_history/..`` ignored), or the Patient entry's ``fullUrl``. All others go to ``PatientFacts.foreign``
    with the reason and are never used. A Patient without an id (AU PS bundle) is named by its fullUrl in
    ``patient_ref``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from adapter.eligibility.facts.clinical import Medications, clinical_fact
from adapter.eligibility.facts.courses import CourseLinker
from adapter.eligibility.facts.lazy_results import Entry as ResultEntry
from adapter.eligibility.facts.lazy_results import LazyResults, add_source
from adapter.eligibility.facts.model import ClinicalFact, ObservationFact, PatientFacts, sort_newest_first
from adapter.eligibility.facts.observations import observation_facts
from adapter.eligibility.facts.readers import Memo, codes_of, parse_date, parse_datetime, tail_reference
from adapter.eligibility.facts.reads import FactReads
from adapter.errors import PatientDataError
from adapter.units import UnitTable
from adapter.vocabulary import RECORD_KIND_BY_NAME, RECORD_KIND_BY_RESOURCE, RECORD_KINDS

Entry = tuple[str | None, dict[str, Any]]  # (fullUrl, resource)

_ENTRY_KEYS = frozenset({"resource", "fullUrl", "request", "response", "search"})
_MAX_BUNDLE_DEPTH = 4
_MEDICATION_TYPES = RECORD_KIND_BY_NAME["medications"].resource_types


def facts_from_bundle(bundle: Any, units: UnitTable, reads: FactReads | None = None) -> PatientFacts:
    """Facts from a Bundle (any type), a single resource (e.g. a Patient), or a list of them."""
    if isinstance(bundle, list | tuple):
        return extract_facts(bundle, units=units, reads=reads)
    if isinstance(bundle, dict):
        if not isinstance(bundle.get("resourceType"), str):
            raise PatientDataError("input is not a FHIR resource or Bundle (no resourceType)")
        return extract_facts([bundle], units=units, reads=reads)
    raise PatientDataError(f"input is not a FHIR resource, Bundle or list (a {type(bundle).__name__})")


def extract_facts(
    resources: Iterable[dict[str, Any]], *, units: UnitTable, patient_id: str | None = None,
    reads: FactReads | None = None,
) -> PatientFacts:
    """Facts about the one Patient in ``resources`` (resources, Bundle entries or Bundles, as dicts).

    ``units`` normalises the units of results. ``patient_id``, when given, must be the id of that Patient
    (e.g. CDS Hooks ``context.patientId``). ``reads`` (what compiled trials read, ``evaluation.reads_of``): only
    the Observations with a code it names (on the result or a component) become facts; None: every one. Every
    resource is still checked for whose it is, and record entries are always read (see ``FactReads``).
    Raises PatientDataError when there is no Patient, two different ones, or input that is not FHIR.
    """
    if isinstance(resources, dict):
        resources = [resources]
    entries: list[Entry] = []
    _flatten(resources, entries)
    patient, full_url, medications = _index(entries)
    owner = _Owner.of(patient, full_url, patient_id)
    memo = Memo()  # lives as long as this call: no state is kept between extractions
    courses = CourseLinker(medications, memo)  # a course's newest evidence of use: dispenses, doses

    observations: dict[str, list[ObservationFact]] = {}
    records: dict[str, list[ClinicalFact]] = {kind.name: [] for kind in RECORD_KINDS}
    foreign: list[tuple[str, str]] = []
    wanted = reads.observation_codes if reads is not None else None
    pairs = reads.coding_pairs if reads is not None else frozenset()
    refs = owner.refs
    pending: dict[str, list[ResultEntry]] = {}  # with `reads`: results indexed now, built when a criterion reads them
    for position, (entry_url, res) in enumerate(entries):
        resource_type = res["resourceType"]
        if resource_type == "Observation" and wanted is not None:
            # The common case first, cheaply: the patient's own result (subject is the Patient's reference).
            subject = res.get("subject")
            if type(subject) is dict and subject.get("reference") in refs:
                if _coded_with(res, wanted, pairs, memo):  # else no criterion reads it: results are found by code
                    add_source(pending, res, _resource_reference(resource_type, res, entry_url, position), memo)
                continue
        if resource_type in ("Observation", "MedicationDispense"):
            subject_element = "subject"
        elif resource_type in RECORD_KIND_BY_RESOURCE:
            subject_element = RECORD_KIND_BY_RESOURCE[resource_type].subject_element
        else:
            continue  # Patient, Medication, Encounter, ...: not facts
        reference = _resource_reference(resource_type, res, entry_url, position)
        why_not = owner.why_not_theirs(res, subject_element)
        if resource_type == "MedicationDispense":  # not a fact: evidence for a medication course
            if why_not is None:
                courses.add_dispense(res, reference)
        elif why_not is not None:
            foreign.append((reference, why_not))
        elif resource_type == "Observation":
            if wanted is None:
                _add_results(observations, observation_facts(res, reference, units, memo))
            elif _coded_with(res, wanted, pairs, memo):
                add_source(pending, res, reference, memo)
        else:
            kept = records[RECORD_KIND_BY_RESOURCE[resource_type].name]
            kept.append(clinical_fact(res, reference, medications, memo))
            if resource_type in _MEDICATION_TYPES:
                courses.add(len(kept) - 1, kept[-1], res, entry_url)
    courses.apply(records["medications"])
    results = LazyResults(pending, units, memo) if wanted is not None else None
    return _patient_facts(patient, owner, observations, records, foreign, memo, results)


def _add_results(observations: dict[str, list[ObservationFact]], facts: list[ObservationFact]) -> None:
    """Each fact under every code of its own."""
    for fact in facts:
        for code in fact.codes:
            bucket = observations.get(code)
            if bucket is None:
                observations[code] = [fact]
            else:
                bucket.append(fact)


def _coded_with(res: dict[str, Any], wanted: frozenset[str], pairs: frozenset[tuple[str | None, str]],
                memo: Memo) -> bool:
    """The Observation, or one of its components, has a code in `wanted` (`pairs`: the same as (system, code))."""
    concept = res.get("code")
    codings = concept.get("coding") if type(concept) is dict else None
    read = False
    if type(codings) is list and len(codings) == 1 and type(codings[0]) is dict:  # most results: one coding
        coding = codings[0]
        try:
            if (coding.get("system"), coding.get("code")) in pairs:
                return True
            read = True
        except TypeError:  # unhashable junk: read the long way
            pass
    if not read and not codes_of(concept, memo).isdisjoint(wanted):
        return True
    components = res.get("component")
    if isinstance(components, list):
        for component in components:
            if type(component) is dict and not codes_of(component.get("code"), memo).isdisjoint(wanted):
                return True
    return False


# --------------------------------------------------------------------------------------------------
# Flattening the input
# --------------------------------------------------------------------------------------------------


def _flatten(items: Iterable[Any], out: list[Entry], depth: int = 0) -> None:
    if depth > _MAX_BUNDLE_DEPTH:
        raise PatientDataError("Bundles nested too deeply")
    for position, item in enumerate(items):
        if type(item) is dict and "resourceType" not in item:  # the common entry first, in as few steps as can be
            resource = item.get("resource")
            if type(resource) is dict:
                inner = resource.get("resourceType")
                if type(inner) is str and inner != "Bundle":
                    out.append((item.get("fullUrl"), resource))
                    continue
        if not isinstance(item, dict):
            raise PatientDataError(f"item {position} of the input is not a FHIR resource (a {type(item).__name__})")
        resource_type = item.get("resourceType")
        if resource_type is None:
            if _ENTRY_KEYS.isdisjoint(item):
                raise PatientDataError(f"item {position} of the input is not a FHIR resource (no resourceType)")
            resource = item.get("resource")
            if (
                type(resource) is dict
                and type(resource.get("resourceType")) is str
                and resource["resourceType"] != "Bundle"
            ):
                out.append((item.get("fullUrl"), resource))  # the common entry, without a call
            else:
                _flatten_entry(item, position, out, depth)
        elif not isinstance(resource_type, str):
            raise PatientDataError(f"item {position} of the input has a malformed resourceType")
        elif resource_type == "Bundle":
            _flatten_bundle(item, out, depth + 1)
        else:
            out.append((None, item))


def _flatten_entry(entry: dict[str, Any], position: int, out: list[Entry], depth: int) -> None:
    """A Bundle entry: its resource with its fullUrl; an entry without a resource (a DELETE) is skipped."""
    resource = entry.get("resource")
    if resource is None:
        return
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise PatientDataError(f"entry {position} does not hold a FHIR resource")
    if resource["resourceType"] == "Bundle":
        _flatten_bundle(resource, out, depth + 1)
    else:
        out.append((entry.get("fullUrl"), resource))


def _flatten_bundle(bundle: dict[str, Any], out: list[Entry], depth: int) -> None:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise PatientDataError("Bundle.entry is not a list")
    _flatten(entries, out, depth)


# --------------------------------------------------------------------------------------------------
# Whose data
# --------------------------------------------------------------------------------------------------


def _index(entries: list[Entry]) -> tuple[dict[str, Any], str | None, Medications]:
    """(the one Patient, its fullUrl, the bundled Medications by reference and fullUrl)."""
    patients: dict[str, Entry] = {}
    medications: dict[str, dict[str, Any]] = {}
    for full_url, res in entries:
        resource_type = res["resourceType"]
        if not isinstance(full_url, str):
            full_url = None  # a fullUrl that is not a string names nothing
        if resource_type == "Patient":
            key = res.get("id") or full_url
            if not isinstance(key, str) or not key:
                raise PatientDataError("a Patient resource has neither an id nor a fullUrl (as strings)")
            patients.setdefault(key, (full_url, res))
        elif resource_type == "Medication":
            if isinstance(res.get("id"), str) and res["id"]:
                medications[f"Medication/{res['id']}"] = res
            if full_url:
                medications[full_url] = res
    if not patients:
        raise PatientDataError("no Patient resource in the input")
    if len(patients) > 1:
        names = ", ".join(f"Patient/{k}" if "/" not in k and ":" not in k else k for k in patients)
        raise PatientDataError(f"the input holds more than one Patient ({names}); give one patient's data")
    ((full_url, patient),) = patients.values()
    return patient, full_url, medications


@dataclass(frozen=True, slots=True)
class _Owner:
    """The patient the data must belong to, and the references that name them."""

    pid: str | None
    ref: str  # "Patient/<id>", or the fullUrl of a Patient without id
    refs: frozenset[str]  # ref and the Patient entry's fullUrl

    @classmethod
    def of(cls, patient: dict[str, Any], full_url: str | None, expected_id: str | None) -> _Owner:
        pid = patient.get("id")
        if expected_id is not None and pid != expected_id:
            raise PatientDataError(f"the Patient in the input is {pid!r}, not the expected {expected_id!r}")
        ref = f"Patient/{pid}" if pid else str(full_url)
        return cls(pid, ref, frozenset({ref, full_url}) if full_url else frozenset({ref}))

    def why_not_theirs(self, res: dict[str, Any], subject_element: str) -> str | None:
        """None when ``res`` is this patient's data, else why it is not used."""
        subject = res.get(subject_element)
        if subject is None and subject_element != "subject":  # e.g. an AllergyIntolerance written with subject
            subject = res.get("subject")
        target = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(target, str) or not target:
            return "no subject reference: cannot tell whose data it is"
        if target in self.refs or (self.pid and tail_reference(target) == self.ref):
            return None
        return f"subject {target} is not {self.ref}"


def _resource_reference(resource_type: str, res: dict[str, Any], full_url: str | None, position: int) -> str:
    rid = res.get("id")
    if rid:
        return f"{resource_type}/{rid}"
    return full_url or f"{resource_type}[{position}]"


# --------------------------------------------------------------------------------------------------
# Assembling the facts
# --------------------------------------------------------------------------------------------------


def _patient_facts(
    patient: dict[str, Any],
    owner: _Owner,
    observations: dict[str, list[ObservationFact]],
    records: dict[str, list[ClinicalFact]],
    foreign: list[tuple[str, str]],
    memo: Memo,
    results: LazyResults | None = None,
) -> PatientFacts:
    notes: list[str] = []
    birth_date, birth_precision = parse_date(patient.get("birthDate"), memo)
    if birth_precision in ("year", "month"):
        notes.append(f"birthDate {patient.get('birthDate')!r} is partial")
    deceased: bool | None = None
    deceased_date = None
    if isinstance(patient.get("deceasedBoolean"), bool):
        deceased = patient["deceasedBoolean"]
    if patient.get("deceasedDateTime"):
        deceased = True
        deceased_date, _, note = parse_datetime(patient["deceasedDateTime"], memo)
        if note:
            notes.append(note)
    return PatientFacts(
        patient_ref=owner.ref,
        birth_date=birth_date,
        gender=patient.get("gender"),
        deceased=deceased,
        observations=results if results is not None else MappingProxyType(
            {code: sort_newest_first(facts) for code, facts in observations.items()}),
        conditions=tuple(records["conditions"]),
        medications=tuple(records["medications"]),
        procedures=tuple(records["procedures"]),
        allergies=tuple(records["allergies"]),
        foreign=tuple(foreign),
        patient_id=owner.pid,
        birth_date_precision=birth_precision,
        deceased_date=deceased_date,
        notes=tuple(notes),
    )
