"""Which upper reference limit (ULN) is this patient's: the result's own ranges, else the site's default table.

A result may carry several normal ranges (men's and women's, age bands). Each is read against the patient:

* it **applies** when its sex and age band (age at the result's date) hold for the patient;
* it is **skipped** when they do not (a man's range for a woman, a child's for an adult);
* it **may apply** when the data cannot say: the sex not recorded, no birth date (or a partial one straddling
  the band), a population not understood (``appliesTo`` pregnant).

The ranges that apply or may apply must agree on the high (in the result's unit); otherwise the ULN is unknown,
naming every candidate ("1.2 mg/dL for male, 1 mg/dL for female"). With the sex not recorded, the engine then
tries the criterion as a man and as a woman (``engine._SexCases``): the patient's gender set, each case picks its
own range. Never the first range, never a guess.

A result sent with no range at all (no range with a high, no range text) uses the site's table
(``EngineOptions.reference_ranges``), read the same way and always named as a site default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from adapter.eligibility.compare import show, show_quantity
from adapter.eligibility.facts.model import ReferenceRange
from adapter.eligibility.prose import TIME_WORDS
from adapter.eligibility.rules.demographics import age_span
from adapter.errors import UnitConversionError
from adapter.units import convert
from adapter.units.convert import OUT_OF_RANGE, within_range

if TYPE_CHECKING:
    from adapter.eligibility.facts import ObservationFact, PatientFacts
    from adapter.eligibility.reference_ranges import ReferenceRangeTable, SiteRange

Match = Literal["applies", "skipped", "maybe"]
DIMENSIONLESS = {None, "1", "{score}"}


@dataclass(frozen=True, slots=True)
class Uln:
    value: Decimal  # in the result's unit
    described: str  # "ULN 1.1 mg/dL for female", "site default ULN 1.2 mg/dL (reference-ranges FILE row 3 …)"


@dataclass(frozen=True, slots=True)
class NoUln:
    reason: str
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Candidate:
    range: ReferenceRange
    why: str | None  # why it only may apply
    site_row: SiteRange | None = None


def patient_uln(facts: PatientFacts, fact: ObservationFact, unit: str | None, molar_mass: Decimal | None,
                table: ReferenceRangeTable | None, label: str) -> Uln | NoUln:
    """The ULN for this patient in `unit` (the result's), or why there is none to use."""
    with_high = [r for r in fact.reference_ranges if r.high is not None]
    site_rows: tuple[SiteRange, ...] = ()
    if not with_high:
        given = fact.reference_range_text
        if given is None and table is not None:
            site_rows = table.rows_for(fact.codes)
        if not site_rows:
            text = f" (reference range given only as text: {given!r})" if given else ""
            return NoUln(f"{fact.reference}: no upper reference limit (ULN) on the result{text}",
                         (f"{label} with its reference range",))
    when = fact.effective.date() if fact.effective else None
    ranges: list[tuple[ReferenceRange, SiteRange | None]] = [(r, None) for r in with_high]
    ranges = ranges or [(_as_range(row), row) for row in site_rows]
    candidates: list[_Candidate] = []
    skipped: list[str] = []
    for rng, row in ranges:
        match, why = range_match(rng, facts, when)
        if match == "skipped":
            skipped.append(_whom(rng) or "everyone")
        else:
            candidates.append(_Candidate(rng, why, row))
    if not candidates:
        source = f"in the site table {table.origin}" if site_rows and table else "on the result"
        return NoUln(f"{fact.reference}: no reference range {source} applies to this patient "
                     f"(ranges for {', '.join(skipped)})", (f"{label} with its reference range",))
    return _agreed(fact, candidates, unit, molar_mass, table, label)


def _agreed(fact: ObservationFact, candidates: list[_Candidate], unit: str | None, molar_mass: Decimal | None,
            table: ReferenceRangeTable | None, label: str) -> Uln | NoUln:
    """The one high every candidate gives, converted to `unit`; else why not."""
    values: list[Decimal] = []
    for candidate in candidates:
        converted = _in_unit(fact, candidate.range, unit, molar_mass)
        if isinstance(converted, NoUln):
            return converted
        values.append(converted)
    if len(set(values)) > 1:
        shown = ", ".join(f"{show_quantity(v, unit)}{_for(c)}" for v, c in zip(values, candidates, strict=True))
        whys = sorted({c.why for c in candidates if c.why})
        missing: tuple[str, ...] = ("the patient's sex",) if any(c.range.sex for c in candidates) else ()
        missing += ("birth date",) if any(c.range.age_unit for c in candidates) else ()
        return NoUln(f"{fact.reference}: the reference ranges that may apply give different ULNs: {shown}"
                     + (f" ({'; '.join(whys)})" if whys else ""), missing or (f"{label} with its reference range",))
    value = values[0]
    if not within_range(value):  # bounded arithmetic: an absurd ULN is no limit
        return NoUln(f"{fact.reference}: ULN {show(value)} {OUT_OF_RANGE}", (label,))
    return Uln(value, _described(value, unit, candidates, table))


def _in_unit(fact: ObservationFact, rng: ReferenceRange, unit: str | None,
             molar_mass: Decimal | None) -> Decimal | NoUln:
    assert rng.high is not None
    if rng.unit is None and not dimensionless(unit):
        return NoUln(f"{fact.reference}: the reference range high has no unit", ("reference range unit",))
    if rng.unit in (None, unit) or (dimensionless(rng.unit) and dimensionless(unit)):
        return rng.high
    try:
        return convert(rng.high, str(rng.unit), str(unit), molar_mass=molar_mass)
    except UnitConversionError as exc:
        return NoUln(f"{fact.reference}: ULN {exc}", (f"{fact.text or 'result'} ULN in its unit",))


def dimensionless(unit: str | None) -> bool:
    """No unit, UCUM `1`, or a UCUM annotation alone (`{score}`, `{INR}`, `{ratio}`): all mean unity."""
    if unit in DIMENSIONLESS:
        return True
    return unit is not None and unit.startswith("{") and unit.endswith("}") and "}" not in unit[1:-1]


def _described(value: Decimal, unit: str | None, candidates: list[_Candidate],
               table: ReferenceRangeTable | None) -> str:
    shown = show_quantity(value, unit)
    if candidates[0].site_row is not None and table is not None:
        rows = ", ".join(str(c.site_row.row) for c in candidates if c.site_row)
        sources = ", ".join(dict.fromkeys(c.site_row.source for c in candidates if c.site_row))
        whom = _for(candidates[0]) if len(candidates) == 1 else ""
        plural = "s" if len(candidates) > 1 else ""
        return f"site default ULN {shown}{whom} (reference-ranges {table.origin} row{plural} {rows}, source {sources})"
    whom = _for(candidates[0]) if len(candidates) == 1 else " (every range that may apply agrees)"
    first = candidates[0].range
    text = f", read from the reference range text {first.text!r}" if len(candidates) == 1 and first.from_text else ""
    return f"ULN {shown}{whom}{text}"


def _for(candidate: _Candidate) -> str:
    whom = _whom(candidate.range)
    return f" for {whom}" if whom else ""


def _whom(rng: ReferenceRange) -> str:
    """Whom a range is for, as a reason shows it: "female, 18–49 a"; "" for everyone."""
    parts = [rng.sex] if rng.sex else []
    if rng.age_unit:
        low = show(rng.age_low) if rng.age_low is not None else None
        high = show(rng.age_high) if rng.age_high is not None else None
        band = f"{low}–{high}" if low and high else (f"≥ {low}" if low else f"≤ {high}")
        parts.append(f"{band} {TIME_WORDS.get(rng.age_unit, ('', rng.age_unit))[1]}")
    parts += [u.removeprefix("appliesTo ") for u in rng.unread]
    return ", ".join(parts)


def range_match(rng: ReferenceRange, facts: PatientFacts, when: date | None) -> tuple[Match, str | None]:
    """Whether the range is this patient's: applies, skipped, or maybe (with why it cannot be told)."""
    whys: list[str] = []
    if rng.sex is not None:
        if facts.gender in ("male", "female"):
            if facts.gender != rng.sex:
                return "skipped", None
        else:
            whys.append(f"sex {facts.gender or 'not recorded'}")
    if rng.age_unit is not None:
        span = age_span(facts, when, rng.age_unit) if when else None
        low = rng.age_low if rng.age_low is not None else Decimal("-Infinity")
        high = rng.age_high if rng.age_high is not None else Decimal("Infinity")
        if span is None:
            whys.append("no birth date")
        elif span[1] < low or span[0] > high:
            return "skipped", None
        elif span[0] < low or span[1] > high:
            whys.append("birth date too partial to place the age band")
    whys += [f"{u}: not read" for u in rng.unread]
    return ("maybe", "; ".join(whys)) if whys else ("applies", None)


def _as_range(row: SiteRange) -> ReferenceRange:
    """A site row read like a lab's range (its age band in years; every age when 0 to no limit)."""
    banded = row.age_low > 0 or row.age_high is not None
    return ReferenceRange(low=row.low, high=row.high, unit=row.unit, sex=None if row.sex == "any" else row.sex,
                          age_low=row.age_low if banded else None, age_high=row.age_high if banded else None,
                          age_unit="a" if banded else None)

