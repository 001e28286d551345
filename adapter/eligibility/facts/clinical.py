"""Conditions, medications, Procedures and AllergyIntolerances -> ``ClinicalFact``.

``usable`` False means: do not count it; ``status`` is kept for the engine to decide.

* Condition: verificationStatus ``entered-in-error``/``refuted`` unusable; clinicalStatus
  (``active``, ``inactive``, ``resolved``, ``remission``, ...) is ``status``: the engine decides.
  Date: onset, else recordedDate (noted).
* MedicationStatement, MedicationRequest, MedicationAdministration, R4 (``medicationCodeableConcept``
  / ``medicationReference``) or R5 (``medication.concept`` / ``medication.reference``); a
  reference is resolved to a contained (``#id``) or bundled ``Medication``; unresolved: unusable.
  Unusable statuses: ``entered-in-error`` always; ``cancelled``/``draft`` for requests (and
  ``doNotPerform: true``); ``not-taken``/``draft``/``intended`` for statements; ``not-done`` for
  administrations.
  A request or statement (a course) also keeps every date that shows it in use, newest first
  (``evidence``: authoredOn, effective[x], dateAsserted, dispenseRequest.validityPeriod.end); the
  dispenses and doses of its drug are added by ``courses``. "active" alone is not "taking now".
* Procedure: ``completed``, ``in-progress``, ``on-hold``, ``stopped`` usable (it was at least
  started); ``not-done``, ``entered-in-error``, ``preparation``, ``unknown`` not. Date from
  performed[x] (R4) or occurrence[x] (R5); ``end`` is the period end.
* AllergyIntolerance: verificationStatus ``entered-in-error``/``refuted`` unusable.
* a ``modifierExtension`` makes any of them unusable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapter.eligibility.facts.model import ClinicalFact, CourseEvidence
from adapter.eligibility.facts.readers import (
    NO_CODES,
    Memo,
    codes_of,
    first_code,
    modifier_reason,
    names_of,
    parse_datetime,
    pick_date,
    status_of,
    tail_reference,
    text_of,
)

Medications = Mapping[str, dict[str, Any]]  # "Medication/<id>" and fullUrl -> bundled Medication
ClinicalReader = Callable[[dict[str, Any], str, Medications, Memo], ClinicalFact]

_MEDICATION_UNUSABLE = {
    "MedicationStatement": frozenset({"entered-in-error", "not-taken", "draft", "intended"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationAdministration": frozenset({"entered-in-error", "not-done"}),
}
_MEDICATION_DATES = {
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod", "dateAsserted"),
    "MedicationRequest": ("authoredOn",),
    # R4 effective[x]; R5 occurence[x] (sic, as spelled in R5) - and the correct spelling, just in case
    "MedicationAdministration": (
        "effectiveDateTime", "effectivePeriod", "occurenceDateTime", "occurencePeriod",
        "occurrenceDateTime", "occurrencePeriod",
    ),
}  # fmt: skip
# What shows a course (request or statement) in use, and how a reason names it: every date, not the first.
DatePaths = tuple[tuple[tuple[str, ...], str], ...]  # (element path, how a reason names the date)
VALID_UNTIL = "prescription valid until"  # a period end: may lie after the evaluation date
_COURSE_DATES: Mapping[str, DatePaths] = {
    "MedicationRequest": (
        (("authoredOn",), "ordered"),
        (("dispenseRequest", "validityPeriod", "end"), VALID_UNTIL),
    ),
    "MedicationStatement": (
        (("effectiveDateTime",), "taken, as stated"),
        (("effectivePeriod", "end"), "taken until, as stated"),
        (("effectivePeriod", "start"), "taken from, as stated"),
        (("dateAsserted",), "stated"),
    ),
}
_ONSET_DATES = ("onsetDateTime", "onsetPeriod", "recordedDate")
_ABATEMENT_DATES = ("abatementDateTime", "abatementPeriod")
_PROCEDURE_DATES = ("performedDateTime", "performedPeriod", "occurrenceDateTime", "occurrencePeriod")
_PROCEDURE_USABLE = frozenset({"completed", "in-progress", "on-hold", "stopped"})
_REFUTED = frozenset({"entered-in-error", "refuted"})
_FALLBACK_DATES = frozenset({"recordedDate", "dateAsserted"})  # when the record was made, not the event


def clinical_fact(res: dict[str, Any], reference: str, medications: Medications, memo: Memo) -> ClinicalFact:
    """The fact for one record resource (its type must be one of ``RECORD_RESOURCE_TYPES``)."""
    return _READERS[res["resourceType"]](res, reference, medications, memo)


def _clinical(
    res: dict[str, Any],
    reference: str,
    memo: Memo,
    *,
    codes: frozenset[str],
    text: str | None,
    dates: tuple[str, ...],
    status: str | None,
    reasons: list[str],
    verification: str | None = None,
    notes: list[str] | None = None,
    names: tuple[str, ...] = (),
    ends: tuple[str, ...] = (),
) -> ClinicalFact:
    modifier = modifier_reason(res)
    if modifier:
        reasons.insert(0, modifier)
    start, end, source, date_notes = pick_date(res, dates, memo)
    if end is None and ends:
        abated, abated_end, _, end_notes = pick_date(res, ends, memo)
        end = abated_end or abated
        date_notes.extend(end_notes)
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
        names=names,
    )


def _verified(res: dict[str, Any], reference: str, medications: Medications, memo: Memo) -> ClinicalFact:
    """A Condition or AllergyIntolerance: coded, with clinicalStatus and verificationStatus."""
    verification = first_code(res.get("verificationStatus"))
    reasons = [f"verificationStatus {verification}"] if verification in _REFUTED else []
    return _clinical(
        res,
        reference,
        memo,
        codes=codes_of(res.get("code"), memo),
        text=text_of(res.get("code")),
        dates=_ONSET_DATES,
        status=first_code(res.get("clinicalStatus")),
        reasons=reasons,
        verification=verification,
        names=names_of(res.get("code")),
        ends=_ABATEMENT_DATES if res["resourceType"] == "Condition" else (),
    )


def _procedure(res: dict[str, Any], reference: str, medications: Medications, memo: Memo) -> ClinicalFact:
    status = status_of(res)
    reasons = [] if status in _PROCEDURE_USABLE else [f"status {status}" if status else "no status"]
    return _clinical(
        res,
        reference,
        memo,
        codes=codes_of(res.get("code"), memo),
        text=text_of(res.get("code")),
        dates=_PROCEDURE_DATES,
        status=status,
        reasons=reasons,
        names=names_of(res.get("code")),
    )


def _medication(res: dict[str, Any], reference: str, medications: Medications, memo: Memo) -> ClinicalFact:
    kind = res["resourceType"]
    status = status_of(res)
    reasons: list[str] = []
    if status in _MEDICATION_UNUSABLE[kind]:
        reasons.append(f"status {status}")
    if kind == "MedicationRequest" and res.get("doNotPerform") is True:
        reasons.append("doNotPerform: a request not to give it")
    codes, text, names, notes, drug_reasons = drug_of(res, medications, memo)
    reasons.extend(drug_reasons)
    fact = _clinical(
        res,
        reference,
        memo,
        codes=codes,
        text=text,
        dates=_MEDICATION_DATES[kind],
        status=status,
        reasons=reasons,
        notes=notes,
        names=names,
    )
    if kind in _COURSE_DATES:
        evidence = course_dates(res, _COURSE_DATES[kind], memo)
        if evidence:
            return replace(fact, evidence=evidence)
    return fact


def drug_of(
    res: dict[str, Any], medications: Medications, memo: Memo
) -> tuple[frozenset[str], str | None, tuple[str, ...], list[str], list[str]]:
    """(codes, text, names, notes, reasons not to use it) of the drug a medication resource names: R4
    ``medicationCodeableConcept`` / ``medicationReference`` or R5 ``medication`` (CodeableReference)."""
    reasons: list[str] = []
    notes: list[str] = []
    concept = res.get("medicationCodeableConcept")
    med_ref = res.get("medicationReference")
    r5 = res.get("medication")
    if isinstance(r5, dict):  # R5 CodeableReference
        concept = concept or r5.get("concept")
        med_ref = med_ref or r5.get("reference")
    codes: frozenset[str] = NO_CODES
    text = None
    names: tuple[str, ...] = ()
    if isinstance(concept, dict):
        codes, text, names = codes_of(concept, memo), text_of(concept), names_of(concept)
    elif isinstance(med_ref, dict):
        target = med_ref.get("reference")
        medication = _resolve(res, target, medications)
        if medication is not None:
            code = medication.get("code")
            codes, text, names = codes_of(code, memo), text_of(code), names_of(code)
            display = med_ref.get("display")
            if isinstance(display, str) and display and display not in names:
                names = (*names, display)
            notes.append(f"medication from {target}")
        else:
            text = med_ref.get("display")
            reasons.append(f"medication reference {target or med_ref!r} not found in the input")
    else:
        reasons.append("no medication given")
    if not codes and not text and not reasons:
        reasons.append("medication has no code or text")
    return codes, text, names or ((text,) if isinstance(text, str) and text else ()), notes, reasons


def course_dates(
    res: Mapping[str, Any], paths: DatePaths, memo: Memo, reference: str | None = None
) -> tuple[CourseEvidence, ...]:
    """Every readable date of ``paths`` in ``res``, newest first, one per date; ``reference``: where it came
    from when ``res`` is not the course itself (a dispense, an administration)."""
    found: dict[datetime, CourseEvidence] = {}
    for path, label in paths:
        raw: Any = res
        for step in path:
            raw = raw.get(step) if isinstance(raw, dict) else None
        if isinstance(raw, str):
            when = parse_datetime(raw, memo)[0]
            if when is not None and when not in found:  # the first label of a date is the most telling
                found[when] = CourseEvidence(when, label, reference)
    return tuple(sorted(found.values(), key=_newest, reverse=True))


def _newest(evidence: CourseEvidence) -> datetime:
    return evidence.date


def _resolve(res: dict[str, Any], target: Any, medications: Medications) -> dict[str, Any] | None:
    """The Medication a reference points at: contained (``#id``), else bundled (by reference or fullUrl)."""
    if not isinstance(target, str):
        return None
    if target.startswith("#"):
        for contained in res.get("contained") or ():
            if (
                isinstance(contained, dict)
                and contained.get("resourceType") == "Medication"
                and contained.get("id") == target[1:]
            ):
                return contained
        return None
    return medications.get(target) or medications.get(tail_reference(target))


_READERS: Mapping[str, ClinicalReader] = {
    "Condition": _verified,
    "AllergyIntolerance": _verified,
    "Procedure": _procedure,
    "MedicationStatement": _medication,
    "MedicationRequest": _medication,
    "MedicationAdministration": _medication,
}
