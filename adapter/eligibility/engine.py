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

This module only walks the structure; what a `definitionByTypeAndValue` means is in `adapter.eligibility.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from adapter.eligibility.options import DerivedSpec, EngineOptions
from adapter.eligibility.outcome import Evidence, Outcome, combine, negate, verdict
from adapter.eligibility.prose import fragments, restated, sentence, unique
from adapter.eligibility.result import CriterionResult, Evaluation
from adapter.eligibility.rules import RuleContext, rule_for
from adapter.eligibility.rules.record_entries import unrecognized_entries
from adapter.vocabulary import CANONICAL_BASE, RECORD_KIND_BY_TYPE_TOKEN, coding_tokens

if TYPE_CHECKING:
    from adapter.eligibility.facts import PatientFacts

# The project's modifier extension (defined in adapter.fhir_build.definitions): which way a record entry settles.
SETTLES_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/record-entry-settles"

# The criterion every evaluation of a deceased patient starts with.
DECEASED_ID = "record-deceased"

__all__ = [
    "DECEASED_ID",
    "CriterionResult",
    "DerivedSpec",
    "EngineOptions",
    "Evaluation",
    "Evaluator",
    "criterion_codes",
    "evaluate",
]


def evaluate(
    evidence_variable: Mapping[str, Any], facts: PatientFacts, as_of: date, options: EngineOptions | None = None
) -> Evaluation:
    """Every top-level characteristic of the EvidenceVariable as one criterion, and the verdict."""
    options = options or EngineOptions()
    evaluator = Evaluator(evidence_variable, facts, as_of, options)
    by_sex = _SexCases(evidence_variable, facts, as_of, options)
    criteria = []
    for index, characteristic in enumerate(evidence_variable.get("characteristic", [])):
        outcome = evaluator.characteristic(characteristic)
        if outcome.result == "unknown":
            outcome = by_sex.settle(index, outcome)
        outcome = _not_restating(outcome, characteristic.get("description") or "")
        criteria.append(
            CriterionResult(
                id=characteristic.get("linkId") or f"criterion-{index + 1}",
                type="exclusion" if characteristic.get("exclude") else "inclusion",
                text=characteristic.get("description") or "",
                result=outcome.result,
                reason=outcome.reason,
                codes=_codes_of(characteristic, evaluator.context.options),
                evidence=_unique(outcome.evidence),
                missing=unique(outcome.missing),
            )
        )
    notes = []
    if facts.deceased:
        died = facts.deceased_date
        if died is None or died.date() <= as_of:
            criteria.insert(0, _deceased(facts))
        else:
            notes.append(f"The patient is recorded as deceased on {died.date().isoformat()}, after the evaluation "
                         "date.")
    if facts.foreign:
        count = len(facts.foreign)
        notes.append(f"{count} {'resource' if count == 1 else 'resources'} belonging to another patient "
                     f"{'was' if count == 1 else 'were'} ignored.")
    unread = unrecognized_entries(evidence_variable, facts, evaluator.context.options)
    notes.extend(group.note() for group in unread)
    return Evaluation(
        patient=facts.patient_ref,
        as_of=as_of,
        criteria=tuple(criteria),
        verdict=verdict([c.result for c in criteria]),
        notes=tuple(notes),
        unrecognized=tuple(unread),
    )


def _not_restating(outcome: Outcome, text: str) -> Outcome:
    """A reason that only repeats the criterion's own text ("not recognized: <the text>", a manual note copied
    from it) says "for a person to decide" instead."""
    parts = tuple(restated(part, text) for part in outcome.fragments)
    if parts == outcome.fragments:
        return outcome
    parts = fragments(parts)
    return replace(outcome, reason=sentence(parts), parts=parts)


def _deceased(facts: PatientFacts) -> CriterionResult:
    """Whatever the trial: a patient recorded as deceased cannot enroll."""
    when = facts.deceased_date
    shown = f"on {when.date().isoformat()}" if when else "(deceasedBoolean true)"
    return CriterionResult(
        id=DECEASED_ID,
        type="exclusion",
        text="The patient is recorded as deceased (Patient.deceased[x]).",
        result="fail",
        reason=f"recorded as deceased {shown}",
        codes=(),
        evidence=(Evidence(reference=facts.patient_ref, value="deceased", date=when),),
    )


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
        cases = {sex: e.characteristic(characteristic) for sex, e in self._evaluators.items()}
        male, female = cases["male"], cases["female"]
        if male.result != female.result or male.result not in ("pass", "fail"):
            return outcome
        recorded = facts.gender or "not recorded"
        reason = f"sex {recorded}, the same either way — as a man: {male.reason}; as a woman: {female.reason}"
        evidence = (Evidence(reference=facts.patient_ref, value=facts.gender), *male.evidence, *female.evidence)
        return Outcome(male.result, reason, evidence, anchor_date=male.anchor_date)


def _unique(evidence: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    seen: dict[str, Evidence] = {}
    for item in evidence:
        seen.setdefault(item.reference, item)
    return tuple(seen.values())


def _with_extensions(characteristic: Mapping[str, Any]) -> Mapping[str, Any]:
    """The characteristic's definitionByTypeAndValue, with the characteristic's extensions, which speak for it too."""
    definition: Mapping[str, Any] = characteristic["definitionByTypeAndValue"]
    if characteristic.get("extension"):
        extensions = [*(definition.get("extension") or ()), *characteristic["extension"]]
        definition = {**definition, "extension": extensions}
    return definition


def _codes_of(characteristic: Mapping[str, Any], options: EngineOptions) -> tuple[str, ...]:
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
        by_link: dict[str, Mapping[str, Any]] = {}
        _index(variable.get("characteristic", []), by_link)
        end_of_day = datetime.combine(as_of, time.max, UTC)
        self.context = RuleContext(facts, as_of, end_of_day, options, by_link, self.characteristic)

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
        settles = _settles(modifiers) if modifiers else None
        if modifiers and (settles is None or "definitionByTypeAndValue" not in characteristic):
            # A modifier may change what the definition means: one we cannot apply leaves it to a person.
            urls = ", ".join(str(m.get("url")) for m in modifiers if isinstance(m, dict)) or "malformed"
            return Outcome("manual", f"a modifier extension this engine does not interpret here ({urls})")
        if "definitionByCombination" in characteristic:
            return self._combination(characteristic["definitionByCombination"])
        if "definitionByTypeAndValue" in characteristic:
            definition = self.context.options.memo.get(characteristic, "definition",
                                                       lambda: _with_extensions(characteristic))
            rule = rule_for(definition, self.context)
            outcome = rule(self.context, definition, characteristic.get("timeFromEvent", []))
            return _settled(outcome, settles, definition) if settles else outcome
        return _not_interpreted(characteristic)

    def _combination(self, combination: Mapping[str, Any]) -> Outcome:
        children = [self.characteristic(c) for c in combination.get("characteristic", [])]
        result = combine(combination.get("code", ""), children, combination.get("threshold"))
        code = combination.get("code", "")
        decided_early = (code == "all-of" and result == "fail") or (code == "any-of" and result == "pass")
        deciding = [c for c in children if c.result == result] if decided_early else children
        # Evidence of the children that decided, so a passing "or" shows the result it passed on.
        evidence = tuple(e for c in deciding for e in c.evidence)
        missing = tuple(m for c in children if c.result == "unknown" for m in c.missing)
        anchor = next((c.anchor_date for c in children if c.anchor_date), None)
        # The same words twice ("no Liver metastasis recorded" from both ALT and AST), at any depth, say nothing
        # more: the fragments of nested combinations are deduplicated together.
        parts = fragments(f for c in deciding for f in c.fragments)
        return Outcome(result, sentence(parts), evidence, missing, anchor, parts)


def _index(characteristics: list[Mapping[str, Any]], by_link: dict[str, Mapping[str, Any]]) -> None:
    for c in characteristics:
        if c.get("linkId"):
            by_link[c["linkId"]] = c
        _index((c.get("definitionByCombination") or {}).get("characteristic", []), by_link)


def _settles(modifiers: Any) -> str | None:
    """`absence`, `presence` or `neither` when the only modifier is ours with a code we know; None otherwise."""
    if not isinstance(modifiers, list) or len(modifiers) != 1 or not isinstance(modifiers[0], dict):
        return None
    only = modifiers[0]
    code = only.get("valueCode")
    return code if only.get("url") == SETTLES_EXTENSION and code in ("absence", "presence", "neither") else None


def _settled(outcome: Outcome, settles: str, definition: Mapping[str, Any]) -> Outcome:
    """A record-entry outcome read one way only: the other result is unknown, for a person."""
    if RECORD_KIND_BY_TYPE_TOKEN.keys().isdisjoint(coding_tokens(definition.get("type"))):
        return Outcome("manual", "record-entry-settles on a characteristic that is not a record entry")
    if settles == "neither":
        return replace(outcome, result="manual", missing=())
    if settles == "absence" and outcome.result == "pass":
        cited = ", ".join(e.reference for e in outcome.evidence)
        return replace(
            outcome,
            result="unknown",
            reason=f"{outcome.reason} ({cited}) — bears on this criterion: a person weighs it",
            missing=(*outcome.missing, "review of the recorded entry"),
        )
    if settles == "presence" and outcome.result == "fail":
        label = (definition.get("valueCodeableConcept") or {}).get("text") or "the item"
        return replace(
            outcome,
            result="unknown",
            reason=f"{outcome.reason}; it may be recorded under other names or codes — confirm",
            missing=(*outcome.missing, f"confirmation of {label.split(';')[0].strip()}"),
        )
    return outcome


def _not_interpreted(characteristic: Mapping[str, Any]) -> Outcome:
    """definitionExpression, definitionCanonical, … or no definition: for a person to decide."""
    notes = [n.get("text") for n in characteristic.get("note", []) if n.get("text")]
    other = next((k for k in characteristic if k.startswith("definition")), None)
    reason = notes[0] if notes else (characteristic.get("description") or "needs review")
    if other:
        parts = (f"{other} is not interpreted by this engine", reason)
        return Outcome("manual", sentence(parts), parts=parts)
    return Outcome("manual", reason)
