"""One criterion's text → what data settles it: thresholds with concept, comparator, value and unit, combined
the way the text combines them ("or", conditional alternatives, sex-specific limits), or `manual` with why.

Never a silent wrong threshold: a number without a unit, a unit that does not fit the data element, a word such
as "normal" instead of a number, or a sentence with two readings is `manual` with the reason, or computable
with `needs_review`.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from adapter.drafting.lexicon import AGE, CLEARANCE, CONDITIONS, SCORES, Element, elements
from adapter.drafting.quantities import Quantity, find_quantities, fold

if TYPE_CHECKING:
    from adapter.mapping.concepts import ConceptLibrary

MAX_GAP = 60  # characters between a data element's name and its comparator
MAX_JOINER = 40  # characters between two names read as one subject ("ALT and AST", "ALT / AST (SGPT)")
_SEGMENT = re.compile(r"[;()\[\]]")
_OR = re.compile(r"\bor\b", re.IGNORECASE)
_AND = re.compile(r"\band\b", re.IGNORECASE)
_JOINER = re.compile(r"^[\s,/&()\[\]]*(?:and|or|/|&|,)?[\s,/&()\[\]]*(?:\([^)]{0,12}\))?[\s,/&()\[\]]*(?:and|or)?"
                     r"[\s(\[]*$", re.IGNORECASE)  # brackets too: "AST (… [SGOT])/ALT"
_UNLESS = re.compile(r"\b(?:unless|except|excluding)\b[^;.]{0,40}$", re.IGNORECASE)
_MALE = re.compile(r"\b(?:men|male|males|man)\b", re.IGNORECASE)
_FEMALE = re.compile(r"\b(?:women|female|females|woman)\b", re.IGNORECASE)
_NORMAL = re.compile(r"within\s+(?:the\s+)?(?:institutional\s+)?normal\s+(?:limits|range)|\bwnl\b|\bnormal\b|"
                     r"\badequate\b|\bsufficient\b", re.IGNORECASE)
# Searched in the 45 characters after an ECOG mention only; the list group is possessive (giving one back never
# helps: what follows must start with "or"/"and").
_ECOG_LIST = re.compile(r"(?<![\d.])([0-4])(?:\s*,\s*[0-4])*+\s*,?\s*(?:or|and)\s*([0-4])(?![\d.])")
_ECOG_ONE = re.compile(r"(?:of|=|:|score|status|ps)\s*([0-4])(?![\d.,]|\s*(?:-|to|or|and|,))", re.IGNORECASE)
_STOP_WORDS = """
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
_STOP = frozenset(_STOP_WORDS.split())
# Words that may stand between two bounds of one element ("… but up to 5 × ULN", "men > 450 ms, women > 470 ms")
_JOINING = frozenset({"but", "up", "may", "can", "permitted", "allowed", "acceptable", "men", "women", "male", "males",
                      "female", "females", "man", "woman", "screening", "randomization", "randomisation", "baseline",
                      "entry", "enrollment", "enrolment"})
# A bound in a clause opened by "if" / "when" may be the case a rule applies to, not a limit ("… only need to be
# assessed if the mean QTc > 480 msec"): read, but for a person to check.
_IF_CLAUSE = re.compile(r"\b(?:if|when|whenever)\b[^;.,()]{0,40}$", re.IGNORECASE)


@dataclass(frozen=True)
class Threshold:
    """A recognised bound, as written (an exclusion's bound describes what excludes)."""

    what: str
    label: str
    quantity: Quantity
    concept: str | None = None  # the library's observation concept, or derived measure when kind is derived
    kind: str = "observation"  # observation | derived | age | ecog
    alternatives: tuple[str, ...] = ()  # more concepts the same bound may apply to (any of them)
    when: str | None = None  # condition key that allows this (laxer) bound
    exempt: str | None = None  # condition key that lifts this bound
    sex: str | None = None
    problem: str | None = None  # why it cannot be computable
    review: str | None = None  # why a person should check it

    @property
    def comparator(self) -> str | None:
        return self.quantity.comparator

    def describe(self) -> str:
        return f"{self.label} {self.quantity.describe()}"


@dataclass
class Recognition:
    """A criterion's definition (YAML-ready data) and the thresholds recognised in it."""

    definition: dict[str, Any]
    thresholds: list[Threshold] = field(default_factory=list)
    needs_review: str | None = None


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    elements: tuple[Element, ...] = ()
    special: str | None = None  # ecog | karnofsky | age


def find_mentions(text: str, lexicon: Sequence[Element]) -> list[_Mention]:
    """Names of data elements in the text; where two spellings overlap, the longer (then the earlier listed) wins.
    Scores (ECOG, Karnofsky) win ties: they are read by their own rules."""
    candidates: list[tuple[int, int, int, Element | str]] = []
    for priority, element in enumerate(lexicon):
        if element.what in SCORES:
            candidates += [(m.start(), m.end(), -1, element.what) for m in element.pattern.finditer(text)]
        else:
            candidates += [(m.start(), m.end(), priority, element) for m in element.pattern.finditer(text)]
    candidates.sort(key=lambda c: (c[0], -(c[1] - c[0]), c[2]))
    mentions: list[_Mention] = []
    for start, end, _, item in candidates:
        if mentions and start < mentions[-1].end:
            last = mentions[-1]
            if (start, end) == (last.start, last.end) and isinstance(item, Element) and last.special is None:
                mentions[-1] = _Mention(start, end, (*last.elements, item))  # same words, two meanings (FBG)
            continue
        mentions.append(_Mention(start, end, (item,)) if isinstance(item, Element) else _Mention(start, end,
                                                                                               special=item))
    return mentions


def _subject(text: str, mentions: list[_Mention], q: Quantity, since: int) -> list[_Mention]:
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
        if len(gap) <= MAX_JOINER and _JOINER.match(gap) and m.special is None and group[0].special is None:
            group.insert(0, m)
        else:
            break
    return group


def _fitting(elements: tuple[Element, ...], unit: str | None) -> Element:
    """Of the meanings of one name (FBG: fibrinogen or fasting glucose), the one whose units fit the bound."""
    fits = [e for e in elements if (unit or "") in e.units]
    return (fits or list(elements))[0]


TIME_UNITS = frozenset({"a", "mo", "wk", "d", "h"})


def _is_age(text: str, q: Quantity) -> bool:
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


class Recognizer:
    """Recognises criteria against one concept library (observation and derived concepts it has)."""

    def __init__(self, lexicon: Sequence[Element], observations: Sequence[str], derived: Sequence[str],
                 conditions: Sequence[str]) -> None:
        self.lexicon = tuple(lexicon)
        self.by_what = {e.what: e for e in self.lexicon}
        self.observations = frozenset(observations)
        self.derived = frozenset(derived)
        self.conditions = frozenset(conditions)

    @classmethod
    def for_library(cls, library: ConceptLibrary) -> Recognizer:
        return cls(elements(library), list(library.observations), list(library.derived), list(library.conditions))

    def mentions(self, text: str) -> list[_Mention]:
        return find_mentions(text, self.lexicon)

    # ------------------------------------------------------------------ thresholds
    def thresholds(self, raw: str) -> tuple[str, list[Threshold]]:
        text = fold(raw)
        mentions = self.mentions(text)
        found: list[Threshold] = []
        since = 0
        previous: list[Element] | str | None = None
        for q in find_quantities(text):
            subject = self._subject_of(text, mentions, q, since, previous)
            since = q.end
            if subject is None:
                continue
            previous = subject
            found += self._read(text, q, subject)
        found += self._ecog_lists(text, mentions, found)
        return text, self._if_clauses(text, self._conditions(text, self._sexes(text, found)))

    @staticmethod
    def _if_clauses(text: str, found: list[Threshold]) -> list[Threshold]:
        return [replace(t, review=_join(t.review, "the bound is in an 'if' clause: it may say when a rule applies, "
                                                  "not a limit"))
                if t.when is None and t.exempt is None and _IF_CLAUSE.search(text, max(0, t.quantity.start - 48),
                                                                             t.quantity.start) else t
                for t in found]

    def _subject_of(self, text: str, mentions: list[_Mention], q: Quantity, since: int,
                    previous: list[Element] | str | None) -> list[Element] | str | None:
        if q.part is not None and f"{q.part}-bp" in self.by_what:
            return [self.by_what[f"{q.part}-bp"]]
        if _is_age(text, q):
            return "age"
        if q.unit in TIME_UNITS:  # a duration, or the age of someone else: no data element's bound
            return None
        group = _subject(text, mentions, q, since)
        if group and group[-1].special:
            return group[-1].special
        if group:
            return [_fitting(m.elements, q.unit) for m in group]
        gap = text[since:q.start].strip(" ,")
        named = [w for w in re.findall(r"[A-Za-z]+", gap) if w.lower() not in _STOP and w.lower() not in _JOINING]
        if previous is not None and previous != "age" and len(gap) <= 30 and since > 0 and not named:
            return previous  # "ALT < 2.5 × ULN, but < 5 × ULN if …": the same element (not "… and a life expectancy")
        return None

    def _read(self, text: str, q: Quantity, subject: list[Element] | str) -> list[Threshold]:
        if subject == "age":
            return [Threshold("age", "age", q, kind="age", problem=q.problem, review=q.review)]
        if subject == "ecog":
            return [self._ecog(q)]
        if subject == "karnofsky":
            return [Threshold("karnofsky", "Karnofsky performance status", q, problem=q.problem, review=q.review)]
        assert isinstance(subject, list)
        by_what: dict[str, list[Element]] = {}
        for element in subject:
            by_what.setdefault(element.what, []).append(element)
        result = []
        for meanings in by_what.values():
            result.append(self._element(text, q, meanings))
        return result

    def _ecog(self, q: Quantity) -> Threshold:
        if q.comparator is None:
            low, high = q.low, q.high
        elif q.comparator in ("<=", "<") and q.value is not None:
            low, high = Decimal(0), q.value - (1 if q.comparator == "<" else 0)
        else:
            return Threshold("ecog", "ECOG", q, concept="ecog" if "ecog" in self.observations else None, kind="ecog",
                             problem=f"ECOG {q.describe()} is a lower bound; ECOG limits are upper bounds")
        ranged = replace(q, comparator=None, value=None, unit="{score}", low=low, high=high)
        return Threshold("ecog", "ECOG", ranged, concept="ecog" if "ecog" in self.observations else None, kind="ecog",
                         problem=q.problem if q.unit in (None, "{score}") else f"unit {q.unit} does not fit ECOG")

    def _ecog_lists(self, text: str, mentions: list[_Mention], found: list[Threshold]) -> list[Threshold]:
        """'ECOG performance status 0 or 1', '… of 0, 1, or 2', '… of 1': the allowed scores listed."""
        if any(t.what == "ecog" for t in found):
            return []
        result = []
        for m in mentions:
            if m.special != "ecog":
                continue
            after = text[m.end:m.end + 45]
            listed = _ECOG_LIST.search(after)
            single = _ECOG_ONE.search(after)
            if listed:
                low, high, span = Decimal(listed.group(1)), Decimal(listed.group(2)), listed.span()
            elif single:
                low = high = Decimal(single.group(1))
                span = single.span(1)
            else:
                continue
            q = Quantity(m.end + span[0], m.end + span[1], None, None, "{score}", "", low=low, high=high)
            result.append(Threshold("ecog", "ECOG", q, concept="ecog" if "ecog" in self.observations else None,
                                    kind="ecog"))
            break
        return result

    def _element(self, text: str, q: Quantity, elements: list[Element]) -> Threshold:
        unit = q.unit or ""
        fitting = [e for e in elements if unit in e.units or (unit == "g" and "g/(24.h)" in e.units)]
        element = (fitting or elements)[0]
        if unit == "g" and element.what == "urine-protein-24h":
            q = replace(q, unit="g/(24.h)")
            unit = "g/(24.h)"
        review = q.review
        if not unit and "" in element.units:  # "INR ≤ 1.5", "INR 2 to 3": a ratio, no unit
            q, review = replace(q, unit="1"), _join(q.review, f"no unit written: {element.label} read as a ratio (1)")
        threshold = Threshold(element.what, element.label, q, problem=q.problem, review=review)
        if not fitting:
            shown = f"unit {q.raw_unit or q.unit}" if q.unit else "no unit"
            return replace(threshold, problem=threshold.problem or f"{shown} does not fit {element.label}")
        return self._concept(text, threshold, element)

    def _concept(self, text: str, t: Threshold, element: Element) -> Threshold:
        what = element.what
        if what in (CLEARANCE, "egfr") and t.quantity.unit == "mL/min":
            cockcroft, measured = _clearance_words(text)  # once per text, not once per bound
            derived = "creatinine-clearance-cockcroft-gault"
            if what == "egfr" and cockcroft and derived in self.derived:
                return replace(t, concept=derived, kind="derived", review=_join(
                    t.review, "the record names eGFR but gives a Cockcroft–Gault creatinine clearance (mL/min)"))
            if what == CLEARANCE and cockcroft and not measured and derived in self.derived:
                return replace(t, concept=derived, kind="derived")
            if what == CLEARANCE and measured and not cockcroft:
                return self._observation(t, element)
            if what == CLEARANCE and derived in self.derived:
                base = self._observation(t, element)
                if base.concept is None:
                    return replace(t, concept=derived, kind="derived", review=_join(
                        t.review, "how clearance is obtained is not said; read as a Cockcroft–Gault estimate"))
                return replace(base, alternatives=(derived,), review=_join(
                    t.review, "how clearance is obtained is not said: a measured 24 h clearance or a "
                              "Cockcroft–Gault estimate both count"))
        if what == "qt" and "qtc" in self.by_what:
            qtc = self._observation(replace(t, what="qtc", label="QTc"), self.by_what["qtc"])
            return replace(qtc, label="QT interval", review=_join(
                t.review, "the record says QT interval; read as the corrected QT (QTc) that ECG reports give"))
        return self._observation(t, element)

    def _observation(self, t: Threshold, element: Element) -> Threshold:
        concept = next((c for c in element.concepts if c in self.observations), None)
        if t.quantity.unit == "ULN" and t.quantity.comparator not in ("<", "<=", ">", ">="):
            return replace(t, problem="a range of ULN multiples is not supported")
        return replace(t, concept=concept)

    def _sexes(self, text: str, found: list[Threshold]) -> list[Threshold]:
        result = []
        for t in found:
            before = text[max(0, t.quantity.start - 14):t.quantity.start]
            after = text[t.quantity.end:t.quantity.end + 16]  # " for females": the whole word
            sex = None  # the words right after a bound bind closer than those before ("> 470 ms for females and > 450
            # ms for males": 450 is for males)
            if re.match(r"\s*\(?\s*(?:for\s+|in\s+)?(?:women|females?)\b", after, re.IGNORECASE):
                sex = "female"
            elif re.match(r"\s*\(?\s*(?:for\s+|in\s+)?(?:men|males?)\b", after, re.IGNORECASE):
                sex = "male"
            elif _FEMALE.search(before):
                sex = "female"
            elif _MALE.search(before):
                sex = "male"
            result.append(replace(t, sex=sex) if sex else t)
        return result

    def _conditions(self, text: str, found: list[Threshold]) -> list[Threshold]:
        """'< 5 × ULN with liver metastases' → that bound applies when the condition holds; 'unless Gilbert's' →
        the condition lifts the bound before it."""
        segments = [0, *[m.start() for m in _SEGMENT.finditer(text)], len(text)]

        def segment(pos: int) -> int:  # by bisection: a text of many brackets has many segments
            return bisect_right(segments, pos) - 1

        result = list(found)
        # Indexed once (bounds keep their places; only `when` / `exempt` change below): per condition match, the
        # bounds of its segment and those ending just before it, without a scan of every bound.
        in_segment: dict[int, list[int]] = {}
        for i, t in enumerate(result):
            if t.kind not in ("age", "ecog"):
                in_segment.setdefault(segment(t.quantity.start), []).append(i)
        by_end = sorted((t.quantity.end, i) for i, t in enumerate(result) if t.kind not in ("age", "ecog"))
        for key, _label, pattern, _kind in CONDITIONS:
            for match in pattern.finditer(text):
                same = in_segment.get(segment(match.start()), [])
                # "unless …" within the 40 characters before: searched there only, not in all the text before
                unless = _UNLESS.search(text, max(0, match.start() - 64), match.start())
                if same and not unless:
                    nearest = min(same, key=lambda i: abs(result[i].quantity.start - match.start()))
                    if all(result[i].when is None for i in same):
                        for i in same:  # "ALT and AST < 5 × ULN": one bound, several elements
                            if result[i].quantity == result[nearest].quantity:
                                result[i] = replace(result[i], when=key)
                    continue
                window = by_end[bisect_left(by_end, (match.start() - MAX_GAP, -1)):
                                bisect_right(by_end, (match.start(), len(result)))]
                if window:
                    last = max(i for _, i in window)
                    result[last] = replace(result[last], exempt=key)
        return result


@lru_cache(maxsize=4)
def _clearance_words(text: str) -> tuple[bool, bool]:
    """(says how clearance is estimated, says it is measured) anywhere in the criterion."""
    cockcroft = re.search(r"cockcroft|gault|\bc-?g\b|calculated|estimated", text, re.IGNORECASE)
    measured = re.search(r"24[\s-]*+h|measured|urine\s++collection", text, re.IGNORECASE)
    return cockcroft is not None, measured is not None


def _join(*reasons: str | None) -> str | None:
    present = [r for r in reasons if r]
    return "; ".join(dict.fromkeys(present)) or None


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
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", kept) if w.lower().strip("'’-") not in _STOP
             and not _MALE.fullmatch(w) and not _FEMALE.fullmatch(w) and len(w) > 2]
    return " ".join(words)


def normal_words(text: str, lexicon: Sequence[Element]) -> list[str]:
    """Data elements the text asks to be 'normal' or 'adequate' without a number."""
    folded = fold(text)
    if not _NORMAL.search(folded):
        return []
    return list(dict.fromkeys(e.label for m in find_mentions(folded, lexicon) for e in m.elements[:1]))


__all__ = ["Recognition", "Recognizer", "Threshold", "find_mentions", "normal_words", "residual"]
