"""The schema of mappings/*.yaml: a trial's mapping — its criteria (each a `Definition` tree with an id, type and
the record's text), population, conditions and arms — checked on load.

The definition nodes live in `adapter.mapping.definitions` and are re-exported here, so `adapter.mapping.model`
stays the one import for the whole schema.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from adapter.mapping.definitions import (
    COMBINATIONS,
    DEFINITION,
    KINDS,
    LEAF_KINDS,
    RECORD_ENTRY_KINDS,
    AgeDefinition,
    AgeRange,
    AllergyDefinition,
    AllOf,
    AnyOf,
    Comparator,
    ConditionDefinition,
    Definition,
    DerivedDefinition,
    Id,
    Manual,
    MedicationDefinition,
    Node,
    ObservationDefinition,
    ProcedureDefinition,
    Quantitative,
    RecordEntry,
    SexDefinition,
    Strict,
    ValueRange,
    _one_kind,
    kind_of,
    parse_definition,
)

__all__ = [
    "COMBINATIONS",
    "DEFINITION",
    "KINDS",
    "LEAF_KINDS",
    "RECORD_ENTRY_KINDS",
    "AgeDefinition",
    "AgeRange",
    "AllOf",
    "AllergyDefinition",
    "AnyOf",
    "Arm",
    "Comparator",
    "ConditionDefinition",
    "Count",
    "Criterion",
    "Cycle",
    "Defaults",
    "Definition",
    "DerivedDefinition",
    "Dose",
    "Id",
    "Intervention",
    "Manual",
    "MedicationDefinition",
    "Node",
    "ObservationDefinition",
    "Population",
    "ProcedureDefinition",
    "Quantitative",
    "RecordEntry",
    "SexDefinition",
    "Strict",
    "StudyCondition",
    "TrialMapping",
    "ValueRange",
    "kind_of",
    "parse_definition",
]

class _CriterionFields(Strict):
    """A top-level criterion: a definition plus its id, type and the record's verbatim text."""

    id: Id
    type: Literal["inclusion", "exclusion"]
    text: str = Field(min_length=1)
    needs_review: str | None = Field(default=None, description="why a computable reading needs a person's check")


# A criterion of each kind: its definition's model with the criterion's fields (id and text required here: mypy
# reads that narrowing of the node's optional id and text as a conflict, hence the ignores).
class ObservationCriterion(_CriterionFields, ObservationDefinition): ...  # type: ignore[misc]
class AgeCriterion(_CriterionFields, AgeDefinition): ...  # type: ignore[misc]
class SexCriterion(_CriterionFields, SexDefinition): ...  # type: ignore[misc]
class ConditionCriterion(_CriterionFields, ConditionDefinition): ...  # type: ignore[misc]
class ProcedureCriterion(_CriterionFields, ProcedureDefinition): ...  # type: ignore[misc]
class MedicationCriterion(_CriterionFields, MedicationDefinition): ...  # type: ignore[misc]
class AllergyCriterion(_CriterionFields, AllergyDefinition): ...  # type: ignore[misc]
class DerivedCriterion(_CriterionFields, DerivedDefinition): ...  # type: ignore[misc]
class AllOfCriterion(_CriterionFields, AllOf): ...  # type: ignore[misc]
class AnyOfCriterion(_CriterionFields, AnyOf): ...  # type: ignore[misc]
class ManualCriterion(_CriterionFields, Manual): ...  # type: ignore[misc]


Criterion = Annotated[
    Annotated[ObservationCriterion, Tag("observation")]
    | Annotated[AgeCriterion, Tag("age")]
    | Annotated[SexCriterion, Tag("sex")]
    | Annotated[ConditionCriterion, Tag("condition")]
    | Annotated[ProcedureCriterion, Tag("procedure")]
    | Annotated[MedicationCriterion, Tag("medication")]
    | Annotated[AllergyCriterion, Tag("allergy")]
    | Annotated[DerivedCriterion, Tag("derived")]
    | Annotated[AllOfCriterion, Tag("all_of")]
    | Annotated[AnyOfCriterion, Tag("any_of")]
    | Annotated[ManualCriterion, Tag("manual")],
    Discriminator(kind_of),
    BeforeValidator(_one_kind),
]


class Population(Strict):
    minimum_age: str | None = None
    maximum_age: str | None = None
    sex: Literal["ALL", "MALE", "FEMALE"] | None = None


class StudyCondition(Strict):
    text: str
    concept: str | None = None


class Defaults(Strict):
    lookback_days: int = Field(default=30, gt=0)


class Dose(Strict):
    value: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    unit: str

    @model_validator(mode="after")
    def _value_or_range(self) -> Dose:
        if (self.value is None) == (self.low is None and self.high is None):
            raise ValueError("a dose is either value or low/high")
        return self


class Count(Strict):
    low: int = Field(gt=0)
    high: int = Field(gt=0)


class Cycle(Strict):
    days: list[int] = Field(min_length=1, max_length=2, description="[day] or [first, last] of the cycle")
    length_days: int = Field(gt=0)


class Intervention(Strict):
    id: Id
    name: str
    kind: Literal["medication", "radiotherapy"]
    product: str | None = None
    dose: Dose | None = None
    route: Literal["oral", "intravenous"] | None = None
    frequency: Literal["qd", "bid"] | None = None
    cycle: Cycle | None = None
    until: str | None = None
    dose_adjustment: str | None = None
    total_dose: Dose | None = None
    fractions: Count | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Intervention:
        if self.kind == "medication" and (self.total_dose or self.fractions):
            raise ValueError("total_dose/fractions are for radiotherapy")
        if self.kind == "radiotherapy" and (self.dose or self.route or self.frequency or self.product):
            raise ValueError("radiotherapy takes total_dose and fractions, not dose/route/frequency/product")
        return self


class Arm(Strict):
    label: str
    type: Literal[
        "experimental",
        "active-comparator",
        "placebo-comparator",
        "sham-comparator",
        "no-intervention",
        "other-arm-type",
    ]
    description: str | None = None
    selection: Literal["all", "any"] = "all"
    interventions: list[Intervention] = Field(min_length=1)


class TrialMapping(Strict):
    trial: Annotated[str, Field(pattern=r"^NCT\d{8}$")]
    population: Population = Population()
    conditions: list[StudyCondition] = Field(default_factory=list)
    defaults: Defaults = Defaults()
    criteria: list[Criterion] = Field(min_length=1)
    arms: list[Arm] = Field(default_factory=list)
    draft: bool = Field(default=False, description="drafted from the record by `trial-adapter draft`, not reviewed")

    def criterion(self, criterion_id: str) -> Criterion:
        return next(c for c in self.criteria if c.id == criterion_id)
