"""What `evaluate` returns: one typed result per top-level criterion, and the verdict over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from adapter.eligibility.outcome import Evidence, Result, Verdict
from adapter.vocabulary import system_name

RESULTS: tuple[Result, ...] = ("pass", "fail", "unknown", "manual")


@dataclass(frozen=True, slots=True)
class CriterionResult:
    id: str
    type: Literal["inclusion", "exclusion"]
    text: str
    result: Result
    reason: str
    codes: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    missing: tuple[str, ...] = ()


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
