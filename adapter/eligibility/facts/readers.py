"""Small readers of FHIR elements (plain dicts): codes, text, dates with their precision, decimals, status,
modifierExtension, data-absent reasons and references.

They never raise on malformed input: junk reads as "nothing there" (or a note saying it was unreadable).

Dates
    FHIR date, dateTime and instant strings. Date-only values are midnight UTC; partial dates ("2017",
    "2017-06") are read as the start of the period, with precision "year"/"month" and a note; a time without
    a zone is read as UTC and noted. All datetimes returned are timezone-aware; a sender's offset is kept
    (not converted to UTC), because "on or before the evaluation date" is judged on the result's local date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapter.units.convert import within_range
from adapter.vocabulary import DATA_ABSENT_REASON_EXT, token

NO_CODES: frozenset[str] = frozenset()

DateReading = tuple[datetime | None, str | None, str | None]  # (datetime, precision, note)


@dataclass(slots=True)
class Memo:
    """Readings memoised for one extraction call, never across calls: the same codings and dates recur
    hundreds of times in one patient's data (a lab panel a week for years)."""

    codes: dict[tuple[Any, Any], frozenset[str]] = field(default_factory=dict)
    datetimes: dict[str, DateReading] = field(default_factory=dict)
    # (code, unit, system) of a Quantity -> its UCUM unit; "" for junk. Saves a UnitTable call per value.
    units: dict[tuple[Any, Any, Any], str | None] = field(default_factory=dict)


def codes_of(concept: Any, memo: Memo) -> frozenset[str]:
    """The ``system|code`` tokens of a CodeableConcept (``|code`` for a coding without a system)."""
    if type(concept) is not dict:
        return NO_CODES
    codings = concept.get("coding")
    if not codings:
        return NO_CODES
    if len(codings) == 1:  # the common case: memoised, so equal codings share one frozenset
        c = codings[0]
        if type(c) is not dict:
            return NO_CODES
        code = c.get("code")
        if not code:
            return NO_CODES
        key = (c.get("system"), code)
        try:
            return memo.codes[key]
        except KeyError:
            found = memo.codes[key] = frozenset((token(key[0], code),))
            return found
        except TypeError:  # unhashable junk in system or code
            return NO_CODES
    return frozenset(token(c.get("system"), c["code"]) for c in codings if type(c) is dict and c.get("code"))


def text_of(concept: Any) -> str | None:
    """``text``, else the first coding's ``display``."""
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    if text:
        return text
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and coding.get("display"):
            return coding["display"]
    return None


def names_of(concept: Any) -> tuple[str, ...]:
    """``text`` and every coding's ``display``, in order, without repeats: the names an entry goes by."""
    if not isinstance(concept, dict):
        return ()
    found = [concept["text"]] if isinstance(concept.get("text"), str) and concept["text"] else []
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and isinstance(coding.get("display"), str) and coding["display"]:
            found.append(coding["display"])
    return tuple(dict.fromkeys(found))


def first_code(concept: Any) -> str | None:
    """The first string ``code`` among a CodeableConcept's codings (status-like concepts)."""
    if isinstance(concept, dict):
        codings = concept.get("coding")
        if isinstance(codings, list):
            for coding in codings:
                if isinstance(coding, dict) and coding.get("code") and type(coding["code"]) is str:
                    return coding["code"]
    return None


def status_of(res: Mapping[str, Any]) -> str | None:
    status = res.get("status")
    return status if type(status) is str and status else None


def decimal_of(raw: Any) -> Decimal | None:
    """A finite Decimal of sane magnitude from a JSON number (or numeric string); None for anything else.

    Bounded like unit conversion (0, or 1e-24 to 1e24): "1e999999" is no lab value, and would otherwise cost
    minutes to print."""
    kind = type(raw)
    if kind is float:
        value = Decimal(repr(raw))  # shortest repr: 13.3 stays 13.3, not its binary expansion
    elif kind is int:
        value = Decimal(raw)
    elif kind is Decimal:
        value = raw
    elif kind is str:
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            return None
    else:  # None, bool, lists, ...
        return None
    return value if within_range(value) else None


def parse_datetime(raw: Any, memo: Memo) -> DateReading:
    """(timezone-aware datetime, precision, note) for a FHIR date/dateTime/instant string."""
    if type(raw) is not str:
        return None, None, f"unreadable date {raw!r}"
    try:
        return memo.datetimes[raw]
    except KeyError:
        reading = memo.datetimes[raw] = parse_datetime_text(raw)
        return reading


def parse_datetime_text(raw: str) -> DateReading:
    text = raw.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=UTC), "year", f"partial date {text!r} read as {text}-01-01"
        if len(text) == 7:
            year, month = text.split("-")
            return datetime(int(year), int(month), 1, tzinfo=UTC), "month", f"partial date {text!r} read as {text}-01"
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC), "day", None
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, None, f"unreadable date {raw!r}"
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), "time", f"time without zone {raw!r} read as UTC"
    # Keep the sender's offset: "on or before the evaluation date" is judged on the result's own local date.
    return parsed, "time", None


def parse_date(raw: Any, memo: Memo) -> tuple[date | None, str | None]:
    """(date, precision) of a FHIR date such as ``birthDate``."""
    if not isinstance(raw, str):
        return None, None
    parsed, precision, _ = parse_datetime(raw, memo)
    return (parsed.date() if parsed else None), precision


def pick_date(
    res: Mapping[str, Any], candidates: tuple[str, ...], memo: Memo
) -> tuple[datetime | None, datetime | None, str | None, list[str]]:
    """(start, end, source, notes) from the first readable of ``candidates`` (element names).

    A candidate ending in "Period" is a Period (start, else end); others are date/dateTime strings.
    """
    notes: list[str] = []
    for key in candidates:
        raw = res.get(key)
        if not raw:
            continue
        if key.endswith("Period"):
            found = _period(raw, key, memo, notes)
            if found is not None:
                return (*found, notes)
            continue
        parsed, _, note = parse_datetime(raw, memo)
        if note:
            notes.append(note)
        if parsed is not None:
            return parsed, None, key, notes
    return None, None, None, notes


def _period(raw: Any, key: str, memo: Memo, notes: list[str]) -> tuple[datetime, datetime | None, str] | None:
    """(start, end, source) of a Period: its start, else its end; None when neither is readable."""
    if not isinstance(raw, dict):
        return None
    start_raw, end_raw = raw.get("start"), raw.get("end")
    end = None
    if end_raw:
        end, _, note = parse_datetime(end_raw, memo)
        if note:
            notes.append(note)
    if start_raw:
        start, _, note = parse_datetime(start_raw, memo)
        if note:
            notes.append(note)
        if start is not None:
            return start, end, f"{key}.start"
    if end is not None:
        return end, end, f"{key}.end"
    return None


def modifier_reason(element: Mapping[str, Any]) -> str | None:
    """Why an element with a ``modifierExtension`` is unusable: no modifier is understood here."""
    mods = element.get("modifierExtension")
    if not mods:
        return None
    urls = ", ".join(str(m.get("url") or "<no url>") if isinstance(m, dict) else "<malformed>" for m in mods)
    return f"unrecognised modifierExtension {urls}"


def absent_reason(element: Mapping[str, Any]) -> str | None:
    """The reason ("data absent: <code> (<text>)") given by a ``dataAbsentReason``, or None."""
    dar = element.get("dataAbsentReason")
    if not dar:
        return None
    code = first_code(dar)
    text = dar.get("text") if isinstance(dar, dict) else None
    if code and text and text.lower() != code.lower():
        return f"data absent: {code} ({text})"
    return f"data absent: {code or text or 'no reason given'}"


def quantity_absent_reason(quantity: Mapping[str, Any]) -> str | None:
    """The data-absent-reason extension on a Quantity (a value suppressed, with its unit and range kept)."""
    for ext in quantity.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == DATA_ABSENT_REASON_EXT:
            return f"data absent: {ext.get('valueCode') or 'no reason given'}"
    return None


def tail_reference(reference: str) -> str:
    """The last Type/id pair of a reference: http://x/fhir/Patient/1/_history/2 -> Patient/1."""
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference
