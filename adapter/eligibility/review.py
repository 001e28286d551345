"""A reading no person has reviewed never decides alone: a criterion whose mapping carries `needs_review` is held
at `unknown` until someone removes the flag.

A post-step on the engine's result, so the engine stays unaware of review: the criterion keeps its evidence and
the engine's reason follows "drafted reading not reviewed: " (so the value read is still shown, and what the
drafted reading would have said); `manual` and `unknown` stay as they are; the verdict is recomputed from the
adjusted results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import NamedTuple, Protocol

from adapter.eligibility.outcome import verdict
from adapter.eligibility.result import CriterionResult, Evaluation

HELD = "drafted reading not reviewed"


class Reviewable(Protocol):
    """A mapping's criterion as far as review goes (adapter.mapping.model.Criterion)."""

    @property
    def id(self) -> str: ...

    @property
    def needs_review(self) -> str | None: ...


class Flag(NamedTuple):
    """A criterion flagged for review, as a trial keeps it (`Trial.review_flags`)."""

    id: str
    needs_review: str | None


def hold_unreviewed(evaluation: Evaluation, criteria: Iterable[Reviewable]) -> Evaluation:
    """`evaluation` with every pass/fail of a criterion flagged `needs_review` in `criteria` made unknown."""
    flagged = {c.id for c in criteria if c.needs_review}
    if not any(c.id in flagged and c.result in ("pass", "fail") for c in evaluation.criteria):
        return evaluation  # the common case (reviewed mappings): the very same object
    held = tuple(_held(c) if c.id in flagged and c.result in ("pass", "fail") else c for c in evaluation.criteria)
    return replace(evaluation, criteria=held, verdict=verdict([c.result for c in held]))


def _held(criterion: CriterionResult) -> CriterionResult:
    def reason() -> str:  # written when first read, like the engine's own reasons
        return f"{HELD}: {criterion.reason} (as drafted: {criterion.result})"

    return CriterionResult(criterion.id, criterion.type, criterion.text, "unknown", reason, criterion.codes,
                           criterion.evidence, criterion.missing, criterion.detail)
