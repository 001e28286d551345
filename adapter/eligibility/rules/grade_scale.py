"""A semi-quantitative result reported as a concentration, read as the grade a criterion compares with.

A urine dipstick is graded (Negative, Trace, 1+ … 4+) but many labs report the same strip as the nominal
concentration of the colour block it matched (5804-0 "Protein [Mass/volume] in Urine by Test strip", mg/dL). The
concept library's `grade_scale` gives the nominal level of each grade; a value at a level is that grade, a value
between two levels lies strictly between their grades, and a value beyond the scale is beyond its end grade — so a
comparison is settled only when every grade the value may stand for agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from adapter.eligibility.compare import Interval, judge, show, show_quantity
from adapter.errors import UnitConversionError
from adapter.units import convert

if TYPE_CHECKING:
    from adapter.eligibility.facts import ObservationFact
    from adapter.eligibility.options import GradeScaleSpec
    from adapter.eligibility.rules.context import RuleContext

DIMENSIONLESS = {None, "1", "{score}"}


def scale_for(
    ctx: RuleContext, fact: ObservationFact, codes: Sequence[str], target: str | None
) -> GradeScaleSpec | None:
    """The grade scale that reads this result for a criterion that compares grades, if any applies."""
    if target not in DIMENSIONLESS or fact.value is None or fact.unit in DIMENSIONLESS:
        return None
    scales = ctx.options.grade_scales
    return next((scales[c] for c in sorted(fact.codes) if c in scales), None) or next(
        (scales[c] for c in codes if c in scales), None)


def grades(value: Decimal, comparator: str | None, scale: GradeScaleSpec) -> tuple[Interval, str]:
    """The grades a concentration (in the scale's unit, maybe censored) may stand for, and how that reads."""
    at = next((grade for level, grade in scale.levels if level == value), None)
    if at is not None and comparator is None:
        return Interval.point(at), show(at)
    below = [grade for level, grade in scale.levels if level < value or (level == value and comparator in (">", ">="))]
    above = [grade for level, grade in scale.levels if level > value or (level == value and comparator in ("<", "<="))]
    low = below[-1] if below else Decimal(0)
    high = above[0] if above else None
    if comparator in (">", ">="):
        high = None
    if comparator in ("<", "<="):
        low = Decimal(0)
    closed = not below or (comparator == ">=" and at is not None)  # ">= 100" may be grade 2 itself
    interval = Interval(low, closed, high, comparator == "<=" and at is not None)
    shown = f"between grades {show(low)} and {show(high)}" if high is not None else f"above grade {show(low)}"
    return interval, shown


def read_on_scale(
    fact: ObservationFact, scale: GradeScaleSpec, criterion: Interval
) -> tuple[bool | None, str] | str:
    """(settled?, how the value reads) — or why it cannot be read (a unit that does not convert)."""
    assert fact.value is not None and fact.unit is not None
    try:
        value = convert(fact.value, fact.unit, scale.unit) if fact.unit != scale.unit else fact.value
    except UnitConversionError as exc:
        return f"{fact.reference}: {exc}"
    interval, shown = grades(value, fact.comparator, scale)
    levels = ", ".join(f"{show(grade)} = {show_quantity(level, scale.unit)}" for level, grade in scale.levels)
    written = show_quantity(fact.value, fact.unit_display or fact.unit, fact.comparator)
    return judge(interval, criterion), f"{written} reads as {shown} on the strip's scale ({levels})"
