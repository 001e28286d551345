"""How reasons read for a person: units as people write them, durations in days, weeks, months or years, the
fragments of a reason joined into one sentence, and what would settle a criterion named once.

Pure text helpers: the structured fields of a report (`unit`, `normalized`) keep their UCUM codes; only prose
goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Time units as a person writes them (singular, plural): ages and durations.
TIME_WORDS = {"a": ("year", "years"), "mo": ("month", "months"), "wk": ("week", "weeks"), "d": ("day", "days")}
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_POWER = re.compile(r"10[*^](-?\d+)")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(?:mol|g|L|l|IU|m)\b)")
_BRACKETED = re.compile(r"\[([A-Za-z]+)\]")
_ANNOTATION = re.compile(r"\{[^{}]*\}")
_WHOLE = {"Cel": "°C", "[degF]": "°F", "1": ""}
_SPECIAL_ANNOTATIONS = {"{1.73_m2}": "1.73 m²"}
WEEKS_FROM = 57  # up to 8 weeks a duration reads in days
MONTHS_FROM = 91  # then weeks, until 13 weeks
YEARS_FROM = 730  # then months, until 2 years


def unit_text(unit: str | None) -> str:
    """A UCUM unit as people write it: 10*9/L → 10⁹/L, 10*3/uL → 10³/µL, mm[Hg] → mmHg, {score} → ''."""
    if not unit:
        return ""
    if unit in _WHOLE:
        return _WHOLE[unit]
    text = unit
    for code, shown in _SPECIAL_ANNOTATIONS.items():
        text = text.replace(code, shown)
    text = _ANNOTATION.sub("", text)
    text = _POWER.sub(lambda m: "10" + m.group(1).translate(_SUPERSCRIPT), text)
    text = _MICRO.sub("µ", text)
    text = _BRACKETED.sub(r"\1", text)
    return text.rstrip("/.").strip()


def quantity_text(value: str, unit: str | None) -> str:
    """A value with its unit as people write it: "61 years" (an age in `a`), "165 10³/µL", "3" (a score)."""
    shown = unit_words(unit, value)
    return f"{value} {shown}" if shown else value


def unit_words(unit: str | None, value: object = None) -> str:
    """The unit of a value as people write it: a time unit in words ("years", "1 year"), any other by `unit_text`."""
    words = TIME_WORDS.get(unit or "")
    if words is not None:
        return words[0] if str(value) == "1" else words[1]
    return unit_text(unit)


def duration(days: int) -> str:
    """How old something is: days up to 8 weeks, then weeks, months, years ("9 years", completed)."""
    if days < WEEKS_FROM:
        return _counted(days, "day")
    if days < MONTHS_FROM:
        return _counted(days // 7, "week")
    if days < YEARS_FROM:
        return _counted(round(days / 30.4375), "month")
    return _counted(days // 365, "year")


def span(days: int) -> str:
    """A window of `days`: exact, with its rough size when it is long ("1827 days (about 5 years)")."""
    if days < WEEKS_FROM:
        return _counted(days, "day")
    return f"{days} days (about {duration(days) if days >= MONTHS_FROM else _counted(round(days / 7), 'week')})"


def _counted(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Each item once, case-insensitively (the first spelling kept), in order."""
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(" ".join(item.split()).casefold(), item)
    return tuple(seen.values())


def fragments(parts: Iterable[str]) -> tuple[str, ...]:
    """The fragments of a reason once each, in order: an identical one again, or one another fragment restates
    and goes on from ("sex female" beside "sex female, not male"), says nothing more."""
    kept = list(dict.fromkeys(p for p in parts if p))
    return tuple(p for p in kept if not any(q != p and q.startswith(p + ", ") for q in kept))


def sentence(parts: Iterable[str]) -> str:
    """Fragments as one sentence: joined by "; ", with no doubled punctuation (".;")."""
    kept = list(parts)
    return "; ".join(_bare(p) if i < len(kept) - 1 else p for i, p in enumerate(kept))


def _bare(part: str) -> str:
    """A fragment without the full stop that would come before a ";" (an ellipsis stays)."""
    return part[:-1] if part.endswith(".") and not part.endswith("..") else part


def plain(text: str) -> str:
    """Text compared loosely: case, spacing and the punctuation around it do not count."""
    return " ".join(text.split()).strip(" .;:,").casefold()


FOR_A_PERSON = "for a person to decide"


def restated(part: str, text: str) -> str:
    """A reason fragment that only repeats the criterion's text (all of it, its beginning, or after a lead such
    as "not recognized: ") as "for a person to decide"; any other fragment as it is."""
    whole = plain(text)
    if not whole:
        return part
    said = plain(part)
    if said == whole or (len(said.split()) >= 3 and whole.startswith(said)):
        return FOR_A_PERSON
    at = part.find(": ")
    while at != -1:
        if plain(part[at + 2:]) == whole:
            return f"{part[:at]}: {FOR_A_PERSON}"
        at = part.find(": ", at + 1)
    return part
