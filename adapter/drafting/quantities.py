"""Comparator + number + unit in eligibility text: '≥ 1.5 × 109/L', 'no less than 1,500/mm3', '18-75 years',
'between 1.5 and 3.0 g/dL', '≤ 2.5 x the upper limit of normal', '140/90 mmHg'.

Text is read after NFKC folding (superscripts become digits: '×10⁹/L' reads as the lost-superscript '×109/L').
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from adapter.drafting.split import unescape

_CMP_WORDS: tuple[tuple[str, str], ...] = (
    (r"≥|>=|=>|>/=|=/>|⩾|≧", ">="),
    (r"≤|<=|=<|</=|=/<|⩽|≦", "<="),
    (r"greater\s+(?:than\s+)?or\s+equal\s+to|more\s+than\s+or\s+equal\s+to|equal\s+to\s+or\s+(?:greater|more|higher)\s+than"
     r"|at\s+least|of\s+at\s+least|no\s+(?:less|lower|fewer)\s+than|not\s+(?:less|lower|fewer)\s+than"
     r"|a\s+minimum\s+of|minimum\s+of", ">="),
    (r"less\s+(?:than\s+)?or\s+equal\s+to|equal\s+to\s+or\s+(?:less|lower)\s+than|no\s+(?:more|greater|higher)\s+than"
     r"|not\s+(?:more|greater|higher)\s+than|not\s+(?:to\s+)?exceed(?:ing)?|up\s+to|a\s+maximum\s+of"
     r"|maximum\s+of|within(?=\s*\d{1,3}(?:\.\d{1,3})?\s*(?:[x×*]|times))", "<="),  # "within 1.5 x ULN"
    (r">|greater\s+than|more\s+than|higher\s+than|above|exceeding|exceeds|in\s+excess\s+of|over", ">"),
    (r"<|less\s+than|lower\s+than|fewer\s+than|below|under", "<"),
)
_CMP = "|".join(f"(?:{words})" for words, _ in _CMP_WORDS)
# A number starts where no digit, comma or dot is before it, and has at most 12 digits each side of the point: a
# lab value never needs more, and unbounded `\d+` tried from every position of a 20,000-digit run was quadratic
# (22 s). Possessive quantifiers (`*+`, Python 3.11) below: whitespace is never given back, so no pattern
# backtracks over a long run. Every pattern stays linear in the text (tests/drafting/test_hostile_texts.py).
_NUM = r"(?<![\d,.])(?:\d{1,3}(?:,\d{3}){1,4}(?!\d)|\d{1,12}(?!\d))(?:\.\d{1,12}(?!\d))?"
_UNITS: tuple[tuple[str, str | None], ...] = (
    (r"(?:[x×*]|times)?\s*(?:the\s+)?(?:institutional\s+|local\s+|laboratory\s+)?(?:uln\b|upper\s+limits?\s+(?:of\s+)?"
     r"(?:the\s+)?normal(?:\s+(?:range|limits?))?)", "ULN"),
    # "< 2.5x normal", "3 times normal": a multiple of normal is one of the upper limit (the sign is required)
    (r"(?:[x×*]|times)\s*(?:the\s+)?normal\b(?!\s+(?:range|limits?|values?)\b)", "ULN"),
    (r"[x×*]\s*10\s*\(?\s*(?:\^|\*|e|exp)?\s*(?P<exp>9|12|6|3)\s*\)?\s*(?:cells\s*)?/\s*(?P<vol>l|μl|ul|mcl|mm3|cmm|mm\^3)\b",
     None),
    (r"(?:k|thou)\s*/\s*(?:μl|ul|mcl|mm3)\b", "10*3/uL"),
    (r"(?:cells\s*)?/\s*(?:mm3|mm\^3|cmm|cu\.?\s*mm)", "/mm3"),
    (r"(?:cells\s*)?/\s*(?:μl|ul|mcl)\b", "/uL"),
    (r"g\s*/\s*dl\b", "g/dL"),
    (r"mg\s*/\s*dl\b", "mg/dL"),
    (r"g\s*/\s*l\b", "g/L"),
    (r"mg\s*/\s*l\b", "mg/L"),
    (r"(?:μ|u|micro)mol\s*/\s*l\b", "umol/L"),
    (r"mmol\s*/\s*mol\b", "mmol/mol"),
    (r"mmol\s*/\s*l\b", "mmol/L"),
    (r"meq\s*/\s*l\b", "meq/L"),
    (r"(?:iu|u)\s*/\s*l\b", "U/L"),
    (r"(?:μ|u|mc)g\s*/\s*l\b", "ug/L"),
    (r"ng\s*/\s*ml\b", "ng/mL"),
    (r"(?:iu|u)\s*/\s*ml\b", "[IU]/mL"),  # viral loads ("HBV DNA < 20 IU/mL")
    (r"copies\s*/\s*ml\b", "{copies}/mL"),
    (r"mls?\s*(?:/|per)\s*min(?:ute)?s?\s*(?:/|per)\s*1[.,]73\s*m\s*\^?2", "mL/min/{1.73_m2}"),
    # "ml/min/m2" (per m² of body surface, not per 1.73 m²): read as written, so that no eGFR concept takes it
    (r"mls?\s*(?:/|per)\s*min(?:ute)?s?\s*(?:/|per)\s*m\s*\^?2", "mL/min/m2"),
    (r"(?:mls?|milli-?lit(?:er|re)s?)\s*(?:/|per)\s*min(?:ute)?s?\b", "mL/min"),
    (r"mm\s*hg\b", "mm[Hg]"),
    (r"(?:ms|msec|milliseconds?)\b", "ms"),
    (r"(?:s|sec|seconds?)\b", "s"),
    (r"%|percent\b", "%"),
    (r"g\s*(?:/|per)\s*(?:24\s*-?\s*h(?:ours?|rs?)?|day|d)\b", "g/(24.h)"),
    (r"g\b", "g"),
    (r"(?:years?|yrs?)\b", "a"),
    (r"(?:months?|mos?)\b", "mo"),  # durations (and young ages): read so that no lab takes them as its bound
    (r"(?:weeks?|wks?)\b", "wk"),
    (r"days?\b", "d"),
    (r"(?:hours?|hrs?)\b", "h"),
    (r"°\s*c\b|degrees?\s+c(?:elsius)?\b", "Cel"),
    (r"kg\s*/?\s*m\s*\^?2", "kg/m2"),  # "35 kg m2" too
    (r"kgs?\b|kilo(?:gram)?s?\b", "kg"),
    (r"(?:breaths?|beats?)?\s*(?:/|per)\s*min(?:ute)?\b|bpm\b", "/min"),
    (r"(?:l|lit(?:er|re)s?)\b", "L"),
    (r"(?:points?)\b", "{score}"),
)


def _possessive(pattern: str) -> str:
    """`\\s*` and `\\s+` made possessive: in these patterns whitespace is never followed by more whitespace
    that another part could match, so this changes no reading and removes all backtracking over blanks."""
    return pattern.replace(r"\s*", r"\s*+").replace(r"\s+", r"\s++")


_UNIT_RES = tuple((re.compile(_possessive(r"\s*(?:" + pattern + ")"), re.IGNORECASE), ucum)
                  for pattern, ucum in _UNITS)
_COUNT_UNIT = {"l": "10*{exp}/L", "μl": "10*{exp}/uL", "ul": "10*{exp}/uL", "mcl": "10*{exp}/uL",
               "mm3": "10*{exp}/mm3", "cmm": "10*{exp}/mm3", "mm^3": "10*{exp}/mm3"}

_THRESHOLD = re.compile(_possessive(rf"(?P<cmp>{_CMP})\s*:?\s*(?:the\s+ages?\s+of\s+)?(?P<num>{_NUM})"),
                        re.IGNORECASE)  # "above the age of 18 years"
_POSTFIX = re.compile(_possessive(r"\s*(?:(?:of\s+age|old)\s*,?\s*)?"
                                  r"(?:or\s+(?P<ge>more|greater|higher|above|over|older)|"
                                  r"and\s+(?P<ge2>above|over|older)|or\s+(?P<le>less|lower|fewer|below|younger))\b"),
                     re.IGNORECASE)  # "12 years of age or older"
# "creatinine more than the upper limit of normal", "≤ ULN": a bound of one ULN with no number written (not
# "PT > ULN + 4 s", an offset this reader does not take)
_ULN_ONLY = re.compile(_possessive(rf"(?P<cmp>{_CMP})\s*(?:the\s+)?(?:institutional\s+|local\s+|laboratory\s+)?"
                                   r"(?:uln\b|upper\s+limits?\s+(?:of\s+)?(?:the\s+)?normal(?:\s+(?:range|limits?))?)(?!\s*[+-]\s*\d)"),
                       re.IGNORECASE)
_BARE = re.compile(rf"(?<![\d.,/])(?P<num>{_NUM})", re.IGNORECASE)
_RANGE = re.compile(_possessive(rf"(?:between\s+(?:the\s+ages?\s+of\s+)?)?(?P<low>{_NUM})\s*"
                                rf"(?P<lowunit>[^\d\s\-–~]{{0,12}}?)\s*"
                                rf"(?P<sep>-|–|~|to|and)\s*(?P<high>{_NUM})"), re.IGNORECASE)
_BP = re.compile(_possessive(rf"(?P<cmp>{_CMP})\s*(?P<sys>\d{{2,3}})\s*/\s*(?P<dia>\d{{2,3}})\s*mm\s*hg"),
                 re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"^,\d{1,2}(?!\d)")


@dataclass(frozen=True)
class Quantity:
    """A bound as written: comparator and value (or low/high for a range) with its UCUM unit."""

    start: int
    end: int
    comparator: str | None  # None for a range
    value: Decimal | None
    unit: str | None  # UCUM; "ULN" for a multiple of the upper limit of normal; None when there is none
    raw_unit: str
    low: Decimal | None = None
    high: Decimal | None = None
    problem: str | None = None  # why the number cannot be read safely
    review: str | None = None  # why a person should check the reading
    part: str | None = None  # "systolic" / "diastolic" for a blood pressure pair

    def describe(self) -> str:
        unit = "× ULN" if self.unit == "ULN" else (self.unit or "(no unit)")
        if self.comparator is None:
            return f"{_show(self.low)}–{_show(self.high)} {unit}"
        return f"{self.comparator} {_show(self.value)} {unit}"


def _show(value: Decimal | None) -> str:
    return "?" if value is None else format(value.normalize(), "f")


# Multiples written in words ("five times the upper limit of normal", "twice the ULN"): read as digits. Only before
# "times"/"×"/"fold" or "the ULN" words, where a word number can only be the multiple.
_WORD_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                 "eight": "8", "nine": "9", "ten": "10", "one and a half": "1.5", "one and one-half": "1.5",
                 "two and a half": "2.5", "two and one-half": "2.5"}
_WORD_MULTIPLE = re.compile(
    r"\b(?P<num>(?:one|two)\s+and\s+(?:a|one)[\s-]half|one|two|three|four|five|six|seven|eight|nine|ten)"
    r"(?P<sep>\s*\(\s*\d{1,2}(?:\.\d)?\s*\))?(?=\s*(?:times\b|x\s|×|-?fold\b))"
    r"|\btwice(?=\s+(?:the\s+)?(?:institutional\s+)?(?:uln\b|upper\s+limit))", re.IGNORECASE)


def _word_number(match: re.Match[str]) -> str:
    if match.group("num") is None:  # "twice the ULN"
        return "2 x"
    if match.group("sep"):  # "five (5) times": the digits are already written
        return match.group("sep").strip(" ()\t")
    return _WORD_NUMBERS[" ".join(match.group("num").lower().replace("-", " ").split())]


def fold(text: str) -> str:
    """The text quantities are read from: markdown escapes dropped, NFKC (superscripts → digits), multiples in
    words as digits."""
    return _WORD_MULTIPLE.sub(_word_number, unicodedata.normalize("NFKC", unescape(text)))


def _number(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def _comparator(words: str) -> str:
    if words.strip().lower() == "within":  # its pattern's lookahead (a ULN multiple follows) is not in `words`
        return "<="
    for pattern, symbol in _CMP_WORDS:
        if re.fullmatch(pattern, words.strip(), re.IGNORECASE):
            return symbol
    raise ValueError(words)  # pragma: no cover - the pattern only lets these through


def read_unit(text: str, at: int) -> tuple[str | None, str, int]:
    """(UCUM unit or None, the words, end position) of the unit starting at `at`."""
    for pattern, ucum in _UNIT_RES:
        match = pattern.match(text, at)
        if match is None:
            continue
        if ucum is None:
            exp, vol = match.group("exp"), match.group("vol").lower()
            ucum = _COUNT_UNIT[vol].format(exp=exp)
            if ucum == "10*3/mm3":
                ucum = "10*3/uL"
        return ucum, match.group(0).strip(), match.end()
    return None, "", at


def find_quantities(text: str) -> list[Quantity]:
    """Every bound in the (folded) text, in order."""
    found: list[Quantity] = []
    taken = bytearray(len(text) + 1)  # 1 where a found quantity covers the character (was a list scan per match)

    def take(start: int, end: int) -> None:
        taken[start:end] = b"\x01" * (end - start)

    for match in _BP.finditer(text):
        symbol = _comparator(match.group("cmp"))
        for part in ("sys", "dia"):
            found.append(Quantity(match.start(), match.end(), symbol, Decimal(match.group(part)), "mm[Hg]",
                                  "mmHg", part="systolic" if part == "sys" else "diastolic"))
        take(match.start(), match.end())
    for match in _THRESHOLD.finditer(text):
        if taken[match.start()]:
            continue
        found.append(_threshold(text, match))
        take(match.start(), found[-1].end)
    for match in _ULN_ONLY.finditer(text):
        if taken[match.start()]:
            continue
        found.append(Quantity(match.start(), match.end(), _comparator(match.group("cmp")), Decimal(1), "ULN",
                              match.group(0)[len(match.group("cmp")):].strip()))
        take(match.start(), match.end())
    for match in _RANGE.finditer(text):
        if taken[match.start()] or taken[match.end() - 1]:
            continue
        quantity = _range(text, match)
        if quantity is not None:
            found.append(quantity)
            take(quantity.start, quantity.end)
    for match in _BARE.finditer(text):
        if taken[match.start()]:
            continue
        quantity = _postfix(text, match)
        if quantity is not None:
            found.append(quantity)
            take(quantity.start, quantity.end)
    return sorted(found, key=lambda q: (q.start, q.part == "diastolic"))


def _threshold(text: str, match: re.Match[str]) -> Quantity:
    symbol = _comparator(match.group("cmp"))
    num_end = match.end("num")
    problem = None
    if _DECIMAL_COMMA.match(text[num_end:]):
        problem = f"'{match.group('num')}{text[num_end:num_end + 3]}' may be a decimal comma"
    unit, raw, end = read_unit(text, num_end)
    review = None
    if unit == "g/L" and raw.replace(" ", "") == "G/L":
        unit, problem = None, "'G/L' is ambiguous (g/L, or 10^9/L as French labs write it)"
    postfix = _POSTFIX.match(text, end)
    if postfix is not None:
        end = postfix.end()
    return Quantity(match.start(), end, symbol, _number(match.group("num")), unit, raw, problem=problem, review=review)


def _range(text: str, match: re.Match[str]) -> Quantity | None:
    low, high = _number(match.group("low")), _number(match.group("high"))
    sep = match.group("sep").lower()
    between = match.group(0).lower().startswith("between")
    if sep == "and" and not between:
        return None
    lowunit = match.group("lowunit").strip()
    unit, raw, end = read_unit(text, match.end("high"))
    low_unit = read_unit(lowunit, 0)[0] if lowunit else None
    if low_unit not in (unit, None) or (low_unit is None and re.search(r"[A-Za-z]{2}", lowunit)):
        return None  # "3 months to 17 years": the low end is in a unit of its own (or one not read)
    if low > high:
        return None
    after = text[end:end + 30].lower()
    review = None
    if between and "inclusive" not in after and "inclusive" not in text[max(0, match.start() - 20):match.start()]:
        review = "'between' does not say whether the limits themselves are allowed; read as inclusive"
    return Quantity(match.start(), end, None, None, unit, raw, low=low, high=high, review=review)


def _postfix(text: str, match: re.Match[str]) -> Quantity | None:
    """'18 years or older', '1500/mm3 or more'."""
    unit, raw, end = read_unit(text, match.end("num"))
    postfix = _POSTFIX.match(text, end)
    if postfix is None:
        return None
    symbol = ">=" if (postfix.group("ge") or postfix.group("ge2")) else "<="
    return Quantity(match.start(), postfix.end(), symbol, _number(match.group("num")), unit, raw)


__all__ = ["Quantity", "find_quantities", "fold", "read_unit"]
