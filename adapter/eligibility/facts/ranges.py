"""``Observation.referenceRange`` -> ``ReferenceRange``s, and the UCUM unit of a Quantity.

Every range with no ``type`` or type ``normal`` is kept (``recommended``, ``treatment``, ``therapeutic``, … are
targets, not normal limits: skipped), with whom it is for:

* ``appliesTo`` (each CodeableConcept a condition, all of them together): male / female from the FHIR
  referencerange-meaning codes, administrative-gender, or SNOMED 248153007 Male / 248152002 Female. Any other
  population ("pregnant", a race, a cycle phase) is kept as ``unread``: the range may or may not be this
  patient's, so it never settles a ULN alone.
* ``age`` (a Range in ``a``, ``mo``, ``wk`` or ``d``; another unit is ``unread``).
* ``low`` / ``high`` with their unit (the high's, else the low's); a range given only as text reads a high from a
  simple text (``"0.0-40 U/L"``, ``"10 - 40"``, ``"<40 U/L"``, ``"≤ 1.2"``), with ``from_text``: its unit is the one
  written (it must read as a unit), else the result's own (a lab prints its range in the result's unit).
  Anything else ("M: 0-40, F: 0-35", "see report", a unit that does not read) gives no high: never a guess.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from adapter.eligibility.facts.model import ReferenceRange
from adapter.eligibility.facts.readers import Memo, codes_of, decimal_of
from adapter.units import UnitTable
from adapter.vocabulary import ADMINISTRATIVE_GENDER, NORMAL_RANGE, REFERENCE_RANGE_MEANING, SNOMED, token

_NUMBER = r"\d+(?:[.,]\d+)?"
# "0.0-40 U/L", "10 - 40", "10 to 40 U/L", "<40", "<= 1.2 mg/dL", "≤1.2": a high, and a unit if written.
_RANGE_TEXT = re.compile(
    rf"^\s*(?:(?:{_NUMBER})\s*(?:-|–|to)\s*|(?:<=?|≤)\s*)(?P<high>{_NUMBER})\s*(?P<unit>[^\s\d,;:()][^\s,;:()]*)?\s*$",
    re.IGNORECASE,
)
# appliesTo codings that name a sex, as senders write them.
SEX_CODES = {
    token(REFERENCE_RANGE_MEANING, "male"): "male",
    token(REFERENCE_RANGE_MEANING, "female"): "female",
    token(ADMINISTRATIVE_GENDER, "male"): "male",
    token(ADMINISTRATIVE_GENDER, "female"): "female",
    token(SNOMED, "248153007"): "male",  # Male (finding)
    token(SNOMED, "248152002"): "female",  # Female (finding)
}
AGE_UNITS = frozenset({"a", "mo", "wk", "d"})


def unit_of(quantity: dict[str, Any], codes: frozenset[str], units: UnitTable, memo: Memo) -> str | None:
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


def read_reference_ranges(
    ranges: Any, codes: frozenset[str], units: UnitTable, memo: Memo, fields: dict[str, Any]
) -> None:
    """Fill ``reference_ranges`` and ``reference_range_text`` of an ObservationFact's fields."""
    if type(ranges) is not list:
        return
    found: list[ReferenceRange] = []
    for rng in ranges:
        if type(rng) is not dict:
            continue
        kind = rng.get("type")
        if kind and NORMAL_RANGE not in codes_of(kind, memo):
            continue
        text = rng.get("text") if isinstance(rng.get("text"), str) else None
        if fields["reference_range_text"] is None:
            fields["reference_range_text"] = text
        found.append(_range(rng, text, codes, units, memo, fields["unit"]))
    fields["reference_ranges"] = tuple(found)


def _range(rng: dict[str, Any], text: str | None, codes: frozenset[str], units: UnitTable, memo: Memo,
           result_unit: str | None) -> ReferenceRange:
    low, high = rng.get("low"), rng.get("high")
    low_value = decimal_of(low.get("value")) if type(low) is dict and low.get("value") is not None else None
    high_value = decimal_of(high.get("value")) if type(high) is dict and high.get("value") is not None else None
    unit = None
    if high_value is not None and type(high) is dict:
        unit = unit_of(high, codes, units, memo)
    elif low_value is not None and type(low) is dict:
        unit = unit_of(low, codes, units, memo)
    from_text = False
    if high_value is None and text is not None:
        read = _read_range_text(text, codes, units, memo, result_unit)
        if read is not None:
            high_value, unit = read
            from_text = True
    sex, unread = _applies_to(rng.get("appliesTo"), memo)
    age_low, age_high, age_unit = _age(rng.get("age"), unread)
    return ReferenceRange(low=low_value, high=high_value, unit=unit, sex=sex, age_low=age_low, age_high=age_high,
                          age_unit=age_unit, unread=tuple(unread), text=text, from_text=from_text)


def _applies_to(applies_to: Any, memo: Memo) -> tuple[str | None, list[str]]:
    """(the sex the range is for, or None; the populations not understood)."""
    sex: str | None = None
    unread: list[str] = []
    if type(applies_to) is not list:
        return None, unread
    for concept in applies_to:
        sexes = {SEX_CODES[c] for c in codes_of(concept, memo) if c in SEX_CODES}
        if len(sexes) == 1 and sex in (None, *sexes):
            sex = sexes.pop()
            continue
        shown = (concept.get("text") if type(concept) is dict else None) or ", ".join(sorted(codes_of(concept, memo)))
        unread.append(f"appliesTo {shown or 'unreadable'}")
    return sex, unread


def _age(age: Any, unread: list[str]) -> tuple[Decimal | None, Decimal | None, str | None]:
    """The age band (low, high, unit); an age in another unit goes to ``unread``."""
    if type(age) is not dict:
        return None, None, None
    ends = [age.get("low"), age.get("high")]
    values = [decimal_of(e.get("value")) if type(e) is dict and e.get("value") is not None else None for e in ends]
    unit_codes = {(e.get("code") or e.get("unit")) for e in ends if type(e) is dict and e.get("value") is not None}
    if values == [None, None]:
        return None, None, None
    unit = unit_codes.pop() if len(unit_codes) == 1 else None
    if unit not in AGE_UNITS:
        unread.append(f"age in {unit!r}" if unit_codes or unit else "age without one unit")
        return None, None, None
    return values[0], values[1], unit


def _read_range_text(text: str, codes: frozenset[str], units: UnitTable, memo: Memo,
                     result_unit: str | None) -> tuple[Decimal, str | None] | None:
    """A high from a simple range text, when it can be read without a doubt (see the module docstring)."""
    found = _RANGE_TEXT.match(text)
    if found is None:
        return None
    high = decimal_of(found["high"].replace(",", "."))
    written = found["unit"]
    unit = unit_of({"unit": written}, codes, units, memo) if written else result_unit
    if high is None or (written and unit is None):
        return None
    return Decimal(high), unit
