"""Lab and vital results: the most recent usable one, its value in the criterion's unit, the comparison."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.eligibility.compare import COMPARATOR_SYMBOL, NEGATED, Interval, judge, show, show_quantity
from adapter.eligibility.outcome import Evidence, Outcome
from adapter.eligibility.rules.context import RuleContext, days, type_label, type_tokens
from adapter.errors import UnitConversionError
from adapter.units import convert
from adapter.units.convert import OUT_OF_RANGE, within_range
from adapter.vocabulary import ULN_OFFSET, coding_tokens, split_token

if TYPE_CHECKING:
    from adapter.eligibility.facts import ObservationFact

DIMENSIONLESS = {None, "1", "{score}"}
# Dipstick grades as written ("++", "2+", "Trace", "Negative"), as numbers: "> ++" is "> 2".
_GRADE_TEXT = re.compile(r"^\s*(?P<grade>[^\s(]+)\s*(?:\([^()]*\))?\s*$")


def dimensionless(unit: str | None) -> bool:
    """No unit, UCUM `1`, or a UCUM annotation alone (`{score}`, `{INR}`, `{ratio}`): all mean unity."""
    if unit in DIMENSIONLESS:
        return True
    return unit is not None and unit.startswith("{") and unit.endswith("}") and "}" not in unit[1:-1]


def ordinal_grade(text: str | None, grades: Mapping[str, Decimal]) -> Decimal | None:
    """A grade written as text ("++", "2+", "Trace", "Negative", "1+ (30 mg/dL)") by the reviewed table, or None."""
    found = _GRADE_TEXT.match(text) if isinstance(text, str) else None
    return grades.get(found["grade"].lower()) if found else None


def observation(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    """The rule for any type that is not a demographic, a record entry or a derived measure: a result code."""
    codes = type_tokens(definition)
    label = type_label(definition)
    if not codes:
        return Outcome("manual", f"{label}: no code to look for in the record")
    fact, missing, skipped = select(ctx, codes, label, lookback(ctx, windows))
    if fact is None:
        assert missing is not None
        return missing
    outcome = _observation_value(ctx, fact, codes, definition, label, skipped)
    # The result's date anchors windows such as "no transfusion within 14 days of the blood count", even
    # when its value cannot be judged.
    return outcome if outcome.anchor_date else replace(outcome, anchor_date=fact.effective)


def lookback(ctx: RuleContext, windows: list[Mapping[str, Any]]) -> int:
    """Days a result may be old: the first window relative to the evaluation date, else the default."""
    for window in windows:
        if "eventId" not in window and "eventReference" not in window and "eventDateTime" not in window:
            low = days((window.get("range") or {}).get("low")) or days(window.get("quantity"))
            if low is not None:
                return int(abs(low))
    return ctx.options.default_lookback_days


def select(
    ctx: RuleContext, codes: Sequence[str], label: str, lookback: int
) -> tuple[ObservationFact | None, Outcome | None, list[str]]:
    """The most recent usable result on or before the evaluation date, or why there is none."""
    candidates = ctx.facts.observations_for(codes)
    skipped: list[str] = []
    for fact in candidates:
        when = fact.effective.date().isoformat() if fact.effective else "undated"
        if fact.effective and fact.effective.date() > ctx.as_of:
            skipped.append(f"{fact.reference} ({when}) is after the evaluation date")
            continue
        if not fact.usable:
            skipped.append(f"{fact.reference} ({when}) not usable: {fact.unusable_reason}")
            continue
        assert fact.effective is not None
        age_days = (ctx.as_of - fact.effective.date()).days
        if age_days > lookback:
            reason = (
                f"stale: the latest usable {label} result ({fact.reference}, {when}) is {age_days} days "
                f"old; results within {lookback} days are required"
            )
            return None, Outcome("unknown", reason, (evidence(fact),), (need(label, codes),)), skipped
        return fact, None, skipped
    if not candidates:
        return None, Outcome("unknown", f"no {label} result", (), (need(label, codes),)), skipped
    reason = f"no usable {label} result: " + "; ".join(skipped)
    return None, Outcome("unknown", reason, (), (need(label, codes),)), skipped


def need(label: str, codes: Sequence[str]) -> str:
    """What would settle an `unknown`: the item and its first two codes."""
    shown = ", ".join(split_token(c)[1] for c in codes[:2] if "|" in c)
    return f"{label} ({shown})" if shown else label


def evidence(fact: ObservationFact, value: Decimal | None = None, unit: str | None = None) -> Evidence:
    """The result as evidence; `value`/`unit` are what it was compared as, shown when they differ."""
    raw: Decimal | str | None = fact.value if fact.value is not None else fact.value_string
    if raw is None and fact.value_code:
        raw = ", ".join(sorted(fact.value_code))
    shown_unit = fact.unit_display or fact.unit
    if fact.comparator and isinstance(raw, Decimal):
        raw = f"{fact.comparator}{show(raw)}"
    converted = value is not None and (value != fact.value or unit != fact.unit)
    return Evidence(
        reference=fact.reference,
        value=raw,
        unit=shown_unit,
        date=fact.effective,
        normalized_value=value if converted else None,
        normalized_unit=unit if converted else None,
    )


def molar_mass(ctx: RuleContext, fact: ObservationFact, codes: Sequence[str]) -> Decimal | None:
    """The analyte's molar mass, from the result's codes and the criterion's; None without a units table."""
    units = ctx.options.units
    return units.molar_mass_for([*fact.codes, *codes]) if units is not None else None


def numeric(
    ctx: RuleContext, fact: ObservationFact, target_unit: str | None, codes: Sequence[str]
) -> tuple[Decimal, str | None] | str:
    """The result's value in `target_unit` (None: keep its own unit), or why it cannot be had."""
    value = fact.value
    unit = fact.unit
    if value is None and fact.value_code:
        answers = ctx.options.ordinal_answers
        value = next((answers[c] for c in fact.value_code if c in answers), None)
        unit = None
    if value is None and dimensionless(target_unit):
        value = ordinal_grade(fact.value_text or fact.value_string, ctx.options.ordinal_texts)
        unit = None
    if value is None:
        written = fact.value_text or fact.value_string
        if written:  # e.g. "Positive": no grade to compare, so a person reads it
            return f"{fact.reference} reads {written!r}, which has no grade to compare — confirm"
        return f"{fact.reference} has no numeric value"
    if dimensionless(target_unit) and dimensionless(unit):
        return value, (unit if target_unit is None else target_unit)
    if unit is None:
        return f"{fact.reference}: value {show(value)} has no unit" + (
            f" (written as {fact.unit_display!r})" if fact.unit_display else ""
        )
    if target_unit is None or target_unit == unit:
        return value, unit
    try:
        return convert(value, unit, target_unit, molar_mass=molar_mass(ctx, fact, codes)), target_unit
    except UnitConversionError as exc:
        return f"{fact.reference}: {exc}"


def _observation_value(
    ctx: RuleContext,
    fact: ObservationFact,
    codes: list[str],
    definition: Mapping[str, Any],
    label: str,
    skipped: list[str],
) -> Outcome:
    ignored = f" (newer, ignored: {'; '.join(skipped)})" if skipped else ""
    if "valueCodeableConcept" in definition and fact.value_code is not None and fact.value is None:
        wanted = set(coding_tokens(definition["valueCodeableConcept"]))
        ok = bool(wanted & fact.value_code)
        return Outcome(
            "pass" if ok else "fail",
            f"{label} {'is' if ok else 'is not'} "
            f"{definition['valueCodeableConcept'].get('text', 'the required value')}{ignored}",
            (evidence(fact),),
            anchor_date=fact.effective,
        )
    if "valueBoolean" in definition:
        return Outcome(
            "pass" if definition["valueBoolean"] else "fail",
            f"{label} recorded{ignored}",
            (evidence(fact),),
            anchor_date=fact.effective,
        )
    quantity = definition.get("valueQuantity")
    if quantity is not None and ULN_OFFSET in coding_tokens(definition.get("offset")):
        return _against_uln(ctx, fact, quantity, label, codes, ignored)
    wanted_value = _criterion(quantity, definition.get("valueRange"))
    if wanted_value is None:
        return Outcome("manual", f"{label}: this kind of value is not interpreted")
    target, criterion, goal = wanted_value
    found = numeric(ctx, fact, target, codes)
    if isinstance(found, str):
        return Outcome("unknown", found, (evidence(fact),), (need(label, codes),))
    value, unit = found
    written = fact.value_text or fact.value_string
    graded = fact.value is None and written and ordinal_grade(written, ctx.options.ordinal_texts) is not None
    note = f" (reported as {written!r})" if graded else ""
    return _judge(fact, value, unit, criterion, quantity, goal, label, ignored, note)


def _criterion(
    quantity: Mapping[str, Any] | None, value_range: Mapping[str, Any] | None
) -> tuple[str | None, Interval, str] | None:
    """(the unit to compare in, the satisfying values, how the goal reads) of a valueQuantity or valueRange."""
    if quantity is not None:
        threshold = Decimal(str(quantity["value"]))
        target = quantity.get("code") or None
        return (
            target,
            Interval.satisfying(quantity.get("comparator") or ">=", threshold),
            show_quantity(threshold, target),
        )
    if value_range is None:
        return None
    low, high = value_range.get("low") or {}, value_range.get("high") or {}
    low_v = Decimal(str(low["value"])) if "value" in low else None
    high_v = Decimal(str(high["value"])) if "value" in high else None
    goal = f"{show(low_v) if low_v is not None else '…'}–{show(high_v) if high_v is not None else '…'}"
    return low.get("code") or high.get("code") or None, Interval(low_v, True, high_v, True), goal


def _judge(
    fact: ObservationFact,
    value: Decimal,
    unit: str | None,
    criterion: Interval,
    quantity: Mapping[str, Any] | None,
    goal: str,
    label: str,
    ignored: str,
    note: str = "",
) -> Outcome:
    found = (evidence(fact, value, unit),)
    shown = show_quantity(value, unit, fact.comparator, (criterion.low, criterion.high))  # the deciding digits
    if fact.value is not None and (fact.value != value or fact.unit != unit):
        shown = f"{show_quantity(fact.value, fact.unit_display or fact.unit, fact.comparator)} = {shown}"
    decided = judge(Interval.censored(value, fact.comparator), criterion)
    if decided is None:
        return Outcome(
            "unknown", f"{label} {shown} cannot be compared with {goal}{note}{ignored}", found, (label,), fact.effective
        )
    if quantity is not None:
        comparator = quantity.get("comparator") or ">="
        symbol = comparator if decided else NEGATED[comparator]
        reason = f"{label} {shown} {COMPARATOR_SYMBOL[symbol]} {goal}{note}{ignored}"
    else:
        reason = f"{label} {shown} {'within' if decided else 'outside'} {goal}{note}{ignored}"
    return Outcome("pass" if decided else "fail", reason, found, anchor_date=fact.effective)


def _against_uln(
    ctx: RuleContext, fact: ObservationFact, quantity: Mapping[str, Any], label: str, codes: list[str], ignored: str
) -> Outcome:
    """`offset` UNL: the threshold is a multiple of the result's own upper reference limit."""
    multiple = Decimal(str(quantity["value"]))
    if fact.reference_high is None:
        given = fact.reference_range_text
        text = f" (reference range given only as text: {given!r})" if given else ""
        return Outcome(
            "unknown",
            f"{fact.reference}: no upper reference limit (ULN) on the result{text}",
            (evidence(fact),),
            (f"{label} with its reference range",),
        )
    if fact.reference_high_unit is None and not dimensionless(fact.unit):
        return Outcome(
            "unknown",
            f"{fact.reference}: the reference range high has no unit",
            (evidence(fact),),
            (f"{label} with its reference range",),
        )
    found = numeric(ctx, fact, None, codes)
    if isinstance(found, str):
        return Outcome("unknown", found, (evidence(fact),), (need(label, codes),))
    value, unit = found
    uln = fact.reference_high
    high_unit = fact.reference_high_unit
    if high_unit not in (None, unit) and not (dimensionless(high_unit) and dimensionless(unit)):
        try:
            uln = convert(uln, str(fact.reference_high_unit), str(unit), molar_mass=molar_mass(ctx, fact, codes))
        except UnitConversionError as exc:
            return Outcome("unknown", f"{fact.reference}: ULN {exc}", (evidence(fact),), (label,))
    if not within_range(uln):  # bounded arithmetic: an absurd ULN is no limit
        return Outcome("unknown", f"{fact.reference}: ULN {show(uln)} {OUT_OF_RANGE}", (evidence(fact),), (label,))
    limit = multiple * uln
    criterion = Interval.satisfying(quantity.get("comparator") or "<=", limit)
    range_text = fact.reference_range_text
    from_text = f", read from the reference range text {range_text!r}" if fact.reference_high_from_text else ""
    note = f" ({show(multiple)} × ULN {show_quantity(uln, unit)}{from_text})"
    goal = show_quantity(limit, unit, against=(value,))
    return _judge(fact, value, unit, criterion, quantity, goal, label, ignored, note)
