"""Where a criterion names data elements: the names found in the text, the subject of a bound (the names right
before it), ages, and the words no recognised part accounts for (what makes a criterion manual).

Split from `recognize` (which reads the bounds): this module only locates names; it decides nothing.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

from adapter.drafting.lexicon import AGE, CONDITIONS, SCORES, Element
from adapter.drafting.quantities import Quantity, fold

if TYPE_CHECKING:
    from adapter.drafting.recognize import Threshold

MAX_GAP = 60  # characters between a data element's name and its comparator
MAX_JOINER = 40  # characters between two names read as one subject ("ALT and AST", "ALT / AST (SGPT)")
MALE = re.compile(r"\b(?:men|male|males|man)\b", re.IGNORECASE)
FEMALE = re.compile(r"\b(?:women|female|females|woman)\b", re.IGNORECASE)
JOINER = re.compile(r"^[\s,/&()\[\]]*(?:and|or|/|&|,)?[\s,/&()\[\]]*(?:\([^)]{0,12}\))?[\s,/&()\[\]]*(?:and|or)?"
                    r"[\s(\[]*$", re.IGNORECASE)  # brackets too: "AST (… [SGOT])/ALT"
NORMAL = re.compile(r"within\s+(?:the\s+)?(?:institutional\s+)?normal\s+(?:limits|range)|\bwnl\b|\bnormal\b|"
                  r"\badequate\b|\bsufficient\b", re.IGNORECASE)
STOP_WORDS = """
    a an and or the of with in for if is are be must than to at by as on per who which there has have had
    patient patients subject subjects participant participants count counts level levels value values serum
    plasma blood total absolute upper lower limit limits normal uln institutional times due known unless but
    formula calculated estimated within range ratio test tests laboratory lab function adequate organ organs
    marrow bone liver hepatic kidney renal hematologic haematologic hematological following defined meet
    criteria such including include either both all any its their his her elevation elevations transferanse
    transaminase transaminases mm3 mcl dl min msec sec days day ml mg mmol umol mmhg interval rate corrected
    international normalized performance status score scale eastern cooperative oncology group ecog pts grade
    metastasis metastases gilbert's gilbert syndrome examination examinations routine biochemical results
    result chemistry coagulation parameters parameter then less greater more equal no not g l s x cockcroft
    gault cockcroft-gault test/calculation per pressure between inclusive
"""
STOP = frozenset(STOP_WORDS.split())


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    elements: tuple[Element, ...] = ()
    special: str | None = None  # ecog | karnofsky | age


def find_mentions(text: str, lexicon: Sequence[Element]) -> list[Mention]:
    """Names of data elements in the text; where two spellings overlap, the longer (then the earlier listed) wins.
    Scores (ECOG, Karnofsky) win ties: they are read by their own rules."""
    candidates: list[tuple[int, int, int, Element | str]] = []
    for priority, element in enumerate(lexicon):
        if element.what in SCORES:
            candidates += [(m.start(), m.end(), -1, element.what) for m in element.pattern.finditer(text)]
        else:
            candidates += [(m.start(), m.end(), priority, element) for m in element.pattern.finditer(text)]
    candidates.sort(key=lambda c: (c[0], -(c[1] - c[0]), c[2]))
    mentions: list[Mention] = []
    for start, end, _, item in candidates:
        if mentions and start < mentions[-1].end:
            last = mentions[-1]
            if (start, end) == (last.start, last.end) and isinstance(item, Element) and last.special is None:
                mentions[-1] = Mention(start, end, (*last.elements, item))  # same words, two meanings (FBG)
            continue
        mentions.append(Mention(start, end, (item,)) if isinstance(item, Element) else Mention(start, end,
                                                                                               special=item))
    return mentions


def subject(text: str, mentions: list[Mention], q: Quantity, since: int) -> list[Mention]:
    """The names right before a bound ("ALT and AST < 2.5 × ULN"), nearest last; none if too far."""
    # Mentions do not overlap, so starts and ends are both sorted: the ones between `since` and the bound are a
    # slice found by bisection (a scan of every mention per bound was quadratic on long texts).
    lo = bisect_left(mentions, since, key=lambda m: m.start)
    hi = bisect_right(mentions, q.start, key=lambda m: m.end)
    if hi <= lo or q.start - mentions[hi - 1].end > MAX_GAP:
        return []
    group = [mentions[hi - 1]]
    for m in (mentions[i] for i in range(hi - 2, lo - 1, -1)):
        gap = text[m.end:group[0].start]  # a joiner is a few characters; a long gap is not one (nor re-scanned)
        if len(gap) <= MAX_JOINER and JOINER.match(gap) and m.special is None and group[0].special is None:
            group.insert(0, m)
        else:
            break
    return group


def fitting(elements: tuple[Element, ...], unit: str | None) -> Element:
    """Of the meanings of one name (FBG: fibrinogen or fasting glucose), the one whose units fit the bound."""
    fits = [e for e in elements if (unit or "") in e.units]
    return (fits or list(elements))[0]


TIME_UNITS = frozenset({"a", "mo", "wk", "d", "h"})


def is_age(text: str, q: Quantity) -> bool:
    if q.unit != "a":  # ages in months or hours (infants) are subgroups more often than limits: not read
        return False
    window = text[max(0, q.start - 40):min(len(text), q.end + 25)]
    if re.search(r"\b(?:death|died|family|relatives?|mother|father|siblings?)\b", window, re.IGNORECASE):
        return False  # the age of someone else, or of an event ("sudden death under 40 years of age")
    if re.search(r"\bage[ds]?\b|of\s+age|\bold\b|older|younger|\badults?\b", window, re.IGNORECASE):
        return True
    # "Between 18 to 65 years, inclusive": a criterion that is only a span of years is the age
    rest = f"{text[:q.start]} {text[q.end:]}"
    return not re.sub(r"\b(?:between|inclusive|both|and|from)\b|[\W_]", "", rest, flags=re.IGNORECASE)


# An age written without "years" ("Age ≥ 18", "aged 18 to 75", "Adults (≥18)", "between the ages of 18 and 55"):
# the age words right before the number, or "or older" after it.
_AGE_BEFORE = re.compile(r"(?:\bage[ds]?\b|\bages\s+of|\badults?\b)(?:\s+(?:of|is|was|at|from|range))?\s*[:=(]?\s*$",
                         re.IGNORECASE)
_AGES_OF = re.compile(r"\bages?\s+of\b", re.IGNORECASE)
_PEOPLE = re.compile(r"\b(?:between|inclusive|inclusively|both|and|or|from|all|any|either|of|sex(?:es)?|genders?|"
                     r"males?|females?|men|women|patients?|participants?|subjects?|volunteers?|healthy|adults?)\b|"
                     r"[\W_]", re.IGNORECASE)
_OLDER = re.compile(r"\b(?:older|younger)\b", re.IGNORECASE)


def is_bare_age(text: str, q: Quantity) -> bool:
    """A bound with no unit that the words around it make an age in years (a whole number up to 120)."""
    if q.unit is not None:
        return False
    numbers = [n for n in (q.value, q.low, q.high) if n is not None]
    if not numbers or any(n != n.to_integral_value() or not 0 < n <= 120 for n in numbers):
        return False
    if _OLDER.search(text, q.start, q.end) or _AGES_OF.search(text, q.start, q.end):  # "18 or older"
        return True
    if _AGE_BEFORE.search(text, max(0, q.start - 24), q.start) is not None:
        return True
    # "Males and females between 18 and 70": a criterion that is only people and a span is the age (a short one: a
    # long text is never that, and is not scanned once per bound)
    if q.comparator is not None or len(text) > 160:
        return False
    return not _PEOPLE.sub("", f"{text[:q.start]} {text[q.end:]}")


def residual(text: str, thresholds: Sequence[Threshold], lexicon: Sequence[Element]) -> str:
    """The words of the criterion that none of its recognised parts account for."""
    spans = [(t.quantity.start, t.quantity.end) for t in thresholds]
    spans += [(m.start, m.end) for m in find_mentions(text, lexicon)]
    for _key, _label, pattern, _kind in CONDITIONS:
        spans += [m.span() for m in pattern.finditer(text)]
    spans += [m.span() for m in AGE.finditer(text)]
    depth = [0] * (len(text) + 1)  # how many spans cover each character: one pass, not one per span
    for a, b in spans:  # a name matched by its stem ("liver metasta") covers its whole last word
        while b < len(text) and text[b].isalnum():
            b += 1
        if a < b:
            depth[a] += 1
            depth[b] -= 1
    covered = list(accumulate(depth))
    kept = "".join(" " if covered[i] > 0 else ch for i, ch in enumerate(text))
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", kept) if w.lower().strip("'’-") not in STOP
             and not MALE.fullmatch(w) and not FEMALE.fullmatch(w) and len(w) > 2]
    return " ".join(words)


def normal_words(text: str, lexicon: Sequence[Element]) -> list[str]:
    """Data elements the text asks to be 'normal' or 'adequate' without a number."""
    folded = fold(text)
    if not NORMAL.search(folded):
        return []
    return list(dict.fromkeys(e.label for m in find_mentions(folded, lexicon) for e in m.elements[:1]))


__all__ = ["MAX_GAP", "Mention", "find_mentions", "fitting", "is_age", "is_bare_age", "normal_words", "residual",
           "subject"]
