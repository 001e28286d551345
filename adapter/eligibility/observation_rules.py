"""Lab and vital results: the most recent usable one, its value in the criterion's unit, the comparison."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from adapter.eligibility.base import ULN_OFFSET, RuleContext, days, tokens
from adapter.eligibility.compare import COMPARATOR_SYMBOL, NEGATED, Interval, judge, show, show_quantity
from adapter.eligibility.facts import ObservationFact
from adapter.eligibility.outcome import Evidence, Outcome
from adapter.errors import UnitConversionError
from adapter.units import convert, molar_mass_for

DIMENSIONLESS = {None, "1", "{score}"}


class ObservationRules(RuleContext):
    def _lookback(self, windows: list[Mapping[str, Any]]) -> int:
        for window in windows:
            if "eventId" not in window and "eventReference" not in window and "eventDateTime" not in window:
                low = days((window.get("range") or {}).get("low")) or days(window.get("quantity"))
                if low is not None:
                    return int(abs(low))
        return self.options.default_lookback_days

    def select(
        self, codes: list[str] | tuple[str, ...], label: str, lookback: int
    ) -> tuple[ObservationFact | None, Outcome | None, list[str]]:
        """The most recent usable result on or before the evaluation date, or why there is none."""
        candidates = self.facts.observations_for(codes)
        skipped: list[str] = []
        for fact in candidates:
            when = fact.effective.date().isoformat() if fact.effective else "undated"
            if fact.effective and fact.effective.date() > self.as_of:
                skipped.append(f"{fact.reference} ({when}) is after the evaluation date")
                continue
            if not fact.usable:
                skipped.append(f"{fact.reference} ({when}) not usable: {fact.unusable_reason}")
                continue
            assert fact.effective is not None
            age_days = (self.as_of - fact.effective.date()).days
            if age_days > lookback:
                reason = (
                    f"stale: the latest usable {label} result ({fact.reference}, {when}) is {age_days} days "
                    f"old; results within {lookback} days are required"
                )
                return None, Outcome("unknown", reason, (self._evidence(fact),), (self._need(label, codes),)), skipped
            return fact, None, skipped
        if not candidates:
            return None, Outcome("unknown", f"no {label} result", (), (self._need(label, codes),)), skipped
        reason = f"no usable {label} result: " + "; ".join(skipped)
        return None, Outcome("unknown", reason, (), (self._need(label, codes),)), skipped

    @staticmethod
    def _need(label: str, codes: list[str] | tuple[str, ...]) -> str:
        shown = ", ".join(c.split("|", 1)[1] for c in codes[:2] if "|" in c)
        return f"{label} ({shown})" if shown else label

    @staticmethod
    def _evidence(fact: ObservationFact, value: Decimal | None = None, unit: str | None = None) -> Evidence:
        raw: Decimal | str | None = fact.value if fact.value is not None else fact.value_string
        if raw is None and fact.value_code:
            raw = ", ".join(sorted(fact.value_code))
        shown_unit = fact.unit_display or fact.unit
        if fact.comparator and isinstance(raw, Decimal):
            raw = f"{fact.comparator}{show(raw)}"  # type: ignore[assignment]
        converted = value is not None and (value != fact.value or unit != fact.unit)
        return Evidence(
            reference=fact.reference,
            value=raw,
            unit=shown_unit,
            date=fact.effective,
            normalized_value=value if converted else None,
            normalized_unit=unit if converted else None,
        )

    def _numeric(
        self, fact: ObservationFact, target_unit: str | None, codes: list[str] | tuple[str, ...]
    ) -> tuple[Decimal, str | None] | str:
        """The result's value in `target_unit` (None: keep its own unit), or why it cannot be had."""
        value = fact.value
        unit = fact.unit
        if value is None and fact.value_code:
            value = next(
                (self.options.ordinal_answers[c] for c in fact.value_code if c in self.options.ordinal_answers), None
            )
            unit = None
        if value is None:
            return f"{fact.reference} has no numeric value"
        if target_unit in DIMENSIONLESS and unit in DIMENSIONLESS:
            return value, target_unit
        if unit is None:
            return f"{fact.reference}: value {show(value)} has no unit" + (
                f" (written as {fact.unit_display!r})" if fact.unit_display else ""
            )
        if target_unit is None or target_unit == unit:
            return value, unit
        try:
            return convert(value, unit, target_unit, molar_mass=molar_mass_for([*fact.codes, *codes])), target_unit
        except UnitConversionError as exc:
            return f"{fact.reference}: {exc}"

    def _observation(
        self, codes: list[str], definition: Mapping[str, Any], label: str, windows: list[Mapping[str, Any]]
    ) -> Outcome:
        fact, missing, skipped = self.select(codes, label, self._lookback(windows))
        if fact is None:
            assert missing is not None
            return missing
        outcome = self._observation_value(fact, codes, definition, label, skipped)
        # The result's date anchors windows such as "no transfusion within 14 days of the blood count", even
        # when its value cannot be judged.
        return outcome if outcome.anchor_date else replace(outcome, anchor_date=fact.effective)

    def _observation_value(
        self, fact: ObservationFact, codes: list[str], definition: Mapping[str, Any], label: str, skipped: list[str]
    ) -> Outcome:
        ignored = f" (newer, ignored: {'; '.join(skipped)})" if skipped else ""
        if "valueCodeableConcept" in definition and fact.value_code is not None and fact.value is None:
            wanted = set(tokens(definition["valueCodeableConcept"]))
            ok = bool(wanted & fact.value_code)
            return Outcome(
                "pass" if ok else "fail",
                f"{label} {'is' if ok else 'is not'} "
                f"{definition['valueCodeableConcept'].get('text', 'the required value')}{ignored}",
                (self._evidence(fact),),
                anchor_date=fact.effective,
            )
        if "valueBoolean" in definition:
            return Outcome(
                "pass" if definition["valueBoolean"] else "fail",
                f"{label} recorded{ignored}",
                (self._evidence(fact),),
                anchor_date=fact.effective,
            )
        quantity = definition.get("valueQuantity")
        value_range = definition.get("valueRange")
        is_uln = ULN_OFFSET in tokens(definition.get("offset"))
        if quantity is not None and is_uln:
            return self._against_uln(fact, quantity, label, codes, ignored)
        if quantity is not None:
            target = quantity.get("code") or None
            threshold = Decimal(str(quantity["value"]))
            criterion = Interval.satisfying(quantity.get("comparator") or ">=", threshold)
            goal = show_quantity(threshold, target)
        elif value_range is not None:
            low, high = value_range.get("low") or {}, value_range.get("high") or {}
            target = low.get("code") or high.get("code") or None
            low_v = Decimal(str(low["value"])) if "value" in low else None
            high_v = Decimal(str(high["value"])) if "value" in high else None
            criterion = Interval(low_v, True, high_v, True)
            goal = f"{show(low_v) if low_v is not None else '…'}–{show(high_v) if high_v is not None else '…'}"
        else:
            return Outcome("manual", f"{label}: this kind of value is not interpreted")
        numeric = self._numeric(fact, target, codes)
        if isinstance(numeric, str):
            return Outcome("unknown", numeric, (self._evidence(fact),), (self._need(label, codes),))
        value, unit = numeric
        return self._judge(fact, value, unit, criterion, quantity, goal, label, ignored)

    def _judge(
        self,
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
        evidence = (self._evidence(fact, value, unit),)
        shown = show_quantity(value, unit, fact.comparator)
        if fact.value is not None and (fact.value != value or fact.unit != unit):
            shown = f"{show_quantity(fact.value, fact.unit_display or fact.unit, fact.comparator)} = {shown}"
        decided = judge(Interval.censored(value, fact.comparator), criterion)
        if decided is None:
            return Outcome(
                "unknown",
                f"{label} {shown} cannot be compared with {goal}{note}{ignored}",
                evidence,
                (label,),
                fact.effective,
            )
        if quantity is not None:
            comparator = quantity.get("comparator") or ">="
            symbol = comparator if decided else NEGATED[comparator]
            reason = f"{label} {shown} {COMPARATOR_SYMBOL[symbol]} {goal}{note}{ignored}"
        else:
            reason = f"{label} {shown} {'within' if decided else 'outside'} {goal}{note}{ignored}"
        return Outcome("pass" if decided else "fail", reason, evidence, anchor_date=fact.effective)

    def _against_uln(
        self, fact: ObservationFact, quantity: Mapping[str, Any], label: str, codes: list[str], ignored: str
    ) -> Outcome:
        multiple = Decimal(str(quantity["value"]))
        if fact.reference_high is None:
            text = (
                f" (reference range given only as text: {fact.reference_range_text!r})"
                if fact.reference_range_text
                else ""
            )
            return Outcome(
                "unknown",
                f"{fact.reference}: no upper reference limit (ULN) on the result{text}",
                (self._evidence(fact),),
                (f"{label} with its reference range",),
            )
        if fact.reference_high_unit is None and fact.unit is not None:
            return Outcome(
                "unknown",
                f"{fact.reference}: the reference range high has no unit",
                (self._evidence(fact),),
                (f"{label} with its reference range",),
            )
        numeric = self._numeric(fact, None, codes)
        if isinstance(numeric, str):
            return Outcome("unknown", numeric, (self._evidence(fact),), (self._need(label, codes),))
        value, unit = numeric
        uln = fact.reference_high
        if fact.reference_high_unit not in (None, unit):
            try:
                uln = convert(
                    uln, str(fact.reference_high_unit), str(unit), molar_mass=molar_mass_for([*fact.codes, *codes])
                )
            except UnitConversionError as exc:
                return Outcome("unknown", f"{fact.reference}: ULN {exc}", (self._evidence(fact),), (label,))
        limit = multiple * uln
        criterion = Interval.satisfying(quantity.get("comparator") or "<=", limit)
        goal = f"{show_quantity(limit, unit)}"
        note = f" ({show(multiple)} × ULN {show_quantity(uln, unit)})"
        return self._judge(fact, value, unit, criterion, quantity, goal, label, ignored, note)
