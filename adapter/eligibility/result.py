"""What `evaluate` returns: one typed result per top-level criterion, and the verdict over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from adapter.eligibility.outcome import Evidence, Result, Verdict

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
class Evaluation:
    patient: str
    as_of: date
    verdict: Verdict
    criteria: tuple[CriterionResult, ...]
    notes: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[Result, int]:
        """How many criteria have each result, every result present (0 when none), in RESULTS order."""
        found = [c.result for c in self.criteria]
        return {r: found.count(r) for r in RESULTS}
