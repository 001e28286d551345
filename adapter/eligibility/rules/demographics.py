"""Age and administrative gender, from the Patient resource."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.eligibility.compare import COMPARATOR_SYMBOL, Interval, judge
from adapter.eligibility.outcome import Evidence, Outcome
from adapter.eligibility.rules.context import RuleContext

if TYPE_CHECKING:
    from adapter.eligibility.facts import PatientFacts


def age_span(facts: PatientFacts, as_of: date) -> tuple[int, int] | None:
    """Completed years on `as_of`, (youngest, oldest): equal unless the birth date is partial."""
    birth = facts.birth_date
    if birth is None:
        return None
    precision = facts.birth_date_precision or "day"
    if precision == "year":
        earliest, latest = date(birth.year, 1, 1), date(birth.year, 12, 31)
    elif precision == "month":
        next_month = date(birth.year + birth.month // 12, birth.month % 12 + 1, 1)
        earliest, latest = date(birth.year, birth.month, 1), next_month - timedelta(days=1)
    else:
        earliest = latest = birth

    def years(born: date) -> int:
        return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))

    return years(latest), years(earliest)


def age(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    span = age_span(ctx.facts, ctx.as_of)
    if span is None:
        return Outcome("unknown", "no birth date on the Patient", (), ("birth date",))
    youngest, oldest = span
    birth = ctx.facts.birth_date
    assert birth is not None
    shown = str(youngest) if youngest == oldest else f"{youngest}–{oldest}"
    partial = "" if youngest == oldest else f" (birth date known only to the {ctx.facts.birth_date_precision})"
    evidence = (
        Evidence(
            reference=ctx.facts.patient_ref,
            value=Decimal(youngest) if youngest == oldest else shown,
            unit="a",
            note=f"born {birth.isoformat()}{partial}",
        ),
    )
    quantity, value_range = definition.get("valueQuantity"), definition.get("valueRange")
    for q in filter(None, [quantity, *(value_range or {}).values()]):
        if (q.get("code") or "a") != "a":
            return Outcome("manual", f"age limit in {q.get('code')} is not interpreted", evidence)
    if quantity:
        criterion = Interval.satisfying(quantity.get("comparator") or ">=", Decimal(str(quantity["value"])))
        goal = f"{COMPARATOR_SYMBOL[quantity.get('comparator') or '>=']} {quantity['value']} years"
    elif value_range:
        low = value_range.get("low", {}).get("value")
        high = value_range.get("high", {}).get("value")
        criterion = Interval(
            None if low is None else Decimal(str(low)), True, None if high is None else Decimal(str(high)), True
        )
        goal = f"{low if low is not None else '…'}–{high if high is not None else '…'} years"
    else:
        return Outcome("manual", "age criterion without a value")
    ok = judge(Interval(Decimal(youngest), True, Decimal(oldest), True), criterion)
    if ok is None:
        return Outcome(
            "unknown", f"age {shown}{partial} cannot be compared with {goal}", evidence, ("full birth date",)
        )
    return Outcome("pass" if ok else "fail", f"age {shown} {'within' if ok else 'outside'} {goal}{partial}", evidence)


def gender(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    # Compared by code alone: administrative-gender codes are the only ones a Patient's gender can hold.
    wanted = {c.get("code") for c in (definition.get("valueCodeableConcept") or {}).get("coding", [])}
    recorded = ctx.facts.gender
    evidence = (Evidence(reference=ctx.facts.patient_ref, value=recorded),)
    if recorded not in ("male", "female"):
        return Outcome("unknown", f"administrative gender is {recorded or 'not recorded'}", evidence, ("sex",))
    ok = recorded in wanted
    return Outcome(
        "pass" if ok else "fail",
        f"sex {recorded}" + ("" if ok else f", not {'/'.join(sorted(wanted))}"),
        evidence,
    )
