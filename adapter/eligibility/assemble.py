"""From outcomes to the `Evaluation`: one `CriterionResult` per top-level criterion (its English written only when
read), the deceased criterion, the notes, the verdict. Shared by the compiled engine and the reference
interpreter, so both assemble the same way."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

from adapter.eligibility.outcome import Detail, Evidence, Outcome, verdict
from adapter.eligibility.prose import fragments, restated, sentence, unique
from adapter.eligibility.result import CriterionResult, Evaluation, UnrecognizedEntries

if TYPE_CHECKING:
    from adapter.eligibility.facts import PatientFacts

# The criterion every evaluation of a deceased patient starts with.
DECEASED_ID = "record-deceased"


def criterion_result(criterion_id: str, kind: Literal["inclusion", "exclusion"], text: str, outcome: Outcome,
                     codes: tuple[str, ...], reading: str | None = None) -> CriterionResult:
    """The outcome of a top-level characteristic as a criterion; its reason is written when first read.
    `reading`: the kind of its detail when the outcome carries none ("age", "combination", …)."""
    return CriterionResult(
        criterion_id,
        kind,
        text,
        outcome.result,
        lambda: not_restating(outcome, text).reason,
        codes,
        _unique(outcome.evidence),
        unique(outcome.missing) if outcome.missing else (),
        outcome.detail or reading,
    )


def not_restating(outcome: Outcome, text: str) -> Outcome:
    """A reason that only repeats the criterion's own text ("not recognized: <the text>", a manual note copied
    from it) says "for a person to decide" instead."""
    parts = tuple(restated(part, text) for part in outcome.fragments)
    if parts == outcome.fragments:
        return outcome
    parts = fragments(parts)
    return outcome.replace(reason=sentence(parts), parts=parts)


def same_either_way(facts: PatientFacts, male: Outcome, female: Outcome) -> Outcome:
    """With the sex not recorded, a criterion settled the same as a man and as a woman: that result."""
    recorded = facts.gender or "not recorded"
    evidence = (Evidence(reference=facts.patient_ref, value=facts.gender), *male.evidence, *female.evidence)

    def reason() -> str:
        return f"sex {recorded}, the same either way — as a man: {male.reason}; as a woman: {female.reason}"

    return Outcome(male.result, reason, evidence, anchor_date=male.anchor_date)


def evaluation_of(facts: PatientFacts, as_of: date, criteria: list[CriterionResult],
                  unread: list[UnrecognizedEntries]) -> Evaluation:
    """The criteria (a deceased patient's first criterion added), the notes and the verdict."""
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
    notes.extend(group.note() for group in unread)
    return Evaluation(
        patient=facts.patient_ref,
        as_of=as_of,
        criteria=tuple(criteria),
        verdict=verdict([c.result for c in criteria]),
        notes=tuple(notes),
        unrecognized=tuple(unread),
    )


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
        detail=Detail("deceased", (facts.patient_ref,)),
    )


def _unique(evidence: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    if len(evidence) < 2:
        return evidence
    seen: dict[str, Evidence] = {}
    for item in evidence:
        seen.setdefault(item.reference, item)
    return tuple(seen.values())
