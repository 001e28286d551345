"""The eligibility engine: an R5 EvidenceVariable interpreted against a patient's facts. Pure, no I/O.

It reads any EvidenceVariable of this shape, not only ours:
- `definitionByCombination` (all-of, any-of, at-least, at-most) and `exclude` on any characteristic;
- `definitionByTypeAndValue` whose `type` is an observation code (any coding matches the patient's results),
  SNOMED 424144002 (age), 263495000 (gender), or a record-entry category — 439401001 Diagnosis,
  71388002 Procedure, 410942007 Drug or medicament, 609328004 Allergic disposition — with the item in
  `valueCodeableConcept` (a concept without coding is matched by name: each `;`-separated term of its text
  as a whole word in the record's text); a derived measure known to `EngineOptions.derived`;
- `valueQuantity` (with comparator), `valueRange`, `valueCodeableConcept`, `valueBoolean`;
- `offset` UNL: the value is a multiple of the result's own reference-range high (ULN);
- `timeFromEvent`: without `eventId` it is the look-back window before the evaluation date; with `eventId` it
  places the item relative to the date of the result another characteristic (that linkId) used;
- the project extension `record-entry-reading` (on the characteristic or its definitionByTypeAndValue):
  `history` and `partialCode` of a record-entry item (see `rules.record_entries`);
- the project modifier extension `record-entry-settles` on a record-entry characteristic: `absence` (a match is
  `unknown`, the entry cited for a person to weigh; no match is not met), `presence` (no match is `unknown`) or
  `neither` (`manual` either way, a match cited);
  any other modifier extension makes the characteristic `manual` (it may change what the definition means);
- anything else (definitionExpression, definitionCanonical, …, or no definition) is `manual`.

A patient recorded as deceased is ineligible for every trial: a criterion `record-deceased` comes first.

Absence: no result for a lab or vital is `unknown`; no Condition, medication, procedure or allergy on
record means not present (the problem list and medication history are the record of truth) — but an entry
that may be the item (named by it, a partial code, unconfirmed) makes the criterion `unknown`, and an entry
coded only in code systems the EvidenceVariable does not use is reported in the evaluation notes.

Sex not recorded: a criterion that is `unknown` is evaluated again as if the patient were male and as if
female; when both give the same settled result, that is the result ("QTc 500 ms is above both limits").

Each EvidenceVariable is compiled once per options object (`plan.compile_plan`, memoised) and the plan is walked
per patient (`evaluate_plan`); what a `definitionByTypeAndValue` means is in `adapter.eligibility.rules`. Reasons
are written only when read (`CriterionResult.reason`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from adapter.eligibility.assemble import DECEASED_ID, criterion_result, evaluation_of, same_either_way
from adapter.eligibility.interpret import Evaluator, combined, criterion_codes, settled
from adapter.eligibility.options import DerivedSpec, EngineOptions
from adapter.eligibility.outcome import Outcome, negate
from adapter.eligibility.plan import Combination, Inputs, Leaf, Node, TrialPlan, compile_plan
from adapter.eligibility.plan_entries import Hits
from adapter.eligibility.result import CriterionResult, Evaluation
from adapter.eligibility.rules import RuleContext
from adapter.eligibility.rules.observations import observation_outcome
from adapter.eligibility.rules.record_entries import entries_outcome

if TYPE_CHECKING:
    from adapter.eligibility.facts import PatientFacts

__all__ = [
    "DECEASED_ID",
    "CriterionResult",
    "DerivedSpec",
    "EngineOptions",
    "Evaluation",
    "Evaluator",
    "TrialPlan",
    "compile_plan",
    "criterion_codes",
    "evaluate",
    "evaluate_plan",
    "plan_of",
]


def evaluate(
    evidence_variable: Mapping[str, Any], facts: PatientFacts, as_of: date, options: EngineOptions | None = None
) -> Evaluation:
    """Every top-level characteristic of the EvidenceVariable as one criterion, and the verdict."""
    options = options or EngineOptions()
    return evaluate_plan(plan_of(evidence_variable, options), facts, as_of)


def plan_of(evidence_variable: Mapping[str, Any], options: EngineOptions) -> TrialPlan:
    """The EvidenceVariable compiled for `options`, once per options object (remembered in its memo)."""
    return options.memo.get(evidence_variable, "plan", lambda: compile_plan(evidence_variable, options))


def evaluate_plan(plan: TrialPlan, facts: PatientFacts, as_of: date) -> Evaluation:
    """Every criterion of the compiled trial on the patient's facts as of `as_of`, and the verdict."""
    walker = _Walker(plan, facts, as_of)
    by_sex: tuple[_Walker, _Walker] | None = None
    criteria = []
    for index, criterion in enumerate(plan.criteria):
        inputs = criterion.inputs
        empty = inputs is not None and walker.lacks(inputs)
        if empty and index in plan.without_data:
            criteria.append(plan.without_data[index])
            continue
        outcome = walker.outcome(criterion.node)
        if outcome.result == "unknown" and facts.gender not in ("male", "female"):
            if by_sex is None:
                by_sex = (_Walker(plan, replace(facts, gender="male"), as_of),
                          _Walker(plan, replace(facts, gender="female"), as_of))
            male, female = by_sex[0].outcome(criterion.node), by_sex[1].outcome(criterion.node)
            if male.result == female.result and male.result in ("pass", "fail"):
                outcome = same_either_way(facts, male, female)
        result = criterion_result(criterion.id, criterion.type, criterion.text, outcome, criterion.codes,
                                  criterion.reading)
        if empty:  # the same for every patient without these results and entries
            plan.without_data[index] = result
        criteria.append(result)
    unread = plan.entries.unrecognized(facts, walker.hits)
    return evaluation_of(facts, as_of, criteria, unread)


class _Walker:
    """One patient on one plan: each node's outcome once (a `timeFromEvent.eventId` anchor is evaluated once
    however many windows refer to it), the record entries looked up once per kind."""

    def __init__(self, plan: TrialPlan, facts: PatientFacts, as_of: date) -> None:
        self._plan = plan
        self._facts = facts
        self._memo: dict[int, Outcome] = {}
        self._hits: dict[str, Hits] = {}
        self._present: frozenset[str] | None = None  # the result codes the plan reads that the patient has
        self._asked: set[int] | None = None  # the queries some entry of the patient may match
        end_of_day = datetime.combine(as_of, time.max, UTC)
        self._context = RuleContext(facts, as_of, end_of_day, plan.options, plan.links, self._anchor)

    def _anchor(self, characteristic: Mapping[str, Any]) -> Outcome:
        return self.outcome(self._plan.node_of(characteristic))

    def outcome(self, node: Node) -> Outcome:
        key = id(node)
        found = self._memo.get(key)
        if found is None:
            found = self._evaluate(node)
            if node.exclude:
                found = negate(found, "meets exclusion: " if found.result == "pass" else "")
            self._memo[key] = found
        return found

    def _evaluate(self, node: Node) -> Outcome:
        if type(node) is Leaf:
            if node.query is not None:
                outcome = self._entries(node, node.query)
            elif node.read is not None:
                read = node.read
                if node.nothing is not None and read.codes_set.isdisjoint(self.present()):
                    return node.nothing
                outcome = observation_outcome(self._context, read.codes, read.label, read.lookback_days,
                                              node.definition, read.wanted)
            else:
                outcome = node.rule(self._context, node.definition, node.windows)
            return settled(outcome, node.settles, node.definition) if node.settles else outcome
        if type(node) is Combination:
            return combined(node.code, [self.outcome(child) for child in node.children], node.threshold)
        return node.outcome  # type: ignore[attr-defined]  # Fixed

    def _entries(self, node: Leaf, index: int) -> Outcome:
        query = self._plan.entries.queries[index]
        positions = self.hits(query.kind.name).get(index)
        if not positions and node.nothing is not None:
            return node.nothing
        entries = getattr(self._facts, query.kind.name)
        placed = node.window.placed(self._context) if node.window is not None else None
        return entries_outcome(self._context, query, node.windows, [entries[p] for p in positions or ()], placed)

    def lacks(self, inputs: Inputs) -> bool:
        """None of the results and record entries on record that `inputs` may read."""
        if not inputs.results.isdisjoint(self.present()):
            return False
        if self._asked is None:
            self._asked = {index for kind in self._plan.entries.kinds for index in self.hits(kind)}
        return inputs.entries.isdisjoint(self._asked)

    def present(self) -> frozenset[str]:
        if self._present is None:
            self._present = self._plan.reads.observation_codes.intersection(self._facts.observations)
        return self._present

    def hits(self, kind: str) -> Hits:
        found = self._hits.get(kind)
        if found is None:
            found = self._hits[kind] = self._plan.entries.hits(kind, getattr(self._facts, kind))
        return found
