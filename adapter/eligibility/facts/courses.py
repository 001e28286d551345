"""A medication course's evidence of use: its own dates, and the dispenses and doses of its drug.

"active" alone is not "taking now": a MedicationRequest still marked active years after it was written says
nothing about this month. What does is a date: the course's own (``authoredOn``, ``effective[x]``,
``dateAsserted``, ``dispenseRequest.validityPeriod.end``; read in ``clinical``), a MedicationDispense
(``whenHandedOver`` / ``whenPrepared``) or a MedicationAdministration (``effective[x]`` / ``occurence[x]``) of
the same drug. A dispense or dose belongs to a course when it shares a code with it, or names it
(``authorizingPrescription`` / ``request``). Each adds a ``CourseEvidence`` to the course's fact; the rule decides
what the dates show. Dispenses are not facts of their own (no criterion reads them alone): only evidence here.

One pass over the patient's medications, a dict by code and by reference: linear in the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from adapter.eligibility.facts.clinical import DatePaths, Medications, course_dates, drug_of
from adapter.eligibility.facts.model import ClinicalFact, CourseEvidence
from adapter.eligibility.facts.readers import Memo, modifier_reason, status_of, tail_reference

COURSE_TYPES = frozenset({"MedicationRequest", "MedicationStatement"})
_DISPENSE_DATES: DatePaths = ((("whenHandedOver",), "dispensed"), (("whenPrepared",), "prepared for dispensing"))
# Only a dispense that happened is evidence of use (R4 and R5 MedicationDispense.status).
_DISPENSE_DONE = frozenset({"completed"})
# (codes of the drug, references it names, its dates)
_Sign = tuple[frozenset[str], tuple[str, ...], tuple[CourseEvidence, ...]]


class CourseLinker:
    """Collects the courses and the signs of use while the record is read, then links them (``apply``)."""

    def __init__(self, medications: Medications, memo: Memo) -> None:
        self._medications = medications
        self._memo = memo
        self._aliases: dict[str, int] = {}  # a course's reference and fullUrl -> its position
        self._signs: list[_Sign] = []

    def add(self, position: int, fact: ClinicalFact, res: dict[str, Any], full_url: str | None) -> None:
        """A medication fact, at ``position`` among the patient's medications, read from ``res``."""
        if fact.resource_type in COURSE_TYPES:
            for alias in (fact.reference, full_url):
                if isinstance(alias, str) and alias:
                    self._aliases.setdefault(alias, position)
        elif fact.resource_type == "MedicationAdministration" and fact.usable and fact.date is not None:
            when = max(fact.date, fact.end) if fact.end is not None else fact.date  # a period: its end
            evidence = (CourseEvidence(when, "administered", fact.reference),)
            self._signs.append((fact.codes, _references(res.get("request")), evidence))

    def add_dispense(self, res: dict[str, Any], reference: str) -> None:
        """A MedicationDispense of the patient: a sign of use when it was handed over or prepared."""
        if status_of(res) not in _DISPENSE_DONE or modifier_reason(res):
            return
        codes = drug_of(res, self._medications, self._memo)[0]
        evidence = course_dates(res, _DISPENSE_DATES, self._memo, reference)
        if evidence:
            self._signs.append((codes, _references(res.get("authorizingPrescription")), evidence))

    def apply(self, medications: list[ClinicalFact]) -> None:
        """Add to each course (in place in ``medications``) the signs of use that belong to it."""
        if not self._signs or not self._aliases:
            return
        courses = sorted(set(self._aliases.values()))
        by_code: dict[str, list[int]] = {}
        for position in courses:
            for code in medications[position].codes:
                by_code.setdefault(code, []).append(position)
        added: dict[int, list[CourseEvidence]] = {}
        for codes, named, evidence in self._signs:
            targets = {p for code in codes for p in by_code.get(code, ())}
            targets.update(p for ref in named if (p := self._course(ref)) is not None)
            for position in targets:
                added.setdefault(position, []).extend(evidence)
        for position, extra in added.items():
            fact = medications[position]
            merged = sorted((*fact.evidence, *extra), key=lambda e: e.date, reverse=True)
            medications[position] = replace(fact, evidence=tuple(merged))

    def _course(self, reference: str) -> int | None:
        found = self._aliases.get(reference)
        return found if found is not None else self._aliases.get(tail_reference(reference))


def _references(raw: Any) -> tuple[str, ...]:
    """The reference strings of a Reference or a list of them (junk ignored)."""
    items: Iterable[Any] = raw if isinstance(raw, list) else (raw,)
    return tuple(r["reference"] for r in items if isinstance(r, dict) and isinstance(r.get("reference"), str))
