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
from typing import TYPE_CHECKING, Any

from adapter.drafting.lexicon import BOTH, CLEARANCE, CONDITIONS, IMPLIED_UNITS, Element, elements
from adapter.drafting.mentions import FEMALE as _FEMALE
from adapter.drafting.mentions import MALE as _MALE
from adapter.drafting.mentions import MAX_GAP, TIME_UNITS, find_mentions, normal_words, residual
from adapter.drafting.mentions import STOP as _STOP
from adapter.drafting.mentions import Mention as _Mention
from adapter.drafting.mentions import fitting as _fitting
from adapter.drafting.mentions import is_age as _is_age
from adapter.drafting.mentions import is_bare_age as _is_bare_age
from adapter.drafting.mentions import subject as _subject
from adapter.drafting.quantities import Quantity, find_quantities, fold

if TYPE_CHECKING:
    from adapter.mapping.concepts import ConceptLibrary

_SEGMENT = re.compile(r"[;()\[\]]")
_OR = re.compile(r"\bor\b", re.IGNORECASE)
_AND = re.compile(r"\band\b", re.IGNORECASE)
_UNLESS = re.compile(r"\b(?:unless|except|excluding)\b[^;.]{0,40}$", re.IGNORECASE)
# Searched in the 45 characters after an ECOG mention only; the list group is possessive (giving one back never
# helps: what follows must start with "or"/"and").
_ECOG_LIST = re.compile(r"(?<![\d.])([0-4])(?:\s*,\s*[0-4])*+\s*,?\s*(?:or|and)\s*([0-4])(?![\d.])")
_ECOG_ONE = re.compile(r"(?:of|=|:|score|status|ps)\s*([0-4])(?![\d.,]|\s*(?:-|to|or|and|,))", re.IGNORECASE)
# Words that may stand between two bounds of one element ("… but up to 5 × ULN", "men > 450 ms, women > 470 ms")
_JOINING = frozenset({"but", "up", "may", "can", "permitted", "allowed", "acceptable", "men", "women", "male", "males",
                      "female", "females", "man", "woman", "screening", "randomization", "randomisation", "baseline",
                      "entry", "enrollment", "enrolment"})
# A bound in a clause opened by "if" / "when" may be the case a rule applies to, not a limit ("… only need to be
# assessed if the mean QTc > 480 msec"): drafted manual with the value shown, for a person to read.
# "for patients with HR 60-100 bpm, no manual read of QT" (who a rule is for) is read the same way. A bound after
# "unless" ("beta blockers unless heart rate < 65 bpm") is an exception: kept, for a person to check.
_UNLESS_CLAUSE = re.compile(r"\bunless\b[^;.,()]{0,40}$", re.IGNORECASE)
_IF_CLAUSE = re.compile(r"\b(?:if|when|whenever|for\s+(?:patients|subjects|participants)\s+with)\b"
                        r"(?:[^;.,()]|\([^;.,()]{0,12}\))*+$",
                        re.IGNORECASE)
# "SpO2 < 94% (range 90-93%)": a span restating the bound before it, not a second limit
_RESTATED = re.compile(r"^\(\s*(?:range|i\.e\.)", re.IGNORECASE)
# "Serious post-vaccination reaction (body temperature above 40 °C …)": a bound in a parenthesis that describes a
# past event, not the patient now: kept, for a person to check.
_PAST_EVENT = re.compile(r"\b(?:reactions?|history|previous|prior|past|episodes?)\b[^()]{0,30}$", re.IGNORECASE)
# A bound in a note or guidance ("(consideration should also be taken of the CD4 count. A CD4 count <200 …)",
# "(13-17 years to be capped at 10%)", "e.g. …"): it guides a person, it is not a limit. Searched in the open
# parenthesis or sentence before the bound only.
_GUIDANCE = re.compile(r"\b(?:consideration|consider(?:ed)?|guid(?:e|ed|ance|ing)|suggest(?:s|ed)?|recommend(?:s|ed)?|"
                       r"capped|e\.\s?g\.|for\s+example|note\b)", re.IGNORECASE)  # not "i.e.": it defines the limit


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
        """Bounds in an 'if' clause or in a note: manual with the value shown, never a computable limit."""
        result = []
        for t in found:
            start = t.quantity.start
            if _IF_CLAUSE.search(text, max(0, start - 48), start):  # "If … bilirubin < 2 × ULN and Gilbert's …"
                t = replace(t, problem=t.problem or "the bound is in an 'if' clause: it may say when a rule applies, "
                                                    "not a limit")
            elif _UNLESS_CLAUSE.search(text, max(0, start - 48), start):
                t = replace(t, review=_join(t.review, "the bound is in an 'unless' clause: an exception, not a limit "
                                                      "of its own"))
            elif (note := _note_before(text, start)) is not None and (_GUIDANCE.search(note) or _RESTATED.match(note)):
                t = replace(t, problem=t.problem or "the bound is in a note or guidance, not a limit")
            elif (opened := _open_parenthesis(text, start)) >= 0 and _PAST_EVENT.search(text, max(0, opened - 40),
                                                                                         opened):
                t = replace(t, review=_join(t.review, "the bound is in a description of a past event"))
            result.append(t)
        return result

    def _subject_of(self, text: str, mentions: list[_Mention], q: Quantity, since: int,
                    previous: list[Element] | str | None) -> list[Element] | str | None:
        if q.part is not None and f"{q.part}-bp" in self.by_what:
            return [self.by_what[f"{q.part}-bp"]]
        if _is_age(text, q) or _is_bare_age(text, q):
            return "age"
        if q.unit in TIME_UNITS:  # a duration, or the age of someone else: no data element's bound
            return None
        group = _subject(text, mentions, q, since)
        if group and group[-1].special:
            return group[-1].special
        if group:
            return [e for m in group for e in (
                m.elements if frozenset(e.what for e in m.elements) in BOTH else (_fitting(m.elements, q.unit),))]
        gap = text[since:q.start].strip(" ,")
        named = [w for w in re.findall(r"[A-Za-z]+", gap) if w.lower() not in _STOP and w.lower() not in _JOINING]
        if previous is not None and previous != "age" and len(gap) <= 30 and since > 0 and not named:
            return previous  # "ALT < 2.5 × ULN, but < 5 × ULN if …": the same element (not "… and a life expectancy")
        return None

    def _read(self, text: str, q: Quantity, subject: list[Element] | str) -> list[Threshold]:
        if subject == "age":
            if q.unit is None:  # "Age ≥ 18": no unit written, the age words make it years
                q = replace(q, unit="a", review=_join(q.review, "no unit written: the age read in years"))
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
        implied = next((IMPLIED_UNITS[e.what] for e in elements if e.what in IMPLIED_UNITS), None)
        if q.unit is None and implied is not None and q.problem is None:
            q = replace(q, unit=implied, review=_join(q.review, f"no unit written: read as {implied}"))
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


def _open_parenthesis(text: str, pos: int) -> int:
    """Where the parenthesis still open at `pos` opened (within 160 characters), or -1."""
    opened = text.rfind("(", max(0, pos - 160), pos)
    return opened if opened >= 0 and text.rfind(")", opened, pos) < 0 else -1


def _note_before(text: str, pos: int) -> str | None:
    """The text of the parenthesis still open at `pos` (up to it), or else of the sentence up to it."""
    opened = text.rfind("(", 0, pos)
    if opened >= 0 and text.rfind(")", opened, pos) < 0 and pos - opened <= 160:
        return text[opened:pos]
    sentence = max(text.rfind(". ", 0, pos), text.rfind("; ", 0, pos))
    return text[sentence + 1 if sentence >= 0 else max(0, pos - 160):pos][-160:]


@lru_cache(maxsize=4)
def _clearance_words(text: str) -> tuple[bool, bool]:
    """(says how clearance is estimated, says it is measured) anywhere in the criterion."""
    cockcroft = re.search(r"cockcroft|gault|\bc-?g\b|calculated|estimated", text, re.IGNORECASE)
    measured = re.search(r"24[\s-]*+h|measured|urine\s++collection", text, re.IGNORECASE)
    return cockcroft is not None, measured is not None


def _join(*reasons: str | None) -> str | None:
    present = [r for r in reasons if r]
    return "; ".join(dict.fromkeys(present)) or None


__all__ = ["Recognition", "Recognizer", "Threshold", "find_mentions", "normal_words", "residual"]
