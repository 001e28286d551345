"""The schema of mappings/*.yaml: what a clinician reviews, checked on load.

A criterion is a tree of `Definition` nodes. Each node is exactly one of: a leaf naming a data element
(observation, age, sex, condition, procedure, medication, allergy, derived), a combination (all_of / any_of),
or `manual`. Models are strict (unknown keys are errors) so a misspelt key cannot silently drop a rule.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Comparator = Literal["<", "<=", ">=", ">"]
LEAF_KINDS = ("observation", "age", "sex", "condition", "procedure", "medication", "allergy", "derived")
COMBINATIONS = ("all_of", "any_of")
KINDS = (*LEAF_KINDS, *COMBINATIONS, "manual")
RECORD_ENTRY_KINDS = ("condition", "procedure", "medication", "allergy")
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgeRange(Strict):
    low: int | None = Field(default=None, ge=0)
    high: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> AgeRange:
        if self.low is None and self.high is None:
            raise ValueError("age needs low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"age low {self.low} is above high {self.high}")
        return self


class ValueRange(Strict):
    low: Decimal | None = None
    high: Decimal | None = None
    unit: str

    @model_validator(mode="after")
    def _bounded(self) -> ValueRange:
        if self.low is None and self.high is None:
            raise ValueError("range needs low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        return self


class Definition(Strict):
    """One node of a criterion's definition. Exactly one kind key is set."""

    id: Id | None = Field(default=None, description="id other nodes can point at with `before`")
    text: str | None = None
    note: str | None = None

    observation: str | None = None
    age: AgeRange | None = None
    sex: Literal["male", "female"] | None = None
    condition: str | None = None
    procedure: str | None = None
    medication: str | None = None
    allergy: str | None = None
    derived: str | None = None
    all_of: list[Definition] | None = None
    any_of: list[Definition] | None = None
    manual: str | None = None

    comparator: Comparator | None = None
    value: Decimal | None = None
    unit: str | None = None
    times_uln: Decimal | None = Field(default=None, gt=0)
    range: ValueRange | None = None
    absent: bool = False
    history: bool = Field(
        default=False,
        description="condition only: entries no longer active (inactive, resolved, remission) count too "
        "('history of'); default: only active entries count",
    )
    within_days: int | None = Field(default=None, gt=0)
    before: list[Id] | None = None
    lookback_days: int | None = Field(default=None, gt=0)
    evidence: list[Definition] | None = Field(
        default=None,
        description="manual only: record entries that bear on the criterion. A matching entry makes it unknown "
        "with the entry cited (a person weighs it); none leaves it manual",
    )
    context: list[Definition] | None = Field(
        default=None,
        description="manual only: record entries a person deciding the criterion should see (e.g. prior "
        "chemotherapy for 'failed first-line chemotherapy'); cited when present, the criterion stays manual",
    )

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _one_kind_and_its_fields(self) -> Definition:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"needs exactly one of {', '.join(KINDS)} (found: {found})")
        kind = kinds[0]
        if kind in COMBINATIONS and not getattr(self, kind):
            raise ValueError(f"{kind} needs at least one item")
        quantitative = kind in ("observation", "derived")
        has_threshold = self.value is not None or self.times_uln is not None
        if quantitative:
            if self.range is None and not has_threshold:
                raise ValueError(f"{kind} needs comparator with value+unit or times_uln, or a range")
            if self.range is not None and (has_threshold or self.comparator):
                raise ValueError("give either a range or comparator+value, not both")
            if has_threshold and self.comparator is None:
                raise ValueError("a threshold needs a comparator (<, <=, >=, >)")
            if self.value is not None and self.times_uln is not None:
                raise ValueError("give either value+unit or times_uln, not both")
            if self.value is not None and not self.unit:
                raise ValueError("value needs a UCUM unit")
            if self.times_uln is not None and kind == "derived":
                raise ValueError("a derived value has no reference range, so times_uln cannot apply")
        elif self.comparator or has_threshold or self.range or self.unit:
            raise ValueError(f"comparator/value/unit/times_uln/range do not apply to {kind}")
        if (self.within_days is None) != (self.before is None) and self.before is not None:
            raise ValueError("before needs within_days")
        if self.within_days is not None and kind not in ("procedure", "medication", "condition"):
            raise ValueError(f"within_days applies to procedure, medication or condition, not {kind}")
        if self.absent and kind not in ("procedure", "medication", "condition", "allergy"):
            raise ValueError(f"absent applies to procedure, medication, condition or allergy, not {kind}")
        self._applies_to(kind, quantitative)
        return self

    def _applies_to(self, kind: str, quantitative: bool) -> None:
        for label, items in (("evidence", self.evidence), ("context", self.context)):
            if items is None:
                continue
            if kind != "manual":
                raise ValueError(f"{label} applies to manual, not {kind}")
            for item in items:
                if item.kind not in RECORD_ENTRY_KINDS or item.absent or item.before or item.evidence or item.context:
                    raise ValueError(
                        f"a {label} item is a condition, procedure, medication or allergy (no absent, before, "
                        "evidence or context of its own)"
                    )
        if self.history and kind != "condition":
            raise ValueError(f"history applies to condition, not {kind}")
        if self.lookback_days is not None and not quantitative:
            raise ValueError(f"lookback_days applies to observation or derived, not {kind}")

    def walk(self) -> list[Definition]:
        """This node and all nodes below it, depth first."""
        nodes = [self]
        for child in [*(self.all_of or self.any_of or []), *(self.evidence or []), *(self.context or [])]:
            nodes.extend(child.walk())
        return nodes


class Criterion(Definition):
    """A top-level criterion: a definition plus its id, type and the record's verbatim text."""

    id: Id
    type: Literal["inclusion", "exclusion"]
    text: str = Field(min_length=1)
    needs_review: str | None = Field(default=None, description="why a computable reading needs a person's check")


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
