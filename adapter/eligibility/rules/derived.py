"""Derived measures: Cockcroft–Gault creatinine clearance from age, sex, weight and serum creatinine."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.eligibility.compare import COMPARATOR_SYMBOL, NEGATED, Interval, judge, show
from adapter.eligibility.outcome import Evidence, Outcome
from adapter.eligibility.rules.context import RuleContext, type_label, type_tokens
from adapter.eligibility.rules.demographics import age_span
from adapter.eligibility.rules.observations import evidence, numeric, select
from adapter.units.convert import OUT_OF_RANGE, within_range

if TYPE_CHECKING:
    from adapter.eligibility.facts import ObservationFact
    from adapter.eligibility.options import DerivedSpec


def derived_spec(ctx: RuleContext, definition: Mapping[str, Any]) -> DerivedSpec | None:
    """The derived measure the definition's type names, when the options know one."""
    derived = ctx.options.derived
    return next((derived[t] for t in type_tokens(definition) if t in derived), None)


def derived(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    spec = derived_spec(ctx, definition)
    assert spec is not None  # the evaluator routes here only for a known derived measure
    label = type_label(definition)
    creatinine, unknown_c, _ = select(ctx, spec.creatinine_codes, "serum creatinine", spec.creatinine_lookback_days)
    weight, unknown_w, _ = select(ctx, spec.weight_codes, "body weight", spec.weight_lookback_days)
    span = age_span(ctx.facts, ctx.as_of)
    sex = ctx.facts.gender
    problems = [o for o in (unknown_c, unknown_w) if o is not None]
    if span is None or span[0] != span[1]:
        problems.append(Outcome("unknown", "the exact age needs a full birth date", (), ("full birth date",)))
    if sex not in ("male", "female"):
        problems.append(Outcome("unknown", f"administrative gender is {sex or 'not recorded'}", (), ("sex",)))
    inputs, found = _inputs(ctx, spec, creatinine, weight, problems)
    if problems:
        return Outcome(
            "unknown",
            f"{label} cannot be computed: " + "; ".join(p.reason for p in problems),
            found,
            tuple(m for p in problems for m in p.missing),
        )
    assert span is not None
    years = Decimal(span[0])
    scr, kg = inputs["creatinine"][0], inputs["weight"][0]
    if scr <= 0:
        return Outcome("unknown", f"{label} cannot be computed: serum creatinine is {show(scr)}", found)
    if not (within_range(scr) and within_range(kg)):  # bounded arithmetic: no Overflow from absurd inputs
        return Outcome("unknown", f"{label} cannot be computed: {OUT_OF_RANGE}", found)
    clearance = (Decimal(140) - years) * kg / (Decimal(72) * scr)
    if sex == "female":
        clearance *= Decimal("0.85")
    quantity = definition.get("valueQuantity") or {}
    threshold = Decimal(str(quantity.get("value")))
    comparator = quantity.get("comparator") or ">="
    # Compared exactly; `show` rounds for the reason only.
    ok = judge(Interval.point(clearance), Interval.satisfying(comparator, threshold))
    symbol = COMPARATOR_SYMBOL[comparator if ok else NEGATED[comparator]]
    formula = f"(140 − {years}) × {show(kg)} kg / (72 × {show(scr)} mg/dL){' × 0.85' if sex == 'female' else ''}"
    reason = (f"{label} {show(clearance, (threshold,))} {spec.unit} {symbol} {show(threshold, (clearance,))} "
              f"{spec.unit} = {formula}")
    anchor = creatinine.effective if creatinine else None
    return Outcome("pass" if ok else "fail", reason, found, anchor_date=anchor)


def _inputs(
    ctx: RuleContext,
    spec: DerivedSpec,
    creatinine: ObservationFact | None,
    weight: ObservationFact | None,
    problems: list[Outcome],
) -> tuple[dict[str, tuple[Decimal, str | None]], tuple[Evidence, ...]]:
    """Creatinine in mg/dL and weight in kg, and their evidence; what stops one is appended to `problems`."""
    inputs: dict[str, tuple[Decimal, str | None]] = {}
    for name, fact, unit in (("creatinine", creatinine, "mg/dL"), ("weight", weight, "kg")):
        if fact is None:
            continue
        if fact.comparator:
            problems.append(Outcome("unknown", f"{fact.reference}: censored value cannot enter the formula"))
            continue
        value = numeric(ctx, fact, unit, spec.creatinine_codes if name == "creatinine" else spec.weight_codes)
        if isinstance(value, str):
            problems.append(Outcome("unknown", value))
        else:
            inputs[name] = value
    found = tuple(
        evidence(f, *inputs[n])
        for n, f in (("creatinine", creatinine), ("weight", weight))
        if f is not None and n in inputs
    )
    return inputs, found
