"""Patient facts from FHIR R4 or R5 resources, as plain dicts (no pydantic, no copies).

``extract_facts(resources, *, patient_id=None)`` and ``facts_from_bundle(bundle)`` turn a patient's
resources into ``PatientFacts``: demographics, Observations (one ``ObservationFact`` per result and
per component) indexed by every ``system|code`` of their code, and Conditions, medications,
Procedures and AllergyIntolerances as ``ClinicalFact``. Nothing is evaluated here; every fact says
whether it is usable and, if not, why, so that the engine can answer "unknown" with a reason.

Input
    A Bundle of any type (entries' ``fullUrl`` are kept: Synthea and document bundles reference the
    Patient by ``urn:uuid:``), a single resource, or a list of resources, entries or Bundles (e.g. a
    CDS Hooks prefetch). Anything else is a ``PatientDataError``.

Whose data
    Exactly one Patient (the same id twice counts once); none, or two different ones, is a
    ``PatientDataError``; so is a Patient with neither id nor fullUrl (nothing could refer to it).
    A clinical resource is the patient's when its ``subject`` (``patient`` for AllergyIntolerance)
    reference is ``Patient/<id>``, a URL ending in ``/Patient/<id>`` (``/_history/..`` ignored), or
    the Patient entry's ``fullUrl``. All others go to ``PatientFacts.foreign`` with the reason and are
    never used. A Patient without an id (AU PS bundle) is named by its fullUrl in ``patient_ref``.

Observation usability (decided for eligibility safety: a wrong "pass" is worse than "unknown")
    * status ``final``, ``amended``, ``corrected``: usable. ``preliminary`` is NOT usable ("preliminary
      result"): eligibility must rest on verified results; the engine may show it for review.
      ``registered``, ``cancelled``, ``entered-in-error``, ``unknown``, a missing or unrecognised
      status: not usable, with the status as reason.
    * any ``modifierExtension`` on the resource (or on the component) makes it unusable
      ("unrecognised modifierExtension <url>"): a modifier can change the meaning (MII "specimen
      hemolyzed"), and no modifier is understood here.
    * ``dataAbsentReason`` on the resource/component, or the data-absent-reason extension on
      ``valueQuantity``: no value, reason "data absent: <code>".
    * a ``valueQuantity`` without ``value``, or no ``value[x]`` at all (a panel whose results are in
      its components): "no value". Coded, string, integer and boolean values are kept; other value
      types (Range, Ratio, Period, ...) are usable but carry no scalar (``value_type`` tells).
    * date: ``effectiveDateTime``; ``effectivePeriod.start`` (else ``.end``); ``effectiveInstant``;
      else ``issued`` (noted). Date-only values are midnight UTC; partial dates ("2017", "2017-06")
      are read as the start of the period and noted (``effective_precision``); a time without a
      zone is read as UTC and noted. No date at all: unusable ("no date"). All datetimes here
      are timezone-aware and converted to UTC (the instant is kept; the original offset is not).
    * components (e.g. 8480-6/8462-4 in the BP panel 85354-9) become facts of their own,
      ``Observation/<id>#component[<n>]``, with the parent's date, status and modifierExtensions.
    * units are normalised to UCUM with ``adapter.units.normalize_unit`` (``unit``; the original text
      is ``unit_display``). A value with no usable unit keeps ``unit=None``: the engine reports it.
      Example: FHIR core f204 writes ``{"unit": "umol/L", "system": SNOMED, "code": "258814008"}``;
      the SNOMED code is not read as UCUM, but the ``unit`` text is valid, unambiguous UCUM, so the
      unit is ``umol/L``.
    * reference range: the first ``referenceRange`` with no ``type`` or type ``normal`` that has a
      ``high.value`` gives ``reference_high`` (+ its unit, None when the range has no unit); a range
      given only as text gives ``reference_range_text`` and no ``reference_high``.

Clinical facts (``usable`` False means: do not count it; ``status`` is kept for the engine)
    * Condition: verificationStatus ``entered-in-error``/``refuted`` unusable; clinicalStatus
      (``active``, ``inactive``, ``resolved``, ``remission``, ...) is ``status``: the engine decides.
      Date: onset, else recordedDate.
    * MedicationStatement, MedicationRequest, MedicationAdministration, R4 (``medicationCodeableConcept``
      / ``medicationReference``) or R5 (``medication.concept`` / ``medication.reference``); a
      reference is resolved to a contained (``#id``) or bundled ``Medication``; unresolved: unusable.
      Unusable statuses: ``entered-in-error`` always; ``cancelled``/``draft`` for requests (and
      ``doNotPerform: true``); ``not-taken``/``draft`` for statements; ``not-done`` for
      administrations.
    * Procedure: ``completed``, ``in-progress``, ``on-hold``, ``stopped`` usable (it was at least
      started); ``not-done``, ``entered-in-error``, ``preparation``, ``unknown`` not. Date from
      performed[x] (R4) or occurrence[x] (R5); ``end`` is the period end.
    * AllergyIntolerance: verificationStatus ``entered-in-error``/``refuted`` unusable.
    * a ``modifierExtension`` makes any of them unusable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from adapter.errors import PatientDataError
from adapter.units import normalize_unit

REFERENCE_RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
DATA_ABSENT_REASON_EXT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

OBSERVATION_USABLE_STATUSES = frozenset({"final", "amended", "corrected"})
_OBSERVATION_STATUS_REASONS = {
    "preliminary": "preliminary result",
    "registered": "result not yet available (status registered)",
    "cancelled": "cancelled (status cancelled)",
    "entered-in-error": "entered in error",
    "unknown": "status unknown",
}
_MEDICATION_UNUSABLE = {
    "MedicationStatement": frozenset({"entered-in-error", "not-taken", "draft", "intended"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationAdministration": frozenset({"entered-in-error", "not-done"}),
}
_PROCEDURE_USABLE = frozenset({"completed", "in-progress", "on-hold", "stopped"})
_REFUTED = frozenset({"entered-in-error", "refuted"})
_VALUE_KEYS = (
    "valueQuantity", "valueCodeableConcept", "valueString", "valueInteger", "valueBoolean",
    "valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod",
    "valueAttachment", "valueReference",
)  # fmt: skip
_KINDS = {
    "conditions": "conditions", "condition": "conditions", "Condition": "conditions",
    "medications": "medications", "medication": "medications",
    "procedures": "procedures", "procedure": "procedures", "Procedure": "procedures",
    "allergies": "allergies", "allergy": "allergies", "AllergyIntolerance": "allergies",
}  # fmt: skip
_EPOCH_MIN = datetime.min.replace(tzinfo=UTC)
_new_object = object.__new__
_set_attribute = object.__setattr__
_NO_REASONS: list[str] = []  # never mutated
_NO_CODES: frozenset[str] = frozenset()
_CODES_CACHE: dict[tuple[Any, Any], frozenset[str]] = {}
_NORMAL_RANGE = REFERENCE_RANGE_MEANING + "|normal"
_FALLBACK_DATES = frozenset({"recordedDate", "dateAsserted"})
_ENTRY_KEYS = frozenset({"resource", "fullUrl", "request", "response", "search"})


# --------------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservationFact:
    """One result: an Observation, or one component of it."""

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
    end: datetime | None = None  # end of a period, when one was given
    verification_status: str | None = None
    notes: tuple[str, ...] = ()


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
        """Facts of ``kind`` (conditions, medications, procedures, allergies) with any of ``codes``."""
        attribute = _KINDS.get(kind)
        if attribute is None:
            raise ValueError(f"unknown kind of clinical fact {kind!r}; expected one of {sorted(set(_KINDS.values()))}")
        wanted = frozenset((codes,) if isinstance(codes, str) else codes)
        found = [fact for fact in getattr(self, attribute) if not fact.codes.isdisjoint(wanted)]
        found.sort(key=lambda f: f.date or _EPOCH_MIN, reverse=True)
        return found


def _effective_key(fact: ObservationFact) -> datetime:
    return fact.effective or _EPOCH_MIN  # undated facts last


_by_effective = attrgetter("effective")


def _sort_newest_first(facts: list[ObservationFact]) -> tuple[ObservationFact, ...]:
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


# --------------------------------------------------------------------------------------------------
# Small readers
# --------------------------------------------------------------------------------------------------


def _codes(concept: Any) -> frozenset[str]:
    if type(concept) is not dict:
        return _NO_CODES
    codings = concept.get("coding")
    if not codings:
        return _NO_CODES
    if len(codings) == 1:  # the common case, cached
        c = codings[0]
        if type(c) is not dict:
            return _NO_CODES
        code = c.get("code")
        if not code:
            return _NO_CODES
        key = (c.get("system"), code)
        try:
            return _CODES_CACHE[key]
        except KeyError:
            if len(_CODES_CACHE) > 8192:
                _CODES_CACHE.clear()
            found = _CODES_CACHE[key] = frozenset((f"{key[0] or ''}|{code}",))
            return found
        except TypeError:
            return _NO_CODES
    return frozenset(f"{c.get('system') or ''}|{c['code']}" for c in codings if type(c) is dict and c.get("code"))


def _text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    if text:
        return text
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and coding.get("display"):
            return coding["display"]
    return None


def _first_code(concept: Any) -> str | None:
    if isinstance(concept, dict):
        codings = concept.get("coding")
        if isinstance(codings, list):
            for coding in codings:
                if isinstance(coding, dict) and coding.get("code") and type(coding["code"]) is str:
                    return coding["code"]
    return None


def _status(res: dict) -> str | None:
    status = res.get("status")
    return status if type(status) is str and status else None


def _decimal(raw: Any) -> Decimal | None:
    kind = type(raw)
    if kind is float:
        value = Decimal(repr(raw))  # shortest repr: 13.3 stays 13.3, not its binary expansion
    elif kind is int:
        return Decimal(raw)
    elif kind is Decimal:
        value = raw
    elif kind is str:
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            return None
    else:  # None, bool, lists, ...
        return None
    return value if value.is_finite() else None


def _parse_datetime(raw: Any) -> tuple[datetime | None, str | None, str | None]:
    """(datetime in UTC, precision, note) for a FHIR date/dateTime/instant string."""
    if type(raw) is not str:
        return None, None, f"unreadable date {raw!r}"
    return _parse_datetime_text(raw)


@lru_cache(maxsize=16384)
def _parse_datetime_text(raw: str) -> tuple[datetime | None, str | None, str | None]:
    text = raw.strip()
    try:
        if len(text) == 4:
            return (
                datetime(int(text), 1, 1, tzinfo=UTC),
                "year",
                f"partial date {text!r} read as {text}-01-01",
            )
        if len(text) == 7:
            year, month = text.split("-")
            return (
                datetime(int(year), int(month), 1, tzinfo=UTC),
                "month",
                f"partial date {text!r} read as {text}-01",
            )
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC), "day", None
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, None, f"unreadable date {raw!r}"
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), "time", f"time without zone {raw!r} read as UTC"
    # Keep the sender's offset: "on or before the evaluation date" is judged on the result's own local date.
    return parsed, "time", None


def _parse_date(raw: Any) -> tuple[date | None, str | None]:
    if not isinstance(raw, str):
        return None, None
    parsed, precision, _ = _parse_datetime(raw)
    return (parsed.date() if parsed else None), precision


def _pick_date(res: dict, *candidates: str) -> tuple[datetime | None, datetime | None, str | None, list[str]]:
    """(start, end, source, notes) from the first present of ``candidates``.

    A candidate ending in "Period" is a Period (start, else end); others are date/dateTime strings.
    """
    notes: list[str] = []
    for key in candidates:
        raw = res.get(key)
        if not raw:
            continue
        if key.endswith("Period"):
            if not isinstance(raw, dict):
                continue
            start_raw, end_raw = raw.get("start"), raw.get("end")
            end = None
            if end_raw:
                end, _, note = _parse_datetime(end_raw)
                if note:
                    notes.append(note)
            if start_raw:
                start, _, note = _parse_datetime(start_raw)
                if note:
                    notes.append(note)
                if start is not None:
                    return start, end, f"{key}.start", notes
            if end is not None:
                return end, end, f"{key}.end", notes
            continue
        parsed, _, note = _parse_datetime(raw)
        if note:
            notes.append(note)
        if parsed is not None:
            return parsed, None, key, notes
    return None, None, None, notes


def _modifier_reason(element: dict) -> str | None:
    mods = element.get("modifierExtension")
    if not mods:
        return None
    urls = ", ".join(str(m.get("url") or "<no url>") if isinstance(m, dict) else "<malformed>" for m in mods)
    return f"unrecognised modifierExtension {urls}"


def _absent_reason(element: dict) -> str | None:
    dar = element.get("dataAbsentReason")
    if not dar:
        return None
    code = _first_code(dar)
    text = dar.get("text") if isinstance(dar, dict) else None
    if code and text and text.lower() != code.lower():
        return f"data absent: {code} ({text})"
    return f"data absent: {code or text or 'no reason given'}"


def _quantity_absent_reason(quantity: dict) -> str | None:
    for ext in quantity.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == DATA_ABSENT_REASON_EXT:
            return f"data absent: {ext.get('valueCode') or 'no reason given'}"
    return None


# --------------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _ObsContext:
    """What a parent Observation passes on to its components."""

    effective: datetime | None
    source: str | None
    precision: str | None
    status: str | None
    reasons: tuple[str, ...]  # parent-level reasons (modifierExtension, status, no date)
    notes: tuple[str, ...]


def _observation_context(res: dict) -> _ObsContext:
    notes: list[str] = []
    reasons: list[str] = []
    modifier = _modifier_reason(res)
    if modifier:
        reasons.append(modifier)

    status = res.get("status")
    if type(status) is not str:
        status = None
        reasons.append("no status")
    elif status not in OBSERVATION_USABLE_STATUSES:
        reasons.append(
            _OBSERVATION_STATUS_REASONS.get(status, f"status {status!r} not recognised") if status else "no status"
        )

    effective = source = precision = None
    raw = res.get("effectiveDateTime")
    if raw:
        effective, precision, note = _parse_datetime(raw)
        source = "effectiveDateTime"
        if note:
            notes.append(note)
    if effective is None:
        period = res.get("effectivePeriod")
        if isinstance(period, dict):
            for part in ("start", "end"):
                if period.get(part):
                    effective, precision, note = _parse_datetime(period[part])
                    if note:
                        notes.append(note)
                    if effective is not None:
                        source = f"effectivePeriod.{part}"
                        break
    if effective is None and res.get("effectiveInstant"):
        effective, precision, note = _parse_datetime(res["effectiveInstant"])
        source = "effectiveInstant"
        if note:
            notes.append(note)
    if effective is None and res.get("issued"):
        effective, precision, note = _parse_datetime(res["issued"])
        source = "issued"
        if note:
            notes.append(note)
        if effective is not None:
            notes.append("no effective[x]: date taken from issued")
    if effective is None:
        source = precision = None
        reasons.append("no date")
    return _ObsContext(effective, source, precision, status, tuple(reasons), tuple(notes))


_UNIT_CACHE: dict[tuple[Any, Any, Any], str | None] = {}


def _unit_of(quantity: dict, codes: frozenset[str]) -> str | None:
    key = (quantity.get("code"), quantity.get("unit"), quantity.get("system"))
    try:
        unit = _UNIT_CACHE[key]
    except KeyError:
        unit = normalize_unit(*key) if all(v is None or type(v) is str for v in key) else None
        if len(_UNIT_CACHE) > 4096:
            _UNIT_CACHE.clear()
        _UNIT_CACHE[key] = unit
    except TypeError:  # unhashable junk in a unit field
        return None
    if unit is None and (key[0] or key[1]):
        unit = normalize_unit(*key, analyte_codes=codes)
    return unit


def _observation_fact(
    element: dict, reference: str, ctx: _ObsContext, own_reasons: list[str], *, panel: bool = False
) -> ObservationFact:
    """A fact for an Observation (``element`` is the resource) or a component of one."""
    get = element.get
    code_concept = get("code")
    codes = _codes(code_concept)
    reasons = [*ctx.reasons, *own_reasons] if ctx.reasons or own_reasons else []

    value = comparator = unit = unit_display = value_code = value_string = value_type = None
    absent = _absent_reason(element) if "dataAbsentReason" in element else None
    quantity = get("valueQuantity")
    if type(quantity) is dict:
        value_type = "Quantity"
        unit_display = quantity.get("unit")
        quantity_absent = _quantity_absent_reason(quantity) if "extension" in quantity else None
        raw_value = quantity.get("value")
        if quantity_absent:
            absent = absent or quantity_absent
        elif raw_value is None:
            if not absent:
                reasons.append("no value")
        else:
            value = _decimal(raw_value)
            if value is None:
                reasons.append(f"unreadable value {raw_value!r}")
            comparator = quantity.get("comparator")
            unit = _unit_of(quantity, codes)
    elif "valueCodeableConcept" in element:
        value_type = "CodeableConcept"
        value_code = _codes(element["valueCodeableConcept"])
    elif "valueString" in element:
        value_type = "string"
        value_string = element["valueString"]
    elif "valueInteger" in element:
        value_type = "integer"
        value = _decimal(element["valueInteger"])
    elif "valueBoolean" in element:
        value_type = "boolean"
        value_string = "true" if element["valueBoolean"] is True else "false"
    else:
        for key in _VALUE_KEYS:
            if key in element:
                value_type = key[5:]
                break
        else:
            if not absent:
                reasons.append("no value (panel: see its components)" if panel else "no value")
    if absent:
        value = comparator = unit = value_code = value_string = None
        reasons.append(absent)

    reference_high = reference_high_unit = reference_range_text = None
    ranges = get("referenceRange")
    if ranges:
        for rng in ranges:
            if type(rng) is not dict:
                continue
            kind = rng.get("type")
            if kind and _NORMAL_RANGE not in _codes(kind):
                continue
            if reference_range_text is None:
                reference_range_text = rng.get("text")
            high = rng.get("high")
            if type(high) is dict and high.get("value") is not None:
                reference_high = _decimal(high["value"])
                reference_high_unit = _unit_of(high, codes)
                break

    fact = _new_object(ObservationFact)
    # A frozen dataclass, given its __dict__ in one call: the generated __init__ (20 object.__setattr__
    # calls) was most of the extraction time. Every field is set here; tests check it against fields().
    _set_attribute(
        fact,
        "__dict__",
        {
            "reference": reference,
            "codes": codes,
            "text": _text(code_concept),
            "effective": ctx.effective,
            "effective_source": ctx.source,
            "effective_precision": ctx.precision,
            "status": ctx.status,
            "value": value,
            "comparator": comparator,
            "unit": unit,
            "unit_display": unit_display,
            "value_type": value_type,
            "value_code": value_code,
            "value_string": value_string,
            "reference_high": reference_high,
            "reference_high_unit": reference_high_unit,
            "reference_range_text": reference_range_text,
            "usable": not reasons,
            "unusable_reason": "; ".join(reasons) if reasons else None,
            "notes": ctx.notes,
        },
    )
    return fact


def _observation_facts(res: dict, reference: str) -> list[ObservationFact]:
    """The Observation's own fact, then one per component."""
    ctx = _observation_context(res)
    components = res.get("component")
    if not components:
        return [_observation_fact(res, reference, ctx, _NO_REASONS)]
    facts = [_observation_fact(res, reference, ctx, _NO_REASONS, panel=True)]
    for i, component in enumerate(components):
        if type(component) is dict:
            own = _modifier_reason(component)
            facts.append(
                _observation_fact(component, f"{reference}#component[{i}]", ctx, [own] if own else _NO_REASONS)
            )
    return facts


# --------------------------------------------------------------------------------------------------
# Conditions, medications, procedures, allergies
# --------------------------------------------------------------------------------------------------


def _clinical(
    res: dict,
    reference: str,
    *,
    codes: frozenset[str],
    text: str | None,
    dates: tuple[str, ...],
    status: str | None,
    reasons: list[str],
    verification: str | None = None,
    notes: list[str] | None = None,
) -> ClinicalFact:
    modifier = _modifier_reason(res)
    if modifier:
        reasons.insert(0, modifier)
    start, end, source, date_notes = _pick_date(res, *dates)
    all_notes = list(notes or ())
    all_notes.extend(date_notes)
    if source in _FALLBACK_DATES:
        all_notes.append(f"date from {source}")
    return ClinicalFact(
        reference=reference,
        resource_type=res["resourceType"],
        codes=codes,
        text=text,
        date=start,
        status=status,
        usable=not reasons,
        unusable_reason="; ".join(reasons) if reasons else None,
        end=end,
        verification_status=verification,
        notes=tuple(all_notes),
    )


def _condition(res: dict, reference: str) -> ClinicalFact:
    verification = _first_code(res.get("verificationStatus"))
    reasons = [f"verificationStatus {verification}"] if verification in _REFUTED else []
    return _clinical(
        res,
        reference,
        codes=_codes(res.get("code")),
        text=_text(res.get("code")),
        dates=("onsetDateTime", "onsetPeriod", "recordedDate"),
        status=_first_code(res.get("clinicalStatus")),
        reasons=reasons,
        verification=verification,
    )


def _allergy(res: dict, reference: str) -> ClinicalFact:
    verification = _first_code(res.get("verificationStatus"))
    reasons = [f"verificationStatus {verification}"] if verification in _REFUTED else []
    return _clinical(
        res,
        reference,
        codes=_codes(res.get("code")),
        text=_text(res.get("code")),
        dates=("onsetDateTime", "onsetPeriod", "recordedDate"),
        status=_first_code(res.get("clinicalStatus")),
        reasons=reasons,
        verification=verification,
    )


def _procedure(res: dict, reference: str) -> ClinicalFact:
    status = _status(res)
    reasons = [] if status in _PROCEDURE_USABLE else [f"status {status}" if status else "no status"]
    return _clinical(
        res,
        reference,
        codes=_codes(res.get("code")),
        text=_text(res.get("code")),
        dates=("performedDateTime", "performedPeriod", "occurrenceDateTime", "occurrencePeriod"),
        status=status,
        reasons=reasons,
    )


_MEDICATION_DATES = {
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod", "dateAsserted"),
    "MedicationRequest": ("authoredOn",),
    # R4 effective[x]; R5 occurence[x] (sic, as spelled in R5) - and the correct spelling, just in case
    "MedicationAdministration": (
        "effectiveDateTime", "effectivePeriod", "occurenceDateTime", "occurencePeriod",
        "occurrenceDateTime", "occurrencePeriod",
    ),
}  # fmt: skip


def _medication(res: dict, reference: str, medications: Mapping[str, dict]) -> ClinicalFact:
    kind = res["resourceType"]
    status = _status(res)
    reasons: list[str] = []
    notes: list[str] = []
    if status in _MEDICATION_UNUSABLE[kind]:
        reasons.append(f"status {status}")
    if kind == "MedicationRequest" and res.get("doNotPerform") is True:
        reasons.append("doNotPerform: a request not to give it")

    concept = res.get("medicationCodeableConcept")
    med_ref = res.get("medicationReference")
    r5 = res.get("medication")
    if isinstance(r5, dict):  # R5 CodeableReference
        concept = concept or r5.get("concept")
        med_ref = med_ref or r5.get("reference")
    codes: frozenset[str] = frozenset()
    text = None
    if isinstance(concept, dict):
        codes, text = _codes(concept), _text(concept)
    elif isinstance(med_ref, dict):
        target = med_ref.get("reference")
        medication = None
        if isinstance(target, str):
            if target.startswith("#"):
                for contained in res.get("contained") or ():
                    if (
                        isinstance(contained, dict)
                        and contained.get("resourceType") == "Medication"
                        and contained.get("id") == target[1:]
                    ):
                        medication = contained
                        break
            else:
                medication = medications.get(target) or medications.get(_tail_reference(target))
        if medication is not None:
            codes, text = _codes(medication.get("code")), _text(medication.get("code"))
            notes.append(f"medication from {target}")
        else:
            text = med_ref.get("display")
            reasons.append(f"medication reference {target or med_ref!r} not found in the input")
    else:
        reasons.append("no medication given")
    if not codes and not text and not reasons:
        reasons.append("medication has no code or text")
    return _clinical(
        res,
        reference,
        codes=codes,
        text=text,
        dates=_MEDICATION_DATES[kind],
        status=status,
        reasons=reasons,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------

_CLINICAL_TYPES = frozenset(
    {
        "Observation", "Condition", "Procedure", "AllergyIntolerance",
        "MedicationStatement", "MedicationRequest", "MedicationAdministration",
    }
)  # fmt: skip


def _tail_reference(reference: str) -> str:
    """The last Type/id pair of a reference: http://x/fhir/Patient/1/_history/2 -> Patient/1."""
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


def _flatten(items: Iterable[Any], out: list[tuple[str | None, dict]], depth: int = 0) -> None:
    if depth > 4:
        raise PatientDataError("Bundles nested too deeply")
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatientDataError(f"item {position} of the input is not a FHIR resource (a {type(item).__name__})")
        resource_type = item.get("resourceType")
        if resource_type is None:
            if not _ENTRY_KEYS.isdisjoint(item):  # a Bundle entry
                resource = item.get("resource")
                if resource is None:
                    continue
                if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                    raise PatientDataError(f"entry {position} does not hold a FHIR resource")
                if resource["resourceType"] == "Bundle":
                    _flatten_bundle(resource, out, depth + 1)
                else:
                    out.append((item.get("fullUrl"), resource))
                continue
            raise PatientDataError(f"item {position} of the input is not a FHIR resource (no resourceType)")
        if not isinstance(resource_type, str):
            raise PatientDataError(f"item {position} of the input has a malformed resourceType")
        if resource_type == "Bundle":
            _flatten_bundle(item, out, depth + 1)
        else:
            out.append((None, item))


def _flatten_bundle(bundle: dict, out: list[tuple[str | None, dict]], depth: int) -> None:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise PatientDataError("Bundle.entry is not a list")
    _flatten(entries, out, depth)


def _resource_reference(resource_type: str, res: dict, full_url: str | None, position: int) -> str:
    rid = res.get("id")
    if rid:
        return f"{resource_type}/{rid}"
    return full_url or f"{resource_type}[{position}]"


def facts_from_bundle(bundle: Any) -> PatientFacts:
    """Facts from a Bundle (any type), a single resource (e.g. a Patient), or a list of them."""
    if isinstance(bundle, list | tuple):
        return extract_facts(bundle)
    if isinstance(bundle, dict):
        if not isinstance(bundle.get("resourceType"), str):
            raise PatientDataError("input is not a FHIR resource or Bundle (no resourceType)")
        return extract_facts([bundle])
    raise PatientDataError(f"input is not a FHIR resource, Bundle or list (a {type(bundle).__name__})")


def extract_facts(resources: Iterable[dict], *, patient_id: str | None = None) -> PatientFacts:
    """Facts about the one Patient in ``resources`` (resources, Bundle entries or Bundles, as dicts).

    ``patient_id``, when given, must be the id of that Patient (e.g. CDS Hooks ``context.patientId``).
    Raises PatientDataError when there is no Patient, two different ones, or input that is not FHIR.
    """
    if isinstance(resources, dict):
        resources = [resources]
    entries: list[tuple[str | None, dict]] = []
    _flatten(resources, entries)

    patients: dict[str, tuple[str | None, dict]] = {}
    medications: dict[str, dict] = {}
    for full_url, res in entries:
        resource_type = res["resourceType"]
        if resource_type == "Patient":
            key = res.get("id") or full_url
            if not key:
                raise PatientDataError("a Patient resource has neither an id nor a fullUrl")
            patients.setdefault(key, (full_url, res))
        elif resource_type == "Medication":
            if res.get("id"):
                medications[f"Medication/{res['id']}"] = res
            if full_url:
                medications[full_url] = res
    if not patients:
        raise PatientDataError("no Patient resource in the input")
    if len(patients) > 1:
        names = ", ".join(f"Patient/{k}" if "/" not in k and ":" not in k else k for k in patients)
        raise PatientDataError(f"the input holds more than one Patient ({names}); give one patient's data")
    ((full_url, patient),) = patients.values()
    pid = patient.get("id")
    if patient_id is not None and pid != patient_id:
        raise PatientDataError(f"the Patient in the input is {pid!r}, not the expected {patient_id!r}")
    patient_ref = f"Patient/{pid}" if pid else str(full_url)
    own_refs = {patient_ref}
    if full_url:
        own_refs.add(full_url)

    observations: dict[str, list[ObservationFact]] = {}
    buckets: dict[str, list[ClinicalFact]] = {
        "conditions": [],
        "medications": [],
        "procedures": [],
        "allergies": [],
    }
    foreign: list[tuple[str, str]] = []

    for position, (entry_url, res) in enumerate(entries):
        resource_type = res["resourceType"]
        if resource_type not in _CLINICAL_TYPES:
            continue
        reference = _resource_reference(resource_type, res, entry_url, position)
        subject = res.get("patient" if resource_type == "AllergyIntolerance" else "subject")
        if subject is None and resource_type == "AllergyIntolerance":
            subject = res.get("subject")
        target = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(target, str) or not target:
            foreign.append((reference, "no subject reference: cannot tell whose data it is"))
            continue
        if target not in own_refs and not (pid and _tail_reference(target) == patient_ref):
            foreign.append((reference, f"subject {target} is not {patient_ref}"))
            continue

        if resource_type == "Observation":
            for fact in _observation_facts(res, reference):
                for code in fact.codes:
                    bucket = observations.get(code)
                    if bucket is None:
                        observations[code] = [fact]
                    else:
                        bucket.append(fact)
        elif resource_type == "Condition":
            buckets["conditions"].append(_condition(res, reference))
        elif resource_type == "Procedure":
            buckets["procedures"].append(_procedure(res, reference))
        elif resource_type == "AllergyIntolerance":
            buckets["allergies"].append(_allergy(res, reference))
        else:
            buckets["medications"].append(_medication(res, reference, medications))

    notes: list[str] = []
    birth_date, birth_precision = _parse_date(patient.get("birthDate"))
    if birth_precision in ("year", "month"):
        notes.append(f"birthDate {patient.get('birthDate')!r} is partial")
    deceased: bool | None = None
    deceased_date = None
    if isinstance(patient.get("deceasedBoolean"), bool):
        deceased = patient["deceasedBoolean"]
    if patient.get("deceasedDateTime"):
        deceased = True
        deceased_date, _, note = _parse_datetime(patient["deceasedDateTime"])
        if note:
            notes.append(note)

    return PatientFacts(
        patient_ref=patient_ref,
        birth_date=birth_date,
        gender=patient.get("gender"),
        deceased=deceased,
        observations=MappingProxyType({code: _sort_newest_first(facts) for code, facts in observations.items()}),
        conditions=tuple(buckets["conditions"]),
        medications=tuple(buckets["medications"]),
        procedures=tuple(buckets["procedures"]),
        allergies=tuple(buckets["allergies"]),
        foreign=tuple(foreign),
        patient_id=pid,
        birth_date_precision=birth_precision,
        deceased_date=deceased_date,
        notes=tuple(notes),
    )
