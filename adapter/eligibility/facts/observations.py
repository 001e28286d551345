"""Observation -> ``ObservationFact``: status, date, value, unit and reference range; one fact per component.

Usability is decided for eligibility safety: a wrong "pass" is worse than "unknown".

* status ``final``, ``amended``, ``corrected``: usable. ``preliminary`` is NOT usable ("preliminary
  result"): eligibility must rest on verified results; the engine may show it for review.
  ``registered``, ``cancelled``, ``entered-in-error``, ``unknown``, a missing or unrecognised
  status: not usable, with the status as reason.
* any ``modifierExtension`` on the resource (or on the component) makes it unusable
  ("unrecognised modifierExtension <url>"): a modifier can change the meaning (MII "specimen
  hemolyzed"), and no modifier is understood here.
* ``dataAbsentReason`` on the resource/component, or the data-absent-reason extension on
  ``valueQuantity``: no value, reason "data absent: <code>".
* a ``valueQuantity`` without ``value``, or no ``value[x]`` at all (a panel whose results are in
  its components): "no value". Coded, string, integer and boolean values are kept; other value
  types (Range, Ratio, Period, ...) are usable but carry no scalar (``value_type`` tells).
* date: ``effectiveDateTime``; ``effectivePeriod.start`` (else ``.end``); ``effectiveInstant``;
  else ``issued`` (noted). Dates are read as described in ``readers``. No date at all: unusable
  ("no date").
* components (e.g. 8480-6/8462-4 in the BP panel 85354-9) become facts of their own,
  ``Observation/<id>#component[<n>]``, with the parent's date, status and modifierExtensions.
* units are normalised to UCUM with the given ``UnitTable`` (``unit``; the original text is
  ``unit_display``). A value with no usable unit keeps ``unit=None``: the engine reports it.
  Example: FHIR core f204 writes ``{"unit": "umol/L", "system": SNOMED, "code": "258814008"}``;
  the SNOMED code is not read as UCUM, but the ``unit`` text is valid, unambiguous UCUM, so the
  unit is ``umol/L``.
* reference range: the first ``referenceRange`` with no ``type`` or type ``normal`` that has a
  ``high.value`` gives ``reference_high`` (+ its unit, None when the range has no unit); a range
  given only as text gives ``reference_range_text``; a simple text (``"0.0-40 U/L"``, ``"10 - 40"``,
  ``"<40 U/L"``, ``"≤ 1.2"``) gives ``reference_high`` too, with ``reference_high_from_text``: its unit is the
  one written (it must read as a unit), else the result's own (a lab prints its range in the result's unit).
  Anything else ("M: 0-40, F: 0-35", "see report", a unit that does not read) gives no high: never a guess.
* a coded value's text (``valueCodeableConcept.text``, else its first display) is ``value_text``: dipstick
  results ("2+", "Trace") come coded with a LOINC answer code or as text only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.eligibility.facts.model import ObservationFact
from adapter.eligibility.facts.readers import (
    DateReading,
    Memo,
    absent_reason,
    codes_of,
    decimal_of,
    modifier_reason,
    parse_datetime,
    quantity_absent_reason,
    text_of,
)
from adapter.units import UnitTable
from adapter.vocabulary import NORMAL_RANGE

OBSERVATION_USABLE_STATUSES = frozenset({"final", "amended", "corrected"})
_OBSERVATION_STATUS_REASONS = {
    "preliminary": "preliminary result",
    "registered": "result not yet available (status registered)",
    "cancelled": "cancelled (status cancelled)",
    "entered-in-error": "entered in error",
    "unknown": "status unknown",
}
# Every value[x]; those without a scalar reading only say which type they were (value_type = key[5:]).
# valueQuantity is listed too: a malformed one (not an object) is still a Quantity, with no value.
_VALUE_KEYS = (
    "valueQuantity", "valueCodeableConcept", "valueString", "valueInteger", "valueBoolean",
    "valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod",
    "valueAttachment", "valueReference",
)  # fmt: skip
_NO_DATE: DateReading = (None, None, None)
_NUMBER = r"\d+(?:[.,]\d+)?"
# "0.0-40 U/L", "10 - 40", "10 to 40 U/L", "<40", "<= 1.2 mg/dL", "≤1.2": a high, and a unit if written.
_RANGE_TEXT = re.compile(
    rf"^\s*(?:(?:{_NUMBER})\s*(?:-|–|to)\s*|(?:<=?|≤)\s*)(?P<high>{_NUMBER})\s*(?P<unit>[^\s\d,;:()][^\s,;:()]*)?\s*$",
    re.IGNORECASE,
)
_new_object = object.__new__
_set_attribute = object.__setattr__


@dataclass(slots=True)
class _ObsContext:
    """What a parent Observation passes on to its components."""

    effective: datetime | None
    source: str | None
    precision: str | None
    status: str | None
    reasons: tuple[str, ...]  # parent-level reasons (modifierExtension, status, no date)
    notes: tuple[str, ...]


def observation_facts(res: dict[str, Any], reference: str, units: UnitTable, memo: Memo) -> list[ObservationFact]:
    """The Observation's own fact, then one per component."""
    ctx = _observation_context(res, memo)
    components = res.get("component")
    if not components:
        return [_observation_fact(res, reference, ctx, (), units, memo)]
    facts = [_observation_fact(res, reference, ctx, (), units, memo, panel=True)]
    for i, component in enumerate(components):
        if type(component) is dict:
            own = modifier_reason(component)
            facts.append(
                _observation_fact(component, f"{reference}#component[{i}]", ctx, (own,) if own else (), units, memo)
            )
    return facts


def _observation_context(res: dict[str, Any], memo: Memo) -> _ObsContext:
    notes: list[str] = []
    reasons: list[str] = []
    modifier = modifier_reason(res)
    if modifier:
        reasons.append(modifier)
    status = res.get("status")
    if type(status) is not str:
        status = None
        reasons.append("no status")
    elif status not in OBSERVATION_USABLE_STATUSES:
        reasons.append(
            _OBSERVATION_STATUS_REASONS.get(status, f"status {status!r} not recognised") if status else "no status"
        )
    raw = res.get("effectiveDateTime")
    effective, precision, note = parse_datetime(raw, memo) if raw else _NO_DATE
    if note:
        notes.append(note)
    if effective is not None:  # nearly every lab result: read without the walk through the alternatives
        source: str | None = "effectiveDateTime"
    else:
        effective, source, precision = _other_effective(res, memo, notes)
        if effective is None:
            reasons.append("no date")
    return _ObsContext(effective, source, precision, status, tuple(reasons), tuple(notes))


def _other_effective(
    res: dict[str, Any], memo: Memo, notes: list[str]
) -> tuple[datetime | None, str | None, str | None]:
    """(date, source, precision) when effectiveDateTime gave none; notes on the way go to ``notes``."""
    for source, (effective, precision, note) in _other_dates(res, memo):
        if note:
            notes.append(note)
        if effective is not None:
            if source == "issued":
                notes.append("no effective[x]: date taken from issued")
            return effective, source, precision
    return None, None, None


def _other_dates(res: dict[str, Any], memo: Memo) -> Iterator[tuple[str, DateReading]]:
    """After effectiveDateTime, in order: effectivePeriod start/end, effectiveInstant, issued (read lazily)."""
    period = res.get("effectivePeriod")
    if isinstance(period, dict):
        for part in ("start", "end"):
            if period.get(part):
                yield f"effectivePeriod.{part}", parse_datetime(period[part], memo)
    for key in ("effectiveInstant", "issued"):
        if res.get(key):
            yield key, parse_datetime(res[key], memo)


def _unit_of(quantity: dict[str, Any], codes: frozenset[str], units: UnitTable, memo: Memo) -> str | None:
    """The UCUM unit of a Quantity (its ``code``, ``unit`` text and ``system``), or None."""
    key = (quantity.get("code"), quantity.get("unit"), quantity.get("system"))
    try:
        unit = memo.units[key]
    except KeyError:
        unit = memo.units[key] = _general_unit(key, units)
    except TypeError:  # unhashable junk in a unit field
        return None
    if unit is None and (key[0] or key[1]):
        # The analyte's codes only matter when the general table has no answer (IU/L is U/L for ALT only).
        unit = units.normalize(*key, analyte_codes=codes)
    return unit or None


def _general_unit(key: tuple[Any, Any, Any], units: UnitTable) -> str | None:
    """The unit without regard to the analyte; "" (not None: nothing more to try) for junk fields."""
    if any(part is not None and type(part) is not str for part in key):
        return ""
    return units.normalize(*key)


def _observation_fact(
    element: dict[str, Any],
    reference: str,
    ctx: _ObsContext,
    own_reasons: Sequence[str],
    units: UnitTable,
    memo: Memo,
    *,
    panel: bool = False,
) -> ObservationFact:
    """A fact for an Observation (``element`` is the resource) or a component of one."""
    code_concept = element.get("code")
    codes = codes_of(code_concept, memo)
    reasons = [*ctx.reasons, *own_reasons] if ctx.reasons or own_reasons else []
    fields: dict[str, Any] = {
        "reference": reference,
        "codes": codes,
        "text": text_of(code_concept),
        "effective": ctx.effective,
        "effective_source": ctx.source,
        "effective_precision": ctx.precision,
        "status": ctx.status,
        "value": None,
        "comparator": None,
        "unit": None,
        "unit_display": None,
        "value_type": None,
        "value_code": None,
        "value_string": None,
        "reference_high": None,
        "reference_high_unit": None,
        "reference_range_text": None,
        "usable": True,
        "unusable_reason": None,
        "notes": ctx.notes,
        "value_text": None,
        "reference_high_from_text": False,
    }
    absent = absent_reason(element) if "dataAbsentReason" in element else None
    quantity = element.get("valueQuantity")
    if type(quantity) is dict:
        absent = _read_quantity(quantity, codes, units, memo, fields, reasons, absent)
    elif not _read_other_value(element, fields, memo) and not absent:
        reasons.append("no value (panel: see its components)" if panel else "no value")
    if absent:
        fields.update(value=None, comparator=None, unit=None, value_code=None, value_string=None)
        reasons.append(absent)
    ranges = element.get("referenceRange")
    if ranges:
        _read_reference_range(ranges, codes, units, memo, fields)
    if reasons:
        fields["usable"] = False
        fields["unusable_reason"] = "; ".join(reasons)
    # A frozen dataclass, given its __dict__ in one call: the generated __init__ (20 object.__setattr__
    # calls) was most of the extraction time. Every field is set above; tests check it against fields().
    fact = _new_object(ObservationFact)
    _set_attribute(fact, "__dict__", fields)
    return fact


def _read_quantity(
    quantity: dict[str, Any],
    codes: frozenset[str],
    units: UnitTable,
    memo: Memo,
    fields: dict[str, Any],
    reasons: list[str],
    absent: str | None,
) -> str | None:
    """Fill the value fields from a valueQuantity; returns the data-absent reason (the element's or its own)."""
    fields["value_type"] = "Quantity"
    fields["unit_display"] = quantity.get("unit")
    quantity_absent = quantity_absent_reason(quantity) if "extension" in quantity else None
    raw_value = quantity.get("value")
    if quantity_absent:
        return absent or quantity_absent
    if raw_value is None:
        if not absent:
            reasons.append("no value")
        return absent
    value = fields["value"] = decimal_of(raw_value)
    if value is None:
        number = isinstance(raw_value, int | float | Decimal) and not isinstance(raw_value, bool)
        # A number beyond any lab's scale (or that no conversion could handle) is not a result to compare.
        reasons.append(f"value out of range for conversion ({raw_value})" if number else
                       f"unreadable value {raw_value!r}")
    fields["comparator"] = quantity.get("comparator")
    fields["unit"] = _unit_of(quantity, codes, units, memo)
    return absent


def _read_other_value(element: dict[str, Any], fields: dict[str, Any], memo: Memo) -> bool:
    """Fill the value fields from a value[x] other than Quantity; False when there is no value[x]."""
    if "valueCodeableConcept" in element:
        fields["value_type"] = "CodeableConcept"
        fields["value_code"] = codes_of(element["valueCodeableConcept"], memo)
        fields["value_text"] = text_of(element["valueCodeableConcept"])
    elif "valueString" in element:
        fields["value_type"] = "string"
        fields["value_string"] = element["valueString"]
    elif "valueInteger" in element:
        fields["value_type"] = "integer"
        fields["value"] = decimal_of(element["valueInteger"])
    elif "valueBoolean" in element:
        fields["value_type"] = "boolean"
        fields["value_string"] = "true" if element["valueBoolean"] is True else "false"
    else:
        for key in _VALUE_KEYS:
            if key in element:
                fields["value_type"] = key[5:]
                return True
        return False
    return True


def _read_reference_range(
    ranges: Any, codes: frozenset[str], units: UnitTable, memo: Memo, fields: dict[str, Any]
) -> None:
    """The first normal (or untyped) range with a high value; the first such range's text."""
    for rng in ranges:
        if type(rng) is not dict:
            continue
        kind = rng.get("type")
        if kind and NORMAL_RANGE not in codes_of(kind, memo):
            continue
        if fields["reference_range_text"] is None:
            fields["reference_range_text"] = rng.get("text")
        high = rng.get("high")
        if type(high) is dict and high.get("value") is not None:
            fields["reference_high"] = decimal_of(high["value"])
            fields["reference_high_unit"] = _unit_of(high, codes, units, memo)
            return
    text = fields["reference_range_text"]
    if isinstance(text, str):
        _read_range_text(text, codes, units, memo, fields)


def _read_range_text(
    text: str, codes: frozenset[str], units: UnitTable, memo: Memo, fields: dict[str, Any]
) -> None:
    """A high from a simple range text, when it can be read without a doubt (see the module docstring)."""
    found = _RANGE_TEXT.match(text)
    if found is None:
        return
    high = decimal_of(found["high"].replace(",", "."))
    written = found["unit"]
    unit = _unit_of({"unit": written}, codes, units, memo) if written else fields["unit"]
    if high is None or (written and unit is None):
        return
    fields["reference_high"] = Decimal(high)
    fields["reference_high_unit"] = unit
    fields["reference_high_from_text"] = True
