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
- anything else (definitionExpression, definitionCanonical, …, or no definition) is `manual`.

Absence: no result for a lab or vital is `unknown`; no Condition, medication, procedure or allergy on
record means not present (the problem list and medication history are the record of truth).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from adapter.eligibility.compare import COMPARATOR_SYMBOL, NEGATED, Interval, judge, show, show_quantity
from adapter.eligibility.facts import ClinicalFact, ObservationFact, PatientFacts
from adapter.eligibility.outcome import Evidence, Outcome, Result, Verdict, combine, negate, verdict
from adapter.errors import UnitConversionError
from adapter.units import convert, molar_mass_for

SNOMED = "http://snomed.info/sct"
AGE = f"{SNOMED}|424144002"
GENDER = f"{SNOMED}|263495000"
RECORD_ENTRY_KINDS = {
    f"{SNOMED}|439401001": "conditions",
    f"{SNOMED}|71388002": "procedures",
    f"{SNOMED}|410942007": "medications",
    f"{SNOMED}|609328004": "allergies",
}
ULN_OFFSET = "http://hl7.org/fhir/characteristic-offset|UNL"
DIMENSIONLESS = {None, "1", "{score}"}
NOT_CURRENT_CONDITION = {"inactive", "resolved", "remission"}
UNCONFIRMED_CONDITION = {"unconfirmed", "provisional", "differential"}
DAY_UNITS = {"d": 1, "wk": 7, "mo": 30, "a": 365, "h": Decimal(1) / 24, "min": Decimal(1) / 1440}


@dataclass(frozen=True, slots=True)
class DerivedSpec:
    """How to compute a derived measure (today: Cockcroft–Gault creatinine clearance)."""

    formula: Literal["cockcroft-gault"]
    unit: str
    creatinine_codes: tuple[str, ...]
    creatinine_lookback_days: int
    weight_codes: tuple[str, ...]
    weight_lookback_days: int


@dataclass(frozen=True, slots=True)
class EngineOptions:
    ordinal_answers: Mapping[str, Decimal] = field(default_factory=dict)  # system|code → number (ECOG LA codes)
    derived: Mapping[str, DerivedSpec] = field(default_factory=dict)  # system|code → spec
    default_lookback_days: int = 30


@dataclass(frozen=True, slots=True)
class CriterionResult:
    id: str
    type: Literal["inclusion", "exclusion"]
    text: str
    result: Result
    reason: str
    codes: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Evaluation:
    patient: str
    as_of: date
    verdict: Verdict
    criteria: tuple[CriterionResult, ...]
    notes: tuple[str, ...] = ()


def evaluate(evidence_variable: Mapping[str, Any], facts: PatientFacts, as_of: date,
             options: EngineOptions | None = None) -> Evaluation:
    """Every top-level characteristic of the EvidenceVariable as one criterion, and the verdict."""
    evaluator = _Evaluator(evidence_variable, facts, as_of, options or EngineOptions())
    criteria = []
    for index, characteristic in enumerate(evidence_variable.get("characteristic", [])):
        outcome = evaluator.characteristic(characteristic)
        criteria.append(CriterionResult(
            id=characteristic.get("linkId") or f"criterion-{index + 1}",
            type="exclusion" if characteristic.get("exclude") else "inclusion",
            text=characteristic.get("description") or "",
            result=outcome.result, reason=outcome.reason, codes=tuple(_codes(characteristic, evaluator.options)),
            evidence=_unique(outcome.evidence), missing=tuple(dict.fromkeys(outcome.missing)),
        ))
    notes = []
    if facts.deceased:
        notes.append("The patient is recorded as deceased.")
    if facts.foreign:
        notes.append(f"{len(facts.foreign)} resource(s) belonging to another patient were ignored.")
    return Evaluation(patient=facts.patient_ref, as_of=as_of, criteria=tuple(criteria),
                      verdict=verdict([c.result for c in criteria]), notes=tuple(notes))


def _unique(evidence: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    seen: dict[str, Evidence] = {}
    for item in evidence:
        seen.setdefault(item.reference, item)
    return tuple(seen.values())


def _tokens(concept: Mapping[str, Any] | None) -> list[str]:
    return [f"{c.get('system')}|{c.get('code')}" for c in (concept or {}).get("coding", []) if c.get("code")]


def _codes(characteristic: Mapping[str, Any], options: EngineOptions) -> list[str]:
    """Every code the characteristic accepts, as system|code."""
    found: list[str] = []
    by_type = characteristic.get("definitionByTypeAndValue")
    if by_type:
        types = _tokens(by_type.get("type"))
        if any(t in RECORD_ENTRY_KINDS for t in types):
            found += _tokens(by_type.get("valueCodeableConcept"))
        else:
            found += types
        for token in types:
            spec = options.derived.get(token)
            if spec:
                found += [*spec.creatinine_codes, *spec.weight_codes]
    for child in (characteristic.get("definitionByCombination") or {}).get("characteristic", []):
        found += _codes(child, options)
    return list(dict.fromkeys(found))


def _days(quantity: Mapping[str, Any] | None) -> Decimal | None:
    if not quantity or quantity.get("value") is None:
        return None
    factor = DAY_UNITS.get(quantity.get("code") or "d")
    return None if factor is None else Decimal(str(quantity["value"])) * Decimal(factor)


def _name_pattern(text: str) -> re.Pattern[str]:
    terms = [t.strip() for t in text.split(";") if t.strip()]
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)


class _Evaluator:
    def __init__(self, variable: Mapping[str, Any], facts: PatientFacts, as_of: date,
                 options: EngineOptions) -> None:
        self.facts = facts
        self.as_of = as_of
        self.end_of_day = datetime.combine(as_of, time.max, UTC)
        self.options = options
        self.by_link: dict[str, Mapping[str, Any]] = {}
        self._memo: dict[int, Outcome] = {}
        self._index(variable.get("characteristic", []))

    def _index(self, characteristics: list[Mapping[str, Any]]) -> None:
        for c in characteristics:
            if c.get("linkId"):
                self.by_link[c["linkId"]] = c
            self._index((c.get("definitionByCombination") or {}).get("characteristic", []))

    # ------------------------------------------------------------------ structure
    def characteristic(self, characteristic: Mapping[str, Any]) -> Outcome:
        key = id(characteristic)
        if key not in self._memo:
            outcome = self._definition(characteristic)
            if characteristic.get("exclude"):
                outcome = negate(outcome, "meets exclusion: " if outcome.result == "pass" else "")
            self._memo[key] = outcome
        return self._memo[key]

    def _definition(self, characteristic: Mapping[str, Any]) -> Outcome:
        if "definitionByCombination" in characteristic:
            return self._combination(characteristic["definitionByCombination"])
        if "definitionByTypeAndValue" in characteristic:
            return self._type_and_value(characteristic["definitionByTypeAndValue"],
                                        characteristic.get("timeFromEvent", []))
        notes = [n.get("text") for n in characteristic.get("note", []) if n.get("text")]
        other = next((k for k in characteristic if k.startswith("definition")), None)
        reason = notes[0] if notes else (characteristic.get("description") or "needs review")
        if other:
            reason = f"{other} is not interpreted by this engine; {reason}"
        return Outcome("manual", reason)

    def _combination(self, combination: Mapping[str, Any]) -> Outcome:
        children = [self.characteristic(c) for c in combination.get("characteristic", [])]
        result = combine(combination.get("code", ""), children, combination.get("threshold"))
        code = combination.get("code", "")
        decided_early = (code == "all-of" and result == "fail") or (code == "any-of" and result == "pass")
        deciding = [c for c in children if c.result == result] if decided_early else children
        evidence = tuple(e for c in children for e in c.evidence)
        missing = tuple(m for c in children if c.result == "unknown" for m in c.missing)
        anchor = next((c.anchor_date for c in children if c.anchor_date), None)
        return Outcome(result, "; ".join(c.reason for c in deciding), evidence, missing, anchor)

    def _type_and_value(self, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
        types = _tokens(definition.get("type"))
        label = (definition.get("type") or {}).get("text") or (types[0] if types else "item")
        if AGE in types:
            return self._age(definition)
        if GENDER in types:
            return self._gender(definition)
        kind = next((RECORD_ENTRY_KINDS[t] for t in types if t in RECORD_ENTRY_KINDS), None)
        if kind:
            return self._record_entry(kind, definition.get("valueCodeableConcept") or {}, windows)
        spec = next((self.options.derived[t] for t in types if t in self.options.derived), None)
        if spec:
            return self._derived(spec, definition, label)
        if not types:
            return Outcome("manual", f"{label}: no code to look for in the record")
        return self._observation(types, definition, label, windows)

    # ------------------------------------------------------------------ observations
    def _lookback(self, windows: list[Mapping[str, Any]]) -> int:
        for window in windows:
            if "eventId" not in window and "eventReference" not in window and "eventDateTime" not in window:
                low = _days((window.get("range") or {}).get("low")) or _days(window.get("quantity"))
                if low is not None:
                    return int(abs(low))
        return self.options.default_lookback_days

    def select(self, codes: list[str] | tuple[str, ...], label: str,
               lookback: int) -> tuple[ObservationFact | None, Outcome | None, list[str]]:
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
                reason = (f"stale: the latest usable {label} result ({fact.reference}, {when}) is {age_days} days "
                          f"old; results within {lookback} days are required")
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
        return Evidence(reference=fact.reference, value=raw, unit=shown_unit, date=fact.effective,
                        normalized_value=value if converted else None, normalized_unit=unit if converted else None)

    def _numeric(self, fact: ObservationFact, target_unit: str | None,
                 codes: list[str] | tuple[str, ...]) -> tuple[Decimal, str | None] | str:
        """The result's value in `target_unit` (None: keep its own unit), or why it cannot be had."""
        value = fact.value
        unit = fact.unit
        if value is None and fact.value_code:
            value = next((self.options.ordinal_answers[c] for c in fact.value_code
                          if c in self.options.ordinal_answers), None)
            unit = None
        if value is None:
            return f"{fact.reference} has no numeric value"
        if target_unit in DIMENSIONLESS and unit in DIMENSIONLESS:
            return value, target_unit
        if unit is None:
            return f"{fact.reference}: value {show(value)} has no unit" + (
                f" (written as {fact.unit_display!r})" if fact.unit_display else "")
        if target_unit is None or target_unit == unit:
            return value, unit
        try:
            return convert(value, unit, target_unit, molar_mass=molar_mass_for([*fact.codes, *codes])), target_unit
        except UnitConversionError as exc:
            return f"{fact.reference}: {exc}"

    def _observation(self, codes: list[str], definition: Mapping[str, Any], label: str,
                     windows: list[Mapping[str, Any]]) -> Outcome:
        fact, missing, skipped = self.select(codes, label, self._lookback(windows))
        if fact is None:
            assert missing is not None
            return missing
        outcome = self._observation_value(fact, codes, definition, label, skipped)
        # The result's date anchors windows such as "no transfusion within 14 days of the blood count", even
        # when its value cannot be judged.
        return outcome if outcome.anchor_date else replace(outcome, anchor_date=fact.effective)

    def _observation_value(self, fact: ObservationFact, codes: list[str], definition: Mapping[str, Any],
                           label: str, skipped: list[str]) -> Outcome:
        ignored = f" (newer, ignored: {'; '.join(skipped)})" if skipped else ""
        if "valueCodeableConcept" in definition and fact.value_code is not None and fact.value is None:
            wanted = set(_tokens(definition["valueCodeableConcept"]))
            ok = bool(wanted & fact.value_code)
            return Outcome("pass" if ok else "fail", f"{label} {'is' if ok else 'is not'} "
                           f"{definition['valueCodeableConcept'].get('text', 'the required value')}{ignored}",
                           (self._evidence(fact),), anchor_date=fact.effective)
        if "valueBoolean" in definition:
            return Outcome("pass" if definition["valueBoolean"] else "fail", f"{label} recorded{ignored}",
                           (self._evidence(fact),), anchor_date=fact.effective)
        quantity = definition.get("valueQuantity")
        value_range = definition.get("valueRange")
        is_uln = ULN_OFFSET in _tokens(definition.get("offset"))
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

    def _judge(self, fact: ObservationFact, value: Decimal, unit: str | None, criterion: Interval,
               quantity: Mapping[str, Any] | None, goal: str, label: str, ignored: str,
               note: str = "") -> Outcome:
        evidence = (self._evidence(fact, value, unit),)
        shown = show_quantity(value, unit, fact.comparator)
        if fact.value is not None and (fact.value != value or fact.unit != unit):
            shown = f"{show_quantity(fact.value, fact.unit_display or fact.unit, fact.comparator)} = {shown}"
        decided = judge(Interval.censored(value, fact.comparator), criterion)
        if decided is None:
            return Outcome("unknown", f"{label} {shown} cannot be compared with {goal}{note}{ignored}", evidence,
                           (label,), fact.effective)
        if quantity is not None:
            comparator = quantity.get("comparator") or ">="
            symbol = comparator if decided else NEGATED[comparator]
            reason = f"{label} {shown} {COMPARATOR_SYMBOL[symbol]} {goal}{note}{ignored}"
        else:
            reason = f"{label} {shown} {'within' if decided else 'outside'} {goal}{note}{ignored}"
        return Outcome("pass" if decided else "fail", reason, evidence, anchor_date=fact.effective)

    def _against_uln(self, fact: ObservationFact, quantity: Mapping[str, Any], label: str,
                     codes: list[str], ignored: str) -> Outcome:
        multiple = Decimal(str(quantity["value"]))
        if fact.reference_high is None:
            text = f" (reference range given only as text: {fact.reference_range_text!r})" \
                if fact.reference_range_text else ""
            return Outcome("unknown", f"{fact.reference}: no upper reference limit (ULN) on the result{text}",
                           (self._evidence(fact),), (f"{label} with its reference range",))
        if fact.reference_high_unit is None and fact.unit is not None:
            return Outcome("unknown", f"{fact.reference}: the reference range high has no unit",
                           (self._evidence(fact),), (f"{label} with its reference range",))
        numeric = self._numeric(fact, None, codes)
        if isinstance(numeric, str):
            return Outcome("unknown", numeric, (self._evidence(fact),), (self._need(label, codes),))
        value, unit = numeric
        uln = fact.reference_high
        if fact.reference_high_unit not in (None, unit):
            try:
                uln = convert(uln, str(fact.reference_high_unit), str(unit),
                              molar_mass=molar_mass_for([*fact.codes, *codes]))
            except UnitConversionError as exc:
                return Outcome("unknown", f"{fact.reference}: ULN {exc}", (self._evidence(fact),), (label,))
        limit = multiple * uln
        criterion = Interval.satisfying(quantity.get("comparator") or "<=", limit)
        goal = f"{show_quantity(limit, unit)}"
        note = f" ({show(multiple)} × ULN {show_quantity(uln, unit)})"
        return self._judge(fact, value, unit, criterion, quantity, goal, label, ignored, note)

    # ------------------------------------------------------------------ demographics
    def _age_span(self) -> tuple[int, int] | None:
        """Completed years on the evaluation date: (youngest, oldest) possible; equal unless the birth date is partial."""
        birth = self.facts.birth_date
        if birth is None:
            return None
        precision = self.facts.birth_date_precision or "day"
        if precision == "year":
            earliest, latest = date(birth.year, 1, 1), date(birth.year, 12, 31)
        elif precision == "month":
            next_month = date(birth.year + birth.month // 12, birth.month % 12 + 1, 1)
            earliest, latest = date(birth.year, birth.month, 1), next_month - timedelta(days=1)
        else:
            earliest = latest = birth

        def years(born: date) -> int:
            return self.as_of.year - born.year - ((self.as_of.month, self.as_of.day) < (born.month, born.day))

        return years(latest), years(earliest)

    def _age(self, definition: Mapping[str, Any]) -> Outcome:
        span = self._age_span()
        if span is None:
            return Outcome("unknown", "no birth date on the Patient", (), ("birth date",))
        youngest, oldest = span
        birth = self.facts.birth_date
        assert birth is not None
        shown = str(youngest) if youngest == oldest else f"{youngest}–{oldest}"
        partial = "" if youngest == oldest else f" (birth date known only to the {self.facts.birth_date_precision})"
        evidence = (Evidence(reference=self.facts.patient_ref, value=Decimal(youngest) if youngest == oldest else shown,
                             unit="a", note=f"born {birth.isoformat()}{partial}"),)
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
            criterion = Interval(None if low is None else Decimal(str(low)), True,
                                 None if high is None else Decimal(str(high)), True)
            goal = f"{low if low is not None else '…'}–{high if high is not None else '…'} years"
        else:
            return Outcome("manual", "age criterion without a value")
        ok = judge(Interval(Decimal(youngest), True, Decimal(oldest), True), criterion)
        if ok is None:
            return Outcome("unknown", f"age {shown}{partial} cannot be compared with {goal}", evidence,
                           ("full birth date",))
        return Outcome("pass" if ok else "fail", f"age {shown} {'within' if ok else 'outside'} {goal}{partial}",
                       evidence)

    def _gender(self, definition: Mapping[str, Any]) -> Outcome:
        wanted = {c.get("code") for c in (definition.get("valueCodeableConcept") or {}).get("coding", [])}
        gender = self.facts.gender
        evidence = (Evidence(reference=self.facts.patient_ref, value=gender),)
        if gender not in ("male", "female"):
            return Outcome("unknown", f"administrative gender is {gender or 'not recorded'}", evidence, ("sex",))
        ok = gender in wanted
        return Outcome("pass" if ok else "fail", f"sex {gender}" + ("" if ok else f", not {'/'.join(sorted(wanted))}"),
                       evidence)

    # ------------------------------------------------------------------ record entries
    def _record_entry(self, kind: str, value: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
        wanted = set(_tokens(value))
        label = value.get("text") or "item"
        display = label.split(";")[0] if wanted else label.replace(";", ",")
        pattern = None if wanted else _name_pattern(label)
        facts: tuple[ClinicalFact, ...] = getattr(self.facts, kind)
        matched = [f for f in facts if (wanted and not f.codes.isdisjoint(wanted))
                   or (pattern is not None and f.text and pattern.search(f.text))]
        ignored: list[str] = []
        current: list[ClinicalFact] = []
        for fact in matched:
            if not fact.usable:
                ignored.append(f"{fact.reference} ignored: {fact.unusable_reason}")
            elif fact.date and fact.date.date() > self.as_of:
                ignored.append(f"{fact.reference} is dated after the evaluation date")
            elif kind == "conditions" and fact.status in NOT_CURRENT_CONDITION:
                ignored.append(f"{fact.reference} is {fact.status}")
            elif kind == "conditions" and fact.verification_status in UNCONFIRMED_CONDITION:
                ignored.append(f"{fact.reference} is {fact.verification_status}, not confirmed")
            else:
                current.append(fact)
        window, unknown = self._entry_window(windows)
        if unknown:
            return unknown
        if window:
            spans, where = window
            undated = [f for f in current if f.date is None]
            # Each anchor has its own window: an item counts when it falls inside any one of them.
            current = [f for f in current if f.date is not None
                       and any(start <= f.date <= end for start, end, _ in spans)]
            if not current and undated:
                return Outcome("unknown", f"{undated[0].reference} ({display}) has no date to place {where}",
                               tuple(Evidence(reference=f.reference) for f in undated))
        else:
            where = ""
        note = f" ({'; '.join(ignored)})" if ignored else ""
        if current:
            evidence = tuple(Evidence(reference=f.reference, value=f.text, date=f.date) for f in current)
            return Outcome("pass", f"{display} recorded{where}: {current[0].text or current[0].reference}{note}",
                           evidence)
        return Outcome("fail", f"no {display} recorded{where}{note}")

    def _entry_window(self, windows: list[Mapping[str, Any]]
                      ) -> tuple[tuple[list[tuple[datetime, datetime, str]], str] | None, Outcome | None]:
        """The time window for a record entry: relative to other results (eventId) or the evaluation date."""
        spans: list[tuple[datetime, datetime, str]] = []
        undated: list[str] = []
        for window in windows:
            low = _days((window.get("range") or {}).get("low"))
            high = _days((window.get("range") or {}).get("high")) or Decimal(0)
            if low is None:
                continue
            anchor_id = window.get("eventId")
            if anchor_id:
                target = self.by_link.get(anchor_id)
                if target is None:
                    return None, Outcome("manual", f"time window refers to unknown characteristic {anchor_id!r}")
                anchor = self.characteristic(target).anchor_date
                if anchor is None:
                    undated.append(anchor_id)
                    continue
                base, label = anchor, f"{anchor_id} ({anchor.date().isoformat()})"
            else:
                base, label = self.end_of_day, "the evaluation date"
            spans.append((base + timedelta(days=float(low)), base + timedelta(days=float(high)), label))
        if not spans:
            if undated:
                return None, Outcome("unknown", f"no dated result for {', '.join(undated)} to place the window",
                                     (), tuple(undated))
            return None, None
        days = int(abs(_days((windows[0].get("range") or {}).get("low")) or 0))
        return (spans, f" within {days} days before {', '.join(s[2] for s in spans)}"), None

    # ------------------------------------------------------------------ derived
    def _derived(self, spec: DerivedSpec, definition: Mapping[str, Any], label: str) -> Outcome:
        creatinine, unknown_c, _ = self.select(spec.creatinine_codes, "serum creatinine",
                                               spec.creatinine_lookback_days)
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
        evidence = tuple(self._evidence(f, *inputs[n]) for n, f in (("creatinine", creatinine), ("weight", weight))
                         if f is not None and n in inputs)
        if problems:
            return Outcome("unknown", f"{label} cannot be computed: " + "; ".join(p.reason for p in problems),
                           evidence, tuple(m for p in problems for m in p.missing))
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
        formula = (f"(140 − {years}) × {show(kg)} kg / (72 × {show(scr)} mg/dL)"
                   f"{' × 0.85' if sex == 'female' else ''}")
        reason = f"{label} {show(clearance)} {spec.unit} {symbol} {show(threshold)} {spec.unit} = {formula}"
        anchor = creatinine.effective if creatinine else None
        return Outcome("pass" if ok else "fail", reason, evidence, anchor_date=anchor)
