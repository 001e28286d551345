"""What the engine is told besides the EvidenceVariable: ordinal answers (global and per test), derived measures,
look-back, units, the site's default reference ranges.

All of it is data from the concept library and the units table (no code, no module state), built once per
trial by `engine_options` and handed to `evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from adapter.vocabulary import DERIVED_CODE_SYSTEM, token

if TYPE_CHECKING:
    from adapter.eligibility.reference_ranges import ReferenceRangeTable
    from adapter.mapping.concepts import ConceptLibrary
    from adapter.units import UnitTable

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DerivedSpec:
    """How to compute a derived measure (today: Cockcroft–Gault creatinine clearance)."""

    formula: Literal["cockcroft-gault"]
    unit: str
    creatinine_codes: tuple[str, ...]
    creatinine_lookback_days: int
    weight_codes: tuple[str, ...]
    weight_lookback_days: int


@dataclass(frozen=True, slots=True)
class GradeScaleSpec:
    """A strip's nominal levels: a concentration in `unit` at `levels[i][0]` reads as grade `levels[i][1]`."""

    unit: str
    levels: tuple[tuple[Decimal, Decimal], ...]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    # system|code → number (ECOG LA codes)
    ordinal_answers: Mapping[str, Decimal] = field(default_factory=dict)
    # result text (lower case) → grade: "2+", "Trace", "Negative" (the concept library's ordinal_texts)
    ordinal_texts: Mapping[str, Decimal] = field(default_factory=dict)
    derived: Mapping[str, DerivedSpec] = field(default_factory=dict)  # system|code → spec
    # Per test, read before the global tables: the criterion's type code (system|code) → {answer system|code →
    # number} and → {result text (lower case) → number}. A pregnancy test's "Positive" is 1; a dipstick's is not
    # a grade, so "Positive" cannot be global.
    answers: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    answer_texts: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    # Per test: a concentration read as a grade (a test strip reported in mg/dL): type code → (unit, ((level,
    # grade), …) rising).
    grade_scales: Mapping[str, GradeScaleSpec] = field(default_factory=dict)
    default_lookback_days: int = 30
    # Molar masses for mass ↔ substance conversions. None: such a conversion is `unknown` (the convert error
    # says a molar mass is needed); every other conversion works without it.
    units: UnitTable | None = None
    # The site's default reference ranges (`--reference-ranges FILE`), for results sent with no range at all.
    reference_ranges: ReferenceRangeTable | None = None
    # What the engine reads off an EvidenceVariable's parts (value-set tokens, record-entry queries, criterion
    # codes) is the same for every patient: remembered here, per options object (one per trial), never globally.
    memo: IdentityMemo = field(default_factory=lambda: IdentityMemo(), compare=False, repr=False)


class IdentityMemo:
    """Values computed from an object, keyed by the object's identity (the object is kept, so its id stays its
    own). Bounded: past `limit` entries it starts afresh, so options reused over many EvidenceVariables stay small."""

    def __init__(self, limit: int = 20_000) -> None:
        self._entries: dict[tuple[int, str], tuple[object, Any]] = {}
        self._limit = limit

    def get(self, obj: object, tag: str, compute: Callable[[], T]) -> T:
        key = (id(obj), tag)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = compute()
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = (obj, value)
        return value

    # Pickled (the compiled-catalog cache) without the ids, which are this process's: re-keyed when loaded.
    def __getstate__(self) -> dict[str, Any]:
        return {"limit": self._limit, "entries": [(tag, entry) for (_, tag), entry in self._entries.items()]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._limit = state["limit"]
        self._entries = {(id(entry[0]), tag): entry for tag, entry in state["entries"]}


def engine_options(concepts: ConceptLibrary, units: UnitTable, default_lookback_days: int = 30,
                   reference_ranges: ReferenceRangeTable | None = None) -> EngineOptions:
    derived = {}
    for code, concept in concepts.derived.items():
        creatinine, weight = concept.inputs["creatinine"], concept.inputs["weight"]
        derived[token(DERIVED_CODE_SYSTEM, code)] = DerivedSpec(
            formula=concept.formula,
            unit=concept.unit,
            creatinine_codes=tuple(c.token for c in concepts.observations[creatinine.observation].codes),
            creatinine_lookback_days=creatinine.lookback_days,
            weight_codes=tuple(c.token for c in concepts.observations[weight.observation].codes),
            weight_lookback_days=weight.lookback_days,
        )
    answers: dict[str, Mapping[str, Decimal]] = {}
    answer_texts: dict[str, Mapping[str, Decimal]] = {}
    grade_scales: dict[str, GradeScaleSpec] = {}
    for observed in concepts.observations.values():
        scale = observed.grade_scale
        if scale is not None:
            spec = GradeScaleSpec(scale.unit, tuple((level.value, level.grade) for level in scale.levels))
            grade_scales.update((coding.token, spec) for coding in observed.codes)
        # One table per concept, shared by all its codes (a criterion's type carries the concept's codes).
        by_code = {a.token: a.value for a in observed.answers}
        by_text = {text.lower(): value for text, value in observed.answer_texts.items()}
        for coding in observed.codes:  # not the partial codes: a quantitative hCG has no such answers
            if by_code:
                answers[coding.token] = by_code
            if by_text:
                answer_texts[coding.token] = by_text
    return EngineOptions(
        ordinal_answers={a.token: a.value for a in concepts.ordinal_answers},
        ordinal_texts={text.lower(): value for text, value in concepts.ordinal_texts.items()},
        derived=derived,
        answers=answers,
        answer_texts=answer_texts,
        grade_scales=grade_scales,
        default_lookback_days=default_lookback_days,
        units=units,
        reference_ranges=reference_ranges,
    )
