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


AGE_UNITS = {"a": "years", "mo": "months", "wk": "weeks", "d": "days"}  # UCUM units of a record's age limits


def _birth_bounds(facts: PatientFacts) -> tuple[date, date] | None:
    """The earliest and latest possible birth dates (equal unless the birth date is partial)."""
    birth = facts.birth_date
    if birth is None:
        return None
    precision = facts.birth_date_precision or "day"
    if precision == "year":
        return date(birth.year, 1, 1), date(birth.year, 12, 31)
    if precision == "month":
        next_month = date(birth.year + birth.month // 12, birth.month % 12 + 1, 1)
        return date(birth.year, birth.month, 1), next_month - timedelta(days=1)
    return birth, birth


def completed(unit: str, born: date, as_of: date) -> int:
    """Completed years, months, weeks or days of age on `as_of`."""
    if unit in ("wk", "d"):
        elapsed = (as_of - born).days
        return elapsed // 7 if unit == "wk" else elapsed
    months = (as_of.year - born.year) * 12 + as_of.month - born.month - (as_of.day < born.day)
    return months if unit == "mo" else months // 12


def age_span(facts: PatientFacts, as_of: date, unit: str = "a") -> tuple[int, int] | None:
    """Completed years (or `unit`) on `as_of`, (youngest, oldest): equal unless the birth date is partial."""
    bounds = _birth_bounds(facts)
    if bounds is None:
        return None
    earliest, latest = bounds
    return completed(unit, latest, as_of), completed(unit, earliest, as_of)


def _age_unit(definition: Mapping[str, Any]) -> str | None:
    """The one unit of the age limits (a, mo, wk, d), or None when they use another or several."""
    quantity, value_range = definition.get("valueQuantity"), definition.get("valueRange")
    units = {(q.get("code") or "a") for q in filter(None, [quantity, *(value_range or {}).values()])}
    unit = units.pop() if len(units) == 1 else ("a" if not units else None)
    return unit if unit in AGE_UNITS else None


def age(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    unit = _age_unit(definition)
    span = age_span(ctx.facts, ctx.as_of, unit or "a")
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
            unit=unit or "a",
            note=f"born {birth.isoformat()}{partial}",
        ),
    )
    if unit is None:
        return Outcome("manual", "age limits in units other than years, months, weeks or days are not interpreted",
                       evidence)
    words = AGE_UNITS[unit]
    quantity, value_range = definition.get("valueQuantity"), definition.get("valueRange")
    if quantity:
        criterion = Interval.satisfying(quantity.get("comparator") or ">=", Decimal(str(quantity["value"])))
        goal = f"{COMPARATOR_SYMBOL[quantity.get('comparator') or '>=']} {quantity['value']} {words}"
    elif value_range:
        low = value_range.get("low", {}).get("value")
        high = value_range.get("high", {}).get("value")
        criterion = Interval(
            None if low is None else Decimal(str(low)), True, None if high is None else Decimal(str(high)), True
        )
        goal = f"{low if low is not None else '…'}–{high if high is not None else '…'} {words}"
    else:
        return Outcome("manual", "age criterion without a value")
    ok = judge(Interval(Decimal(youngest), True, Decimal(oldest), True), criterion)
    age_text = f"age {shown}" if unit == "a" else f"age {shown} {words}"
    if ok is None:
        return Outcome(
            "unknown", f"{age_text}{partial} cannot be compared with {goal}", evidence, ("full birth date",)
        )
    return Outcome("pass" if ok else "fail", f"{age_text} {'within' if ok else 'outside'} {goal}{partial}", evidence)


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
