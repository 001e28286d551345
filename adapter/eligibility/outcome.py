"""What the engine says about a criterion: four-valued results, their evidence, and how they combine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from adapter.eligibility.prose import sentence

Result = Literal["pass", "fail", "unknown", "manual"]
Verdict = Literal["ineligible", "insufficient-data", "potentially-eligible"]
FLIPPED: dict[Result, Result] = {"pass": "fail", "fail": "pass"}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of patient data behind a result, traceable to its resource."""

    reference: str
    value: Decimal | str | None = None
    unit: str | None = None
    date: datetime | None = None
    normalized_value: Decimal | None = None
    normalized_unit: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    reason: str
    evidence: tuple[Evidence, ...] = ()
    # What data would settle an `unknown` (e.g. "Hemoglobin (http://loinc.org|718-7)").
    missing: tuple[str, ...] = ()
    anchor_date: datetime | None = field(default=None, compare=False)
    # The fragments the reason was joined from (a combination's), so that nesting does not repeat them.
    parts: tuple[str, ...] = field(default=(), compare=False)

    @property
    def fragments(self) -> tuple[str, ...]:
        """The reason's fragments: its parts while the reason is still their sentence, else the whole reason."""
        return self.parts if self.parts and sentence(self.parts) == self.reason else (self.reason,)


def negate(outcome: Outcome, prefix: str) -> Outcome:
    """`exclude`: a matching characteristic fails the criterion; unknown and manual stay as they are."""
    flipped: Result = FLIPPED.get(outcome.result, outcome.result)
    parts = () if prefix else outcome.parts
    return Outcome(flipped, f"{prefix}{outcome.reason}", outcome.evidence, outcome.missing, outcome.anchor_date, parts)


def combine(code: str, outcomes: list[Outcome], threshold: int | None = None) -> Result:
    """all-of / any-of / at-least / at-most over four-valued results.

    A `fail` decides all-of and a `pass` decides any-of; otherwise what data could still settle
    (`unknown`) outranks what only a person can (`manual`).
    """
    results = [o.result for o in outcomes]
    passed, failed = results.count("pass"), results.count("fail")
    open_ = len(results) - passed - failed
    if code == "all-of":
        threshold, code = len(results), "at-least"
    elif code == "any-of":
        threshold, code = 1, "at-least"
    if threshold is None:
        return "manual"
    if code == "at-least":
        if passed >= threshold:
            return "pass"
        if passed + open_ < threshold:
            return "fail"
    elif code == "at-most":
        if passed > threshold:
            return "fail"
        if passed + open_ <= threshold:
            return "pass"
    else:
        return "manual"
    return "unknown" if "unknown" in results else "manual"


def verdict(results: list[Result]) -> Verdict:
    if "fail" in results:
        return "ineligible"
    if "unknown" in results:
        return "insufficient-data"
    return "potentially-eligible"
