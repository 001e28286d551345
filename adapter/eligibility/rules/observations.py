"""Lab and vital results: the most recent usable one, its value in the criterion's unit, the comparison."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.eligibility.compare import COMPARATOR_SYMBOL, NEGATED, Interval, judge, show, show_quantity
from adapter.eligibility.outcome import Detail, Evidence, Outcome
from adapter.eligibility.prose import duration, span
from adapter.eligibility.rules.context import RuleContext, days, type_label, type_tokens
from adapter.eligibility.rules.grade_scale import read_on_scale, scale_for
from adapter.eligibility.rules.uln import NoUln, dimensionless, patient_uln
from adapter.errors import UnitConversionError
from adapter.units import convert
from adapter.vocabulary import ULN_OFFSET, coding_tokens, split_token

if TYPE_CHECKING:
    from adapter.eligibility.facts import ObservationFact
    from adapter.eligibility.options import GradeScaleSpec

# Dipstick grades as written ("++", "2+", "Trace", "Negative"), as numbers: "> ++" is "> 2".
_GRADE_TEXT = re.compile(r"^\s*(?P<grade>[^\s(]+)\s*(?:\([^()]*\))?\s*$")


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
    return observation_outcome(ctx, codes, label, lookback(ctx, windows), definition, ASK)


class _Ask:
    """Read the criterion's value from the definition at evaluation time (not compiled beforehand)."""


ASK = _Ask()
# (the unit to compare in, the satisfying values, how the goal reads) of a valueQuantity or valueRange.
Wanted = tuple[str | None, Interval, str]


def observation_outcome(ctx: RuleContext, codes: Sequence[str], label: str, lookback_days: int,
                        definition: Mapping[str, Any], wanted: Wanted | _Ask | None) -> Outcome:
    """The most recent usable result of `codes` within `lookback_days`, judged against the definition's value
    (`wanted`: read beforehand by `wanted_of`, or ASK)."""
    fact, missing, skipped = select(ctx, codes, label, lookback_days)
    if fact is None:
        assert missing is not None
        return missing
    outcome = _observation_value(ctx, fact, codes, definition, label, skipped, wanted)
    # The result's date anchors windows such as "no transfusion within 14 days of the blood count", even
    # when its value cannot be judged.
    return outcome if outcome.anchor_date else outcome.replace(anchor_date=fact.effective)


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
    skipped: list[str] = []  # every result reached and passed over: none reached means none on record
    for fact in ctx.facts.newest_results(codes):
        effective = fact.effective.date() if fact.effective else None
        if effective is not None and effective > ctx.as_of:
            skipped.append(f"{fact.reference} ({effective.isoformat()}) is after the evaluation date")
            continue
        if not fact.usable:
            when = effective.isoformat() if effective is not None else "undated"
            skipped.append(f"{fact.reference} ({when}) not usable: {fact.unusable_reason}")
            continue
        assert effective is not None
        age_days = (ctx.as_of - effective).days
        if age_days > lookback:
            return None, Outcome("unknown", _stale(label, fact.reference, effective.isoformat(), age_days, lookback),
                                 (evidence(fact),), (need(label, codes),)), skipped
        return fact, None, skipped
    if not skipped:
        return None, no_result(label, codes), skipped
    reason = f"no usable {label} result: " + "; ".join(skipped)
    return None, Outcome("unknown", reason, (), (need(label, codes),)), skipped


def _stale(label: str, reference: str, when: str, age_days: int, lookback: int) -> Callable[[], str]:
    return lambda: (f"stale: the latest usable {label} result ({reference}, {when}) is {duration(age_days)} "
                    f"old — results within {span(lookback)} are required")


def no_result(label: str, codes: Sequence[str]) -> Outcome:
    return Outcome("unknown", f"no {label} result", (), (need(label, codes),))


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
    if value is None and (fact.value_code or fact.value_text or fact.value_string):
        value = answer_value(ctx, fact, codes, dimensionless(target_unit))
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


def answer_value(ctx: RuleContext, fact: ObservationFact, codes: Sequence[str], graded: bool) -> Decimal | None:
    """A coded or written answer as a number: this test's own answers first (the concept's `answers`,
    `answer_texts`), then the global ordinal tables; texts only when the criterion compares without a unit."""
    found = coded_answer(ctx, fact, codes)
    return found if found is not None or not graded else written_answer(ctx, fact, codes)


def coded_answer(ctx: RuleContext, fact: ObservationFact, codes: Sequence[str]) -> Decimal | None:
    options = ctx.options
    own = next((options.answers[c] for c in codes if c in options.answers), None)
    for table in (own, options.ordinal_answers):
        if table and fact.value_code:
            found = next((table[c] for c in sorted(fact.value_code) if c in table), None)
            if found is not None:
                return found
    return None


def written_answer(ctx: RuleContext, fact: ObservationFact, codes: Sequence[str]) -> Decimal | None:
    options = ctx.options
    own = next((options.answer_texts[c] for c in codes if c in options.answer_texts), None)
    written = fact.value_text or fact.value_string
    for grades in (own, options.ordinal_texts):
        found = ordinal_grade(written, grades) if grades else None
        if found is not None:
            return found
    return None


def _observation_value(
    ctx: RuleContext,
    fact: ObservationFact,
    codes: Sequence[str],
    definition: Mapping[str, Any],
    label: str,
    skipped: list[str],
    compiled: Wanted | _Ask | None = ASK,
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
    wanted_value = _criterion(quantity, definition.get("valueRange")) if isinstance(compiled, _Ask) else compiled
    if wanted_value is None:
        return Outcome("manual", f"{label}: this kind of value is not interpreted")
    target, criterion, goal = wanted_value
    scale = scale_for(ctx, fact, codes, target)
    if scale is not None:
        return _on_scale(fact, scale, criterion, goal, label, codes, ignored)
    found = numeric(ctx, fact, target, codes)
    if isinstance(found, str):
        return Outcome("unknown", found, (evidence(fact),), (need(label, codes),))
    value, unit = found
    written = fact.value_text or fact.value_string
    graded = fact.value is None and written and coded_answer(ctx, fact, codes) is None
    note = f" (reported as {written!r})" if graded else ""
    return _judge(fact, value, unit, criterion, quantity, goal, label, ignored, note)


def _on_scale(fact: ObservationFact, scale: GradeScaleSpec, criterion: Interval, goal: str, label: str,
              codes: Sequence[str], ignored: str) -> Outcome:
    """A strip reported as a concentration, compared as the grade it stands for."""
    read = read_on_scale(fact, scale, criterion)
    if isinstance(read, str):
        return Outcome("unknown", read, (evidence(fact),), (need(label, codes),), fact.effective)
    decided, shown = read
    if decided is None:
        return Outcome("unknown", f"{label} {shown}: cannot be compared with {goal}{ignored}", (evidence(fact),),
                       (label,), fact.effective)
    verb = "meets" if decided else "does not meet"
    return Outcome("pass" if decided else "fail", f"{label} {shown}, which {verb} {goal}{ignored}",
                   (evidence(fact),), anchor_date=fact.effective)


def wanted_of(definition: Mapping[str, Any]) -> Wanted | _Ask | None:
    """The definition's value read once, for a compiled plan: ASK when it is not a plain quantity or range (a ULN
    multiple, a coded value) or cannot be read (the evaluation then says so, as it would have)."""
    if "valueCodeableConcept" in definition or "valueBoolean" in definition:
        return ASK
    quantity = definition.get("valueQuantity")
    if quantity is not None and ULN_OFFSET in coding_tokens(definition.get("offset")):
        return ASK
    try:
        return _criterion(quantity, definition.get("valueRange"))
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
        return ASK


def _criterion(
    quantity: Mapping[str, Any] | None, value_range: Mapping[str, Any] | None
) -> Wanted | None:
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
    goal: str | Callable[[], str],
    label: str,
    ignored: str,
    note: str | Callable[[], str] = "",
) -> Outcome:
    found = (evidence(fact, value, unit),)
    decided = judge(Interval.censored(value, fact.comparator), criterion)
    comparator = (quantity.get("comparator") or ">=") if quantity is not None else None

    def reason() -> str:
        shown = show_quantity(value, unit, fact.comparator, (criterion.low, criterion.high))  # the deciding digits
        if fact.value is not None and (fact.value != value or fact.unit != unit):
            shown = f"{show_quantity(fact.value, fact.unit_display or fact.unit, fact.comparator)} = {shown}"
        goal_, note_ = _text(goal), _text(note)
        if decided is None:
            return f"{label} {shown} cannot be compared with {goal_}{note_}{ignored}"
        if comparator is not None:
            symbol = comparator if decided else NEGATED[comparator]
            return f"{label} {shown} {COMPARATOR_SYMBOL[symbol]} {goal_}{note_}{ignored}"
        return f"{label} {shown} {'within' if decided else 'outside'} {goal_}{note_}{ignored}"

    if comparator is None:
        detail = Detail("observation", (fact.reference,), value, unit, "within", None, criterion.low, criterion.high)
    else:
        limit = criterion.low if comparator in (">", ">=") else criterion.high
        detail = Detail("observation", (fact.reference,), value, unit, comparator, limit)
    if decided is None:
        return Outcome("unknown", reason, found, (label,), fact.effective, detail=detail)
    return Outcome("pass" if decided else "fail", reason, found, anchor_date=fact.effective, detail=detail)


def _text(text: str | Callable[[], str]) -> str:
    return text if isinstance(text, str) else text()


def _against_uln(
    ctx: RuleContext, fact: ObservationFact, quantity: Mapping[str, Any], label: str, codes: Sequence[str], ignored: str
) -> Outcome:
    """`offset` UNL: the threshold is a multiple of the upper reference limit that is this patient's (`uln`)."""
    multiple = Decimal(str(quantity["value"]))
    if not fact.reference_ranges and fact.reference_range_text is None and ctx.options.reference_ranges is None:
        return Outcome("unknown", f"{fact.reference}: no upper reference limit (ULN) on the result",
                       (evidence(fact),), (f"{label} with its reference range",))
    found = numeric(ctx, fact, None, codes)
    if isinstance(found, str):
        return Outcome("unknown", found, (evidence(fact),), (need(label, codes),))
    value, unit = found
    uln = patient_uln(ctx.facts, fact, unit, molar_mass(ctx, fact, codes), ctx.options.reference_ranges, label)
    if isinstance(uln, NoUln):
        return Outcome("unknown", uln.reason, (evidence(fact),), uln.missing)
    limit = multiple * uln.value
    criterion = Interval.satisfying(quantity.get("comparator") or "<=", limit)
    described = uln.described
    return _judge(fact, value, unit, criterion, quantity, lambda: show_quantity(limit, unit, against=(value,)),
                  label, ignored, lambda: f" ({show(multiple)} × {described})")
