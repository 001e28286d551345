"""What `evaluate` returns: one typed result per top-level criterion, and the verdict over them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from adapter.eligibility.outcome import Detail, Evidence, Result, Verdict, resolved
from adapter.vocabulary import system_name

__all__ = ["RESULTS", "CriterionResult", "Detail", "Evaluation", "UnrecognizedEntries"]

RESULTS: tuple[Result, ...] = ("pass", "fail", "unknown", "manual")


class CriterionResult:
    """One top-level criterion: its result, evidence and what would settle it; `reason` (English) is written on
    first access from what the engine found, so screening the ineligible majority formats none. Immutable."""

    __slots__ = ("_detail", "_reason", "codes", "evidence", "id", "missing", "result", "text", "type")

    id: str
    type: Literal["inclusion", "exclusion"]
    text: str
    result: Result
    codes: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    missing: tuple[str, ...]
    _detail: Detail | str | None  # a Detail, or the kind of reading for one made from the evidence
    _reason: str | Callable[[], str]

    def __init__(self, id: str, type: Literal["inclusion", "exclusion"], text: str, result: Result,
                 reason: str | Callable[[], str], codes: tuple[str, ...], evidence: tuple[Evidence, ...],
                 missing: tuple[str, ...] = (), detail: Detail | str | None = None) -> None:
        set_ = object.__setattr__
        set_(self, "id", id)
        set_(self, "type", type)
        set_(self, "text", text)
        set_(self, "result", result)
        set_(self, "_reason", reason)
        set_(self, "codes", codes)
        set_(self, "evidence", evidence)
        set_(self, "missing", missing)
        set_(self, "_detail", detail)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CriterionResult is immutable (tried to set {name})")

    @property
    def reason(self) -> str:
        return resolved(self, "_reason")

    @property
    def detail(self) -> Detail:
        """What decided it, as data; without a comparison (a combination, age, sex), the facts it cites."""
        detail = self._detail
        if isinstance(detail, Detail):
            return detail
        return Detail(detail or "combination", tuple(e.reference for e in self.evidence))

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled (a worker process's result) and copied with the reason written out."""
        return CriterionResult, (self.id, self.type, self.text, self.result, self.reason, self.codes, self.evidence,
                                 self.missing, self._detail)

    def _compared(self) -> tuple[object, ...]:
        return (self.id, self.type, self.text, self.result, self.reason, self.codes, self.evidence, self.missing)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CriterionResult) and self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        return (f"CriterionResult(id={self.id!r}, type={self.type!r}, result={self.result!r}, "
                f"reason={self.reason!r}, evidence={self.evidence!r}, missing={self.missing!r})")


@dataclass(frozen=True, slots=True)
class UnrecognizedEntries:
    """Record entries of one kind, coded only in code systems none of the trial's criteria of that kind uses:
    no criterion can read them. Every reference is kept (the report lists them all); the note names a few."""

    kind: str  # the record kind: "allergies", "conditions", ...
    singular: str  # how one is called: "allergy"
    systems: tuple[str, ...]  # the code systems they are coded in ('' for codings with no system)
    references: tuple[str, ...]
    texts: tuple[str | None, ...] = ()  # each entry's text, when it has one

    def note(self) -> str:
        """One sentence: "12 allergies coded only in SNOMED CT are not read by this trial's allergy criteria
        (AllergyIntolerance/a 'Peanut', /b, …: the first 5 of 12 listed; all in the report's
        unrecognized_entries)"."""
        count = len(self.references)
        what = self.singular if count == 1 else PLURALS.get(self.singular, self.kind)
        systems = " and ".join(system_name(s) if s else "no code system" for s in self.systems)
        listed = _listed(self.references[:LISTED], self.texts[:LISTED])
        if count > LISTED:
            listed += f", …: the first {LISTED} of {count} listed; all in the report's unrecognized_entries"
        verb = "is" if count == 1 else "are"
        return (f"{count} {what} coded only in {systems} {verb} not read by this trial's {self.singular} criteria "
                f"({listed}).")


LISTED = 5  # entries a note names; the report's `unrecognized_entries` has them all
PLURALS = {"allergy": "allergies", "condition": "conditions", "medication": "medications",
           "procedure": "procedures"}


def _listed(references: tuple[str, ...], texts: tuple[str | None, ...]) -> str:
    """References as a person reads a list of them: the resource type once while it repeats (AllergyIntolerance/a
    'Peanut', /b), each with its text."""
    shown: list[str] = []
    previous = None
    for index, reference in enumerate(references):
        kind, _, rest = reference.partition("/")
        text = texts[index] if index < len(texts) else None
        item = f"/{rest}" if kind == previous and rest else reference
        shown.append(f"{item} '{text}'" if text else item)
        previous = kind
    return ", ".join(shown)


@dataclass(frozen=True, slots=True)
class Evaluation:
    patient: str
    as_of: date
    verdict: Verdict
    criteria: tuple[CriterionResult, ...]
    notes: tuple[str, ...] = ()
    unrecognized: tuple[UnrecognizedEntries, ...] = ()

    @property
    def counts(self) -> dict[Result, int]:
        """How many criteria have each result, every result present (0 when none), in RESULTS order."""
        found = [c.result for c in self.criteria]
        return {r: found.count(r) for r in RESULTS}
