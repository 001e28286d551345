"""Recognised thresholds → the mapping's typed definitions: one node per bound (observation, derived, age), the
alternatives, sex-specific and conditional limits around it, and the all-of / any-of the text joins them with.

Built as `Definition` objects (adapter.drafting.typed): a bound the schema refuses becomes `manual` with the reason,
never an invalid mapping. A bound that cannot be computed (no unit, no reviewed concept, an age not in years) is
`manual` with the value shown.
"""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import pairwise

from adapter.ctgov.model import TrialRecord
from adapter.drafting.lexicon import CONDITIONS
from adapter.drafting.recognize import Threshold
from adapter.drafting.typed import all_of, any_of, build, combine, manual
from adapter.mapping.concepts import ConceptLibrary
from adapter.mapping.definitions import (
    AgeDefinition,
    AllergyDefinition,
    ConditionDefinition,
    Definition,
    DerivedDefinition,
    Manual,
    MedicationDefinition,
    ObservationDefinition,
    ProcedureDefinition,
    SexDefinition,
)

CONDITION_LABELS = {key: label for key, label, _, _ in CONDITIONS}
CONDITION_KINDS = {key: kind for key, _, _, kind in CONDITIONS}
ENTRY_MODELS = {"condition": ConditionDefinition, "medication": MedicationDefinition,
                "procedure": ProcedureDefinition, "allergy": AllergyDefinition}


def contradictions(thresholds: list[Threshold]) -> list[Threshold]:
    """Bounds of an inclusion that must all hold but leave no value allowed ("LVEF ≤ 40% … an EF of > 40%"): none
    is computable (read as all-of, no one would pass)."""
    by_what: dict[tuple[str, str | None, str | None], list[Threshold]] = {}
    for t in thresholds:
        if t.problem is None:  # a bound already manual (a note, an 'if' clause) contradicts nothing
            by_what.setdefault((t.what, t.sex, t.when), []).append(t)
    bad = {key for key, group in by_what.items() if _contradict(group)}
    reason = "the bounds on it contradict each other: a person reads which applies"
    return [replace(t, problem=t.problem or reason) if (t.what, t.sex, t.when) in bad else t for t in thresholds]


def _contradict(thresholds: list[Threshold]) -> bool:
    """Whether bounds that must all hold (one element, one unit) leave no value allowed."""
    lows = [t.quantity for t in thresholds if t.quantity.comparator in (">", ">=")]
    highs = [t.quantity for t in thresholds if t.quantity.comparator in ("<", "<=")]
    for low in lows:
        for high in highs:
            if low.unit != high.unit or low.value is None or high.value is None:
                continue
            if low.value > high.value or (low.value == high.value and "=" not in f"{low.comparator}{high.comparator}"
                                          ) or (low.value == high.value and (low.comparator, high.comparator)
                                                != (">=", "<=")):
                return True
    return False


def _years(age: str | None) -> int | None:
    if not age:
        return None
    number, unit = age.split()[:2]
    return int(float(number)) if unit.lower().startswith("year") else None


class BoundDrafter:
    """Drafts the thresholds of one record's criteria against one concept library."""

    def __init__(self, record: TrialRecord, concepts: ConceptLibrary) -> None:
        self.record = record
        self.concepts = concepts

    # ------------------------------------------------------------------ leaves
    def leaf(self, t: Threshold, text: str = "") -> Definition:
        q = t.quantity
        if t.problem:
            return manual(f"recognized {t.describe()}, but {t.problem}")
        if t.kind == "age":
            return self.age(t)
        if t.concept is None:
            return manual(f"recognized {t.describe()}, but no reviewed concept for {t.label} in the library")
        factory = DerivedDefinition if t.kind == "derived" else ObservationDefinition
        key = "derived" if t.kind == "derived" else "observation"
        if q.comparator is None:
            amount: dict[str, object] = {"range": {k: v for k, v in (("low", q.low), ("high", q.high),
                                                                      ("unit", q.unit)) if v is not None}}
        elif q.unit == "ULN":
            amount = {"comparator": q.comparator, "times_uln": q.value}
        else:
            amount = {"comparator": q.comparator, "value": q.value, "unit": q.unit}
        where = text or t.describe()
        node = build(factory, where, **{key: t.concept}, **amount)
        if t.alternatives and not isinstance(node, Manual):
            node = any_of([node, *(build(DerivedDefinition, where, derived=alt, **amount) for alt in t.alternatives)])
        if t.sex:
            node = all_of([build(SexDefinition, where, sex=t.sex), node])
        return node

    def age(self, t: Threshold) -> Definition:
        q = t.quantity
        if q.unit != "a":  # "> 48 hours of age": the mapping's age is in years
            return manual(f"recognized {t.describe()}, but an age in {q.raw_unit} is not in years")
        low, high = (q.low, q.high) if q.comparator is None else (
            (q.value, None) if q.comparator in (">=", ">") else (None, q.value))
        record_low, record_high = _years(self.record.minimum_age), _years(self.record.maximum_age)
        if record_low is None and record_high is None:
            return manual(f"recognized {t.describe()}, but the record's eligibility module gives no age limits")
        agrees = (low is None or low == record_low) and (high is None or high == record_high)
        if not agrees:
            return manual(f"recognized {t.describe()}, but the record's ages are "
                          f"{self.record.minimum_age} to {self.record.maximum_age}")
        ages = {k: v for k, v in (("low", record_low), ("high", record_high)) if v is not None}
        return build(AgeDefinition, t.describe(), age=ages)

    def condition(self, key: str, *, absent: bool = False) -> Definition:
        kind = CONDITION_KINDS[key]  # condition | medication: the library table is the kind's plural
        if key in getattr(self.concepts, f"{kind}s"):
            flag = {"absent": True} if absent else {}
            return ENTRY_MODELS[kind](**{kind: key}, **flag)
        label = CONDITION_LABELS[key]
        return manual(f"whether the patient has {label} (no reviewed concept for {label} in the library)")

    # ------------------------------------------------------------------ groups
    def group(self, thresholds: list[Threshold], exclusion: bool, text: str = "") -> Definition:
        """The bounds on one data element: any of them for an exclusion or per-sex limits, else all of them;
        a condition that lifts a bound or allows a laxer one around them."""
        base = [t for t in thresholds if t.when is None]
        alternatives = [t for t in thresholds if t.when is not None]
        sexed = len({t.sex for t in base}) > 1 and all(t.sex for t in base)
        leaves = [self.leaf(t, text) for t in base]
        node = combine("any_of" if exclusion or sexed else "all_of", leaves) if leaves else None
        for t in base:
            if t.exempt and node is not None:
                lift = self.condition(t.exempt, absent=exclusion)
                node = all_of([node, lift]) if exclusion else any_of([node, lift])
        for t in alternatives:
            assert t.when is not None
            allowed = all_of([self.condition(t.when), self.leaf(t, text)])
            if node is None and not exclusion:  # the limit is only for those with the condition: not others
                node = any_of([self.condition(t.when, absent=True), allowed])
            elif node is None:
                node = allowed
            elif exclusion:
                node = any_of([all_of([node, self.condition(t.when, absent=True)]), allowed])
            else:
                node = any_of([node, allowed])
        assert node is not None
        return node

    @staticmethod
    def joiner(text: str, groups: list[list[Threshold]], exclusion: bool, reviews: list[str]) -> str:
        """all_of / any_of between the data elements of one criterion, as the text joins them."""
        words = []
        for first, second in pairwise(groups):
            gap = text[max(t.quantity.end for t in first):min(t.quantity.start for t in second)]
            if {t.quantity for t in first} & {t.quantity for t in second}:
                gap = " and "  # "ALT and AST < 2.5 × ULN": one bound for both
            words.append("or" if re.search(r"\bor\b", gap, re.IGNORECASE) else
                         "and" if re.search(r"\band\b", gap, re.IGNORECASE) else ",")
        if exclusion:
            if "and" in words:
                reviews.append("the excluding values are joined by 'and': read as each excluding on its own")
            return "any_of"
        if "or" in words and any(w != "or" for w in words):
            reviews.append("'and' and 'or' are mixed between the values: read as any of them")
        if "or" in words:
            return "any_of"
        if "," in words:
            reviews.append("the values are listed with commas: read as all of them")
        return "all_of"


__all__ = ["CONDITION_KINDS", "CONDITION_LABELS", "BoundDrafter", "contradictions"]
