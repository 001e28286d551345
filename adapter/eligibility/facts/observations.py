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
* reference ranges: every ``referenceRange`` with no ``type`` or type ``normal`` becomes a ``ReferenceRange``
  (low, high, unit, the sex and age band it is for; see ``ranges``); the first one's text is
  ``reference_range_text``. Which range is the patient's is decided by the ULN rule, not here.
* a coded value's text (``valueCodeableConcept.text``, else its first display) is ``value_text``: dipstick
  results ("2+", "Trace") come coded with a LOINC answer code or as text only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.eligibility.facts.model import ObservationFact
from adapter.eligibility.facts.ranges import read_reference_ranges, unit_of
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
    ctx = observation_context(res, memo)
    components = res.get("component")
    if not components or not isinstance(components, list):  # junk where a list belongs is no component
        return [_observation_fact(res, reference, ctx, (), units, memo)]
    facts = [_observation_fact(res, reference, ctx, (), units, memo, panel=True)]
    for i, component in enumerate(components):
        if type(component) is dict:
            own = modifier_reason(component)
            facts.append(
                _observation_fact(component, f"{reference}#component[{i}]", ctx, (own,) if own else (), units, memo)
            )
    return facts


def observation_context(res: dict[str, Any], memo: Memo) -> _ObsContext:
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
        "reference_range_text": None,
        "usable": True,
        "unusable_reason": None,
        "notes": ctx.notes,
        "value_text": None,
        "reference_ranges": (),
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
        read_reference_ranges(ranges, codes, units, memo, fields)
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
    fields["unit"] = unit_of(quantity, codes, units, memo)
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
