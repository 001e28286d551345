"""The reference interpreter: the EvidenceVariable's JSON walked anew for every patient — how the engine worked
before trials were compiled (`plan`). It is the yardstick the compiled engine is tested and benchmarked against
(same results, same words), and home of the readings of a characteristic's JSON both share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from adapter.eligibility.assemble import criterion_result, evaluation_of, same_either_way
from adapter.eligibility.options import EngineOptions
from adapter.eligibility.outcome import Outcome, combine, negate
from adapter.eligibility.prose import fragments, sentence
from adapter.eligibility.result import Evaluation
from adapter.eligibility.rules import RuleContext, rule_for
from adapter.eligibility.rules.record_entries import unrecognized_entries
from adapter.vocabulary import CANONICAL_BASE, RECORD_KIND_BY_TYPE_TOKEN, coding_tokens

if TYPE_CHECKING:
    from adapter.eligibility.facts import PatientFacts

# The project's modifier extension (defined in adapter.fhir_build.definitions): which way a record entry settles.
SETTLES_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/record-entry-settles"


def interpret(
    evidence_variable: Mapping[str, Any], facts: PatientFacts, as_of: date, options: EngineOptions | None = None
) -> Evaluation:
    """Every top-level characteristic of the EvidenceVariable as one criterion, and the verdict (no plan)."""
    options = options or EngineOptions()
    evaluator = Evaluator(evidence_variable, facts, as_of, options)
    by_sex = _SexCases(evidence_variable, facts, as_of, options)
    criteria = []
    for index, characteristic in enumerate(evidence_variable.get("characteristic", [])):
        outcome = evaluator.characteristic(characteristic)
        if outcome.result == "unknown":
            outcome = by_sex.settle(index, outcome)
        criteria.append(criterion_result(
            characteristic.get("linkId") or f"criterion-{index + 1}",
            "exclusion" if characteristic.get("exclude") else "inclusion",
            characteristic.get("description") or "",
            outcome,
            codes_of(characteristic, options),
        ))
    unread = unrecognized_entries(evidence_variable, facts, options)
    return evaluation_of(facts, as_of, criteria, unread)


class _SexCases:
    """With the sex not recorded: the criteria evaluated as if male and as if female, on demand."""

    def __init__(self, variable: Mapping[str, Any], facts: PatientFacts, as_of: date, options: EngineOptions) -> None:
        self._args = (variable, facts, as_of, options)
        self._evaluators: dict[str, Evaluator] | None = None

    def settle(self, index: int, outcome: Outcome) -> Outcome:
        variable, facts, as_of, options = self._args
        if facts.gender in ("male", "female"):
            return outcome
        if self._evaluators is None:
            self._evaluators = {
                sex: Evaluator(variable, replace(facts, gender=sex), as_of, options) for sex in ("male", "female")
            }
        characteristic = variable["characteristic"][index]
        male, female = (self._evaluators[sex].characteristic(characteristic) for sex in ("male", "female"))
        if male.result != female.result or male.result not in ("pass", "fail"):
            return outcome
        return same_either_way(facts, male, female)


def with_extensions(characteristic: Mapping[str, Any]) -> Mapping[str, Any]:
    """The characteristic's definitionByTypeAndValue, with the characteristic's extensions, which speak for it too."""
    definition: Mapping[str, Any] = characteristic["definitionByTypeAndValue"]
    if characteristic.get("extension"):
        extensions = [*(definition.get("extension") or ()), *characteristic["extension"]]
        definition = {**definition, "extension": extensions}
    return definition


def codes_of(characteristic: Mapping[str, Any], options: EngineOptions) -> tuple[str, ...]:
    return options.memo.get(characteristic, "codes", lambda: tuple(criterion_codes(characteristic, options)))


def criterion_codes(characteristic: Mapping[str, Any], options: EngineOptions) -> list[str]:
    """Every code the characteristic accepts, as system|code."""
    found: list[str] = []
    by_type = characteristic.get("definitionByTypeAndValue")
    if by_type:
        types = coding_tokens(by_type.get("type"))
        if any(t in RECORD_KIND_BY_TYPE_TOKEN for t in types):
            found += coding_tokens(by_type.get("valueCodeableConcept"))
        else:
            found += types
        for type_token in types:
            spec = options.derived.get(type_token)
            if spec:
                found += [*spec.creatinine_codes, *spec.weight_codes]
    for child in (characteristic.get("definitionByCombination") or {}).get("characteristic", []):
        found += criterion_codes(child, options)
    return list(dict.fromkeys(found))


class Evaluator:
    """Walks the characteristics (combinations, exclusions) and hands each type-and-value to its rule.

    One per evaluation: it memoises each characteristic's outcome, so a `timeFromEvent.eventId` anchor is
    evaluated once however many windows refer to it.
    """

    def __init__(self, variable: Mapping[str, Any], facts: PatientFacts, as_of: date, options: EngineOptions) -> None:
        self._memo: dict[int, Outcome] = {}
        end_of_day = datetime.combine(as_of, time.max, UTC)
        self.context = RuleContext(facts, as_of, end_of_day, options, links(variable), self.characteristic)

    def characteristic(self, characteristic: Mapping[str, Any]) -> Outcome:
        key = id(characteristic)  # the variable outlives the evaluator, so ids are stable
        if key not in self._memo:
            outcome = self._definition(characteristic)
            if characteristic.get("exclude"):
                outcome = negate(outcome, "meets exclusion: " if outcome.result == "pass" else "")
            self._memo[key] = outcome
        return self._memo[key]

    def _definition(self, characteristic: Mapping[str, Any]) -> Outcome:
        modifiers = characteristic.get("modifierExtension")
        settles = settles_of(modifiers) if modifiers else None
        if modifiers and (settles is None or "definitionByTypeAndValue" not in characteristic):
            return modifier_not_interpreted(modifiers)
        if "definitionByCombination" in characteristic:
            return self._combination(characteristic["definitionByCombination"])
        if "definitionByTypeAndValue" in characteristic:
            definition = self.context.options.memo.get(characteristic, "definition",
                                                       lambda: with_extensions(characteristic))
            rule = rule_for(definition, self.context)
            outcome = rule(self.context, definition, characteristic.get("timeFromEvent", []))
            if settles and not is_record_entry(definition):
                return NOT_A_RECORD_ENTRY
            return settled(outcome, settles, definition) if settles else outcome
        return not_interpreted(characteristic)

    def _combination(self, combination: Mapping[str, Any]) -> Outcome:
        children = [self.characteristic(c) for c in combination.get("characteristic", [])]
        return combined(combination.get("code", ""), children, combination.get("threshold"))


def combined(code: str, children: list[Outcome], threshold: int | None) -> Outcome:
    """all-of, any-of, at-least, at-most over the children's outcomes, with the evidence and words that decided."""
    result = combine(code, children, threshold)
    decided_early = (code == "all-of" and result == "fail") or (code == "any-of" and result == "pass")
    deciding = [c for c in children if c.result == result] if decided_early else children
    # Evidence of the children that decided, so a passing "or" shows the result it passed on.
    evidence = tuple(e for c in deciding for e in c.evidence)
    missing = tuple(m for c in children if c.result == "unknown" for m in c.missing)
    anchor = next((c.anchor_date for c in children if c.anchor_date), None)

    # The same words twice ("no Liver metastasis recorded" from both ALT and AST), at any depth, say nothing
    # more: the fragments of nested combinations are deduplicated together.
    def parts() -> tuple[str, ...]:
        return fragments(f for c in deciding for f in c.fragments)

    def reason() -> str:
        return sentence(outcome.parts)

    outcome = Outcome(result, reason, evidence, missing, anchor, parts)
    return outcome


def links(variable: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every characteristic with a linkId, nested ones too (a later one with the same linkId wins)."""
    by_link: dict[str, Mapping[str, Any]] = {}
    _index(variable.get("characteristic", []), by_link)
    return by_link


def _index(characteristics: list[Mapping[str, Any]], by_link: dict[str, Mapping[str, Any]]) -> None:
    for c in characteristics:
        if c.get("linkId"):
            by_link[c["linkId"]] = c
        _index((c.get("definitionByCombination") or {}).get("characteristic", []), by_link)


def settles_of(modifiers: Any) -> str | None:
    """`absence`, `presence` or `neither` when the only modifier is ours with a code we know; None otherwise."""
    if not isinstance(modifiers, list) or len(modifiers) != 1 or not isinstance(modifiers[0], dict):
        return None
    only = modifiers[0]
    code = only.get("valueCode")
    return code if only.get("url") == SETTLES_EXTENSION and code in ("absence", "presence", "neither") else None


def modifier_not_interpreted(modifiers: Any) -> Outcome:
    """A modifier may change what the definition means: one we cannot apply leaves it to a person."""
    urls = ", ".join(str(m.get("url")) for m in modifiers if isinstance(m, dict)) or "malformed"
    return Outcome("manual", f"a modifier extension this engine does not interpret here ({urls})")


def is_record_entry(definition: Mapping[str, Any]) -> bool:
    return not RECORD_KIND_BY_TYPE_TOKEN.keys().isdisjoint(coding_tokens(definition.get("type")))


NOT_A_RECORD_ENTRY = Outcome("manual", "record-entry-settles on a characteristic that is not a record entry")


def settled(outcome: Outcome, settles: str, definition: Mapping[str, Any]) -> Outcome:
    """A record-entry outcome read one way only: the other result is unknown, for a person."""
    if settles == "neither":
        return outcome.replace(result="manual", missing=())
    if settles == "absence" and outcome.result == "pass":
        cited = ", ".join(e.reference for e in outcome.evidence)
        return outcome.replace(
            result="unknown",
            reason=lambda: f"{outcome.reason} ({cited}) — bears on this criterion: a person weighs it",
            missing=(*outcome.missing, "review of the recorded entry"),
        )
    if settles == "presence" and outcome.result == "fail":
        label = (definition.get("valueCodeableConcept") or {}).get("text") or "the item"
        return outcome.replace(
            result="unknown",
            reason=lambda: f"{outcome.reason}; it may be recorded under other names or codes — confirm",
            missing=(*outcome.missing, f"confirmation of {label.split(';')[0].strip()}"),
        )
    return outcome


def not_interpreted(characteristic: Mapping[str, Any]) -> Outcome:
    """definitionExpression, definitionCanonical, … or no definition: for a person to decide."""
    notes = [n.get("text") for n in characteristic.get("note", []) if n.get("text")]
    other = next((k for k in characteristic if k.startswith("definition")), None)
    reason = notes[0] if notes else (characteristic.get("description") or "needs review")
    if other:
        parts = (f"{other} is not interpreted by this engine", reason)
        return Outcome("manual", sentence(parts), parts=parts)
    return Outcome("manual", reason)
