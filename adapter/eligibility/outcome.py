"""What the engine says about a criterion: four-valued results, their evidence, and how they combine.

A reason is English for a person, and most are never read (screening keeps the verdict of the ineligible
majority): an `Outcome` may carry its reason — and the fragments it joins — as a function that writes it, called
on first access and kept. The text is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from adapter.eligibility.prose import sentence

Result = Literal["pass", "fail", "unknown", "manual"]
Verdict = Literal["ineligible", "insufficient-data", "potentially-eligible"]
FLIPPED: dict[Result, Result] = {"pass": "fail", "fail": "pass"}
# A reason, or what writes it when it is first read.
Reason = str | Callable[[], str]
Parts = tuple[str, ...] | Callable[[], tuple[str, ...]]


def resolved(owner: object, slot: str) -> Any:
    """A lazily written attribute of an immutable result: a callable there is called once (the English of a
    reason is written only when someone reads it) and its value kept in its place."""
    value = getattr(owner, slot)
    if callable(value):
        value = value()
        object.__setattr__(owner, slot, value)
    return value


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
class Detail:
    """What decided a criterion, as data: the kind of reading, the facts it used, and — for a comparison — the
    value as compared, the comparator and the threshold. The English reason is written from the same reading."""

    kind: str  # "observation", "derived", "age", "gender", "record-entry", "combination", "manual", "deceased"
    facts: tuple[str, ...] = ()  # references of the resources used
    value: Decimal | None = None  # the value as compared (in `unit`)
    unit: str | None = None
    comparator: str | None = None  # the criterion's: "<", "<=", ">=", ">", "within"
    threshold: Decimal | None = None  # the limit compared with (a ULN multiple already applied)
    low: Decimal | None = None  # a range's ends, for "within"
    high: Decimal | None = None


class Outcome:
    """A result, its reason (written on first access), its evidence and what would settle it. Immutable."""

    __slots__ = ("_parts", "_reason", "anchor_date", "detail", "evidence", "missing", "result")

    result: Result
    evidence: tuple[Evidence, ...]
    # What data would settle an `unknown` (e.g. "Hemoglobin (http://loinc.org|718-7)").
    missing: tuple[str, ...]
    anchor_date: datetime | None  # not compared: the date of the result a window may be placed by
    _reason: Reason
    _parts: Parts
    detail: Detail | None  # not compared: what decided it, as data

    def __init__(self, result: Result, reason: Reason, evidence: tuple[Evidence, ...] = (),
                 missing: tuple[str, ...] = (), anchor_date: datetime | None = None, parts: Parts = (),
                 detail: Detail | None = None) -> None:
        set_ = object.__setattr__
        set_(self, "result", result)
        set_(self, "_reason", reason)
        set_(self, "evidence", evidence)
        set_(self, "missing", missing)
        set_(self, "anchor_date", anchor_date)
        # The fragments the reason was joined from (a combination's), so that nesting does not repeat them.
        set_(self, "_parts", parts)
        set_(self, "detail", detail)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Outcome is immutable (tried to set {name})")

    @property
    def reason(self) -> str:
        return resolved(self, "_reason")

    @property
    def parts(self) -> tuple[str, ...]:
        return resolved(self, "_parts")

    @property
    def fragments(self) -> tuple[str, ...]:
        """The reason's fragments: its parts while the reason is still their sentence, else the whole reason."""
        parts = self.parts
        return parts if parts and sentence(parts) == self.reason else (self.reason,)

    def replace(self, **changes: Any) -> Outcome:
        """A copy with `changes` (result, reason, evidence, missing, anchor_date, parts); a reason not changed
        stays unwritten, and keeps its parts."""
        return Outcome(
            changes.get("result", self.result),
            changes.get("reason", self._reason),
            changes.get("evidence", self.evidence),
            changes.get("missing", self.missing),
            changes.get("anchor_date", self.anchor_date),
            changes.get("parts", self._parts),
            changes.get("detail", self.detail),
        )

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled and copied with the reason and its parts written out."""
        return Outcome, (self.result, self.reason, self.evidence, self.missing, self.anchor_date, self.parts,
                         self.detail)

    def _compared(self) -> tuple[object, ...]:
        return self.result, self.reason, self.evidence, self.missing

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outcome) and self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        return (f"Outcome(result={self.result!r}, reason={self.reason!r}, evidence={self.evidence!r}, "
                f"missing={self.missing!r})")


def negate(outcome: Outcome, prefix: str) -> Outcome:
    """`exclude`: a matching characteristic fails the criterion; unknown and manual stay as they are."""
    flipped: Result = FLIPPED.get(outcome.result, outcome.result)
    reason: Reason = (lambda: f"{prefix}{outcome.reason}") if prefix else outcome._reason
    parts: Parts = () if prefix else outcome._parts
    return Outcome(flipped, reason, outcome.evidence, outcome.missing, outcome.anchor_date, parts, outcome.detail)


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
