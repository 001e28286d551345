"""The concept library (mappings/concepts.yaml): codes and names for the data elements criteria refer to."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapter.vocabulary import token

ConceptKind = Literal["observations", "conditions", "procedures", "medications", "allergies"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(Strict):
    system: str = Field(pattern=r"^https?://")
    code: str = Field(min_length=1)
    display: str | None = None

    @property
    def token(self) -> str:
        return token(self.system, self.code)


class Concept(Strict):
    display: str
    codes: list[Code] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list, description="names matched in record text when no code is set")

    @model_validator(mode="after")
    def _identifiable(self) -> Concept:
        if not self.codes and not self.text:
            raise ValueError("a concept needs codes or text to match")
        return self


class DerivedInput(Strict):
    observation: str
    lookback_days: int = Field(gt=0)


class DerivedConcept(Strict):
    display: str
    formula: Literal["cockcroft-gault"]
    unit: str
    inputs: dict[str, DerivedInput]

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
    observations: dict[str, Concept] = Field(default_factory=dict)
    conditions: dict[str, Concept] = Field(default_factory=dict)
    procedures: dict[str, Concept] = Field(default_factory=dict)
    medications: dict[str, Concept] = Field(default_factory=dict)
    allergies: dict[str, Concept] = Field(default_factory=dict)
    derived: dict[str, DerivedConcept] = Field(default_factory=dict)
    ordinal_answers: list[OrdinalAnswer] = Field(default_factory=list)
    search_panels: list[Code] = Field(default_factory=list)

    @model_validator(mode="after")
    def _derived_inputs_exist(self) -> ConceptLibrary:
        for name, concept in self.derived.items():
            for role, item in concept.inputs.items():
                if item.observation not in self.observations:
                    raise ValueError(f"derived {name}: input {role} names unknown observation {item.observation!r}")
        return self

    def lookup(self, kind: str, name: str) -> Concept:
        table: dict[str, Concept] = getattr(self, kind)
        return table[name]
