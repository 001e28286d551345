"""Derived measures: Cockcroft–Gault creatinine clearance from age, sex, weight and serum creatinine."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from adapter.eligibility.base import DerivedSpec
from adapter.eligibility.compare import COMPARATOR_SYMBOL, NEGATED, Interval, judge, show
from adapter.eligibility.observation_rules import ObservationRules
from adapter.eligibility.outcome import Outcome


class DerivedRules(ObservationRules):
    def _derived(self, spec: DerivedSpec, definition: Mapping[str, Any], label: str) -> Outcome:
        creatinine, unknown_c, _ = self.select(spec.creatinine_codes, "serum creatinine", spec.creatinine_lookback_days)
        weight, unknown_w, _ = self.select(spec.weight_codes, "body weight", spec.weight_lookback_days)
        span = self._age_span()
        sex = self.facts.gender
        problems = [o for o in (unknown_c, unknown_w) if o is not None]
        if span is None or span[0] != span[1]:
            problems.append(Outcome("unknown", "the exact age needs a full birth date", (), ("full birth date",)))
        if sex not in ("male", "female"):
            problems.append(Outcome("unknown", f"administrative gender is {sex or 'not recorded'}", (), ("sex",)))
        inputs: dict[str, tuple[Decimal, str | None]] = {}
        for name, fact, unit in (("creatinine", creatinine, "mg/dL"), ("weight", weight, "kg")):
            if fact is None:
                continue
            if fact.comparator:
                problems.append(Outcome("unknown", f"{fact.reference}: censored value cannot enter the formula"))
                continue
            numeric = self._numeric(fact, unit, spec.creatinine_codes if name == "creatinine" else spec.weight_codes)
            if isinstance(numeric, str):
                problems.append(Outcome("unknown", numeric))
            else:
                inputs[name] = numeric
        evidence = tuple(
            self._evidence(f, *inputs[n])
            for n, f in (("creatinine", creatinine), ("weight", weight))
            if f is not None and n in inputs
        )
        if problems:
            return Outcome(
                "unknown",
                f"{label} cannot be computed: " + "; ".join(p.reason for p in problems),
                evidence,
                tuple(m for p in problems for m in p.missing),
            )
        assert span is not None
        years = Decimal(span[0])
        scr, kg = inputs["creatinine"][0], inputs["weight"][0]
        if scr <= 0:
            return Outcome("unknown", f"{label} cannot be computed: serum creatinine is {scr}", evidence)
        clearance = (Decimal(140) - years) * kg / (Decimal(72) * scr)
        if sex == "female":
            clearance *= Decimal("0.85")
        quantity = definition.get("valueQuantity") or {}
        threshold = Decimal(str(quantity.get("value")))
        comparator = quantity.get("comparator") or ">="
        ok = judge(Interval.point(clearance), Interval.satisfying(comparator, threshold))
        symbol = COMPARATOR_SYMBOL[comparator if ok else NEGATED[comparator]]
        formula = f"(140 − {years}) × {show(kg)} kg / (72 × {show(scr)} mg/dL){' × 0.85' if sex == 'female' else ''}"
        reason = f"{label} {show(clearance)} {spec.unit} {symbol} {show(threshold)} {spec.unit} = {formula}"
        anchor = creatinine.effective if creatinine else None
        return Outcome("pass" if ok else "fail", reason, evidence, anchor_date=anchor)
