"""The concept library (mappings/concepts*.yaml): the value set behind each data element criteria refer to.

A concept lists the codings real records use (each with the public source it was checked against), the
codings that say the concept may hold but lack a detail a criterion needs (`partial_codes`), and reviewed
synonyms: an entry whose code is not in the value set but whose text names the concept makes a criterion
`unknown`, never absent.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapter.vocabulary import token

ConceptKind = Literal["observations", "conditions", "procedures", "medications", "allergies"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """A public source codes were checked against: a code system's release or browser, a published value set."""

    title: str = Field(min_length=1)
    url: str | None = Field(default=None, pattern=r"^https?://")
    note: str | None = None


class Code(Strict):
    system: str = Field(pattern=r"^https?://")
    code: str = Field(min_length=1)
    display: str | None = None
    source: str | None = Field(default=None, description="id of the entry in `sources` this code was checked in")

    @property
    def token(self) -> str:
        return token(self.system, self.code)


class PartialCode(Code):
    """A coding that names the concept without a detail a criterion needs (C15.9: no histology)."""

    missing: str = Field(min_length=1, description="what the code does not say, shown to the reviewer")


class Answer(Strict):
    """A coded answer of one test, as a number (a pregnancy test's Positive = 1), with the source it was checked in."""

    system: str = Field(pattern=r"^https?://")
    code: str = Field(min_length=1)
    value: Decimal
    display: str | None = None
    source: str | None = Field(default=None, description="id of the entry in `sources` this code was checked in")

    @property
    def token(self) -> str:
        return token(self.system, self.code)


class GradeLevel(Strict):
    value: Decimal = Field(gt=0)
    grade: Decimal = Field(ge=0)


class GradeScale(Strict):
    """How a semi-quantitative test reported as a concentration reads as a grade: the strip's colour blocks as
    nominal levels (1+ = 30 mg/dL …). A value at a level is that grade; between two levels, above the lower grade
    and below the upper; under the lowest level, below its grade; above the highest, above its grade."""

    unit: str
    levels: list[GradeLevel] = Field(min_length=1)
    source: str

    @model_validator(mode="after")
    def _increasing(self) -> GradeScale:
        values = [(level.value, level.grade) for level in self.levels]
        if values != sorted(values) or len({v for v, _ in values}) != len(values):
            raise ValueError("grade_scale levels must rise in value and grade together")
        if [g for _, g in values] != sorted(g for _, g in values):
            raise ValueError("grade_scale levels must rise in value and grade together")
        return self


class Drafting(Strict):
    """How `trial-adapter draft` finds this concept in eligibility text: reviewed words beside the reviewed codes, so
    the drafter and the engine share one vocabulary. Patterns are regular expressions matched case-insensitively on
    the criterion's text (folded: "≤" as "<=", "×" as "x"); where two overlap, the longer match wins."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    label: str | None = Field(default=None, min_length=1, description="words for a person; the display if absent")
    patterns: list[str] = Field(min_length=1, description="regular expressions that name the concept in text")
    units: list[str] = Field(default_factory=list, description=(
        "observations: the UCUM units a written bound may carry ('ULN': a multiple of the upper limit of normal; "
        "'1': a ratio, also read when no unit is written)"))

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                compiled = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} does not compile: {exc}") from None
            if compiled.search(""):  # a pattern matching nothing-at-all would name the concept everywhere
                raise ValueError(f"pattern {pattern!r} matches the empty text")
        return patterns

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """The patterns as one alternation (compiled once per library)."""
        return re.compile("|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE)


class Concept(Strict):
    display: str
    codes: list[Code] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list, description="names matched in record text when no code is set")
    partial_codes: list[PartialCode] = Field(default_factory=list)
    synonyms: list[str] = Field(default_factory=list, description="reviewed words that name the concept in text")
    sources: list[str] = Field(default_factory=list, description="ids in `sources` the value set was built from")
    note: str | None = None
    # Observations only: this test's coded and written answers as numbers, read before the global ordinal tables.
    answers: list[Answer] = Field(default_factory=list)
    answer_texts: dict[str, Decimal] = Field(default_factory=dict, description="result text (any case) -> number")
    grade_scale: GradeScale | None = Field(default=None, description="observations only: a concentration read as a "
                                           "grade (a test strip reported in mg/dL)")
    drafting: Drafting | None = Field(default=None, description="how the drafter recognises it in criteria text")

    @model_validator(mode="after")
    def _identifiable(self) -> Concept:
        if not self.codes and not self.text:
            raise ValueError("a concept needs codes or text to match")
        return self

    def all_codes(self) -> list[Code]:
        return [*self.codes, *self.partial_codes]


class DraftingOnly(Strict):
    """A data element the drafter recognises but the library has no reviewed codes for (LVEF while no LOINC code is
    sourced): a bound on it is drafted `manual` with the value shown, never computable."""

    display: str
    drafting: Drafting
    note: str | None = None


class DerivedInput(Strict):
    observation: str
    lookback_days: int = Field(gt=0)


class DerivedConcept(Strict):
    display: str
    formula: Literal["cockcroft-gault"]
    unit: str
    inputs: dict[str, DerivedInput]
    drafting: Drafting | None = None

    @model_validator(mode="after")
    def _inputs_for_formula(self) -> DerivedConcept:
        needed = {"cockcroft-gault": {"creatinine", "weight"}}[self.formula]
        if set(self.inputs) != needed:
            raise ValueError(f"{self.formula} takes inputs {sorted(needed)}, got {sorted(self.inputs)}")
        return self


class OrdinalAnswer(Strict):
    system: str
    code: str
    value: Decimal

    @property
    def token(self) -> str:
        return token(self.system, self.code)


class ConceptLibrary(Strict):
    sources: dict[str, Source] = Field(default_factory=dict)
    observations: dict[str, Concept] = Field(default_factory=dict)
    conditions: dict[str, Concept] = Field(default_factory=dict)
    procedures: dict[str, Concept] = Field(default_factory=dict)
    medications: dict[str, Concept] = Field(default_factory=dict)
    allergies: dict[str, Concept] = Field(default_factory=dict)
    derived: dict[str, DerivedConcept] = Field(default_factory=dict)
    ordinal_answers: list[OrdinalAnswer] = Field(default_factory=list)
    ordinal_texts: dict[str, Decimal] = Field(default_factory=dict, description="result text (lower case) -> grade")
    search_panels: list[Code] = Field(default_factory=list)
    # Observations the drafter recognises without reviewed codes: drafted `manual` with the value shown.
    drafting_only: dict[str, DraftingOnly] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sources_exist(self) -> ConceptLibrary:
        for kind in ("observations", "conditions", "procedures", "medications", "allergies"):
            for name, concept in getattr(self, kind).items():
                for source in concept.sources:
                    if source not in self.sources:
                        raise ValueError(f"{kind}.{name}: unknown source {source!r} (add it under sources)")
                for code in [*concept.all_codes(), *concept.answers]:
                    if code.source is not None and code.source not in self.sources:
                        raise ValueError(f"{kind}.{name}: code {code.code}: unknown source {code.source!r}")
                if kind != "observations" and (concept.answers or concept.answer_texts or concept.grade_scale):
                    raise ValueError(f"{kind}.{name}: answers, answer_texts and grade_scale are for observations only")
                if kind != "observations" and concept.drafting is not None and concept.drafting.units:
                    raise ValueError(f"{kind}.{name}: drafting units are for observations only")
                if concept.grade_scale is not None and concept.grade_scale.source not in self.sources:
                    raise ValueError(f"{kind}.{name}: grade_scale: unknown source {concept.grade_scale.source!r}")
        return self

    @model_validator(mode="after")
    def _derived_inputs_exist(self) -> ConceptLibrary:
        for name, concept in self.derived.items():
            for role, item in concept.inputs.items():
                if item.observation not in self.observations:
                    raise ValueError(f"derived {name}: input {role} names unknown observation {item.observation!r}")
        return self

    @model_validator(mode="after")
    def _drafting_only_is_uncoded(self) -> ConceptLibrary:
        for name in self.drafting_only:
            if name in self.observations or name in self.derived:
                raise ValueError(f"drafting_only {name}: the library has it as a concept; put `drafting:` there")
        return self

    def lookup(self, kind: str, name: str) -> Concept:
        table: dict[str, Concept] = getattr(self, kind)
        return table[name]
