"""The nodes of a criterion's definition: the schema a clinician reviews in mappings/*.yaml, checked on load.

A criterion is a tree of `Definition` nodes. Each node is exactly one of: a leaf naming a data element
(observation, age, sex, condition, procedure, medication, allergy, derived), a combination (all_of / any_of),
or `manual` — a discriminated union: the kind key present picks the model, which has only that kind's fields.
Models are strict (unknown keys are errors) so a misspelt key cannot silently drop a rule. The drafter builds
these objects directly; the criterion and the trial around them are in `adapter.mapping.model`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator

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


class Node(Strict):
    """What every node of a definition has: an id other nodes can point at with `before`, text and a note."""

    kind: ClassVar[str]  # the YAML key that names the node's kind ("observation", "all_of", …)

    id: Id | None = Field(default=None, description="id other nodes can point at with `before`")
    text: str | None = None
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _keys_that_apply(cls, data: Any) -> Any:
        """A key of another kind ("history" on a procedure) is named with the kinds it applies to, not merely as
        an extra input."""
        if isinstance(data, dict):
            for key, (kinds, message) in _APPLIES.items():
                if key in data and cls.kind not in kinds:
                    if data[key] not in (None, False):
                        raise ValueError(message.format(kind=cls.kind))
                    data = {k: v for k, v in data.items() if k != key}  # a default written out ("absent: false")
        return data

    @property
    def children(self) -> list[Definition]:
        """The nodes directly below this one (items of a combination, a manual node's evidence and context)."""
        return []

    def walk(self) -> list[Definition]:
        """This node and all nodes below it, depth first."""
        nodes: list[Definition] = [self]  # type: ignore[list-item]  # every concrete node is a Definition
        for child in self.children:
            nodes.extend(child.walk())
        return nodes


class _Quantity(Node):
    """A bound on a measured or derived value: comparator with value+unit or times_uln, or a range."""

    comparator: Comparator | None = None
    value: Decimal | None = None
    unit: str | None = None
    times_uln: Decimal | None = Field(default=None, gt=0)
    range: ValueRange | None = None
    lookback_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_bound(self) -> _Quantity:
        has_threshold = self.value is not None or self.times_uln is not None
        if self.range is None and not has_threshold:
            raise ValueError(f"{self.kind} needs comparator with value+unit or times_uln, or a range")
        if self.range is not None and (has_threshold or self.comparator):
            raise ValueError("give either a range or comparator+value, not both")
        if has_threshold and self.comparator is None:
            raise ValueError("a threshold needs a comparator (<, <=, >=, >)")
        if self.value is not None and self.times_uln is not None:
            raise ValueError("give either value+unit or times_uln, not both")
        if self.value is not None and not self.unit:
            raise ValueError("value needs a UCUM unit")
        return self


class ObservationDefinition(_Quantity):
    kind: ClassVar[str] = "observation"
    observation: str


class DerivedDefinition(_Quantity):
    kind: ClassVar[str] = "derived"
    derived: str

    @model_validator(mode="after")
    def _no_reference_range(self) -> DerivedDefinition:
        if self.times_uln is not None:
            raise ValueError("a derived value has no reference range, so times_uln cannot apply")
        return self


class AgeDefinition(Node):
    kind: ClassVar[str] = "age"
    age: AgeRange


class SexDefinition(Node):
    kind: ClassVar[str] = "sex"
    sex: Literal["male", "female"]


class _RecordEntry(Node):
    """An entry of the patient's record (condition, procedure, medication, allergy); `absent`: must not be there."""

    absent: bool = False

    @property
    def concept(self) -> str:
        return str(getattr(self, self.kind))


class _TimedEntry(_RecordEntry):
    within_days: int | None = Field(default=None, gt=0)
    before: list[Id] | None = None

    @model_validator(mode="after")
    def _window(self) -> _TimedEntry:
        if self.before is not None and self.within_days is None:
            raise ValueError("before needs within_days")
        return self


class ConditionDefinition(_TimedEntry):
    kind: ClassVar[str] = "condition"
    condition: str
    history: bool = Field(
        default=False,
        description="entries no longer active (inactive, resolved, remission) count too ('history of'); default: "
        "only active entries count",
    )


class ProcedureDefinition(_TimedEntry):
    kind: ClassVar[str] = "procedure"
    procedure: str


class MedicationDefinition(_TimedEntry):
    kind: ClassVar[str] = "medication"
    medication: str


class AllergyDefinition(_RecordEntry):
    kind: ClassVar[str] = "allergy"
    allergy: str


class AllOf(Node):
    kind: ClassVar[str] = "all_of"
    all_of: list[Definition] = Field(min_length=1)

    @property
    def children(self) -> list[Definition]:
        return list(self.all_of)


class AnyOf(Node):
    kind: ClassVar[str] = "any_of"
    any_of: list[Definition] = Field(min_length=1)

    @property
    def children(self) -> list[Definition]:
        return list(self.any_of)


class Manual(Node):
    kind: ClassVar[str] = "manual"
    manual: str
    evidence: list[Definition] | None = Field(
        default=None,
        description="record entries that bear on the criterion. A matching entry makes it unknown with the entry "
        "cited (a person weighs it); none leaves it manual",
    )
    context: list[Definition] | None = Field(
        default=None,
        description="record entries a person deciding the criterion should see (e.g. prior chemotherapy for "
        "'failed first-line chemotherapy'); cited when present, the criterion stays manual",
    )

    @model_validator(mode="after")
    def _entries_only(self) -> Manual:
        for label, items in (("evidence", self.evidence), ("context", self.context)):
            for item in items or []:
                plain = isinstance(item, _RecordEntry) and not item.absent and not getattr(item, "before", None)
                if not plain:
                    raise ValueError(
                        f"a {label} item is a condition, procedure, medication or allergy (no absent, before, "
                        "evidence or context of its own)"
                    )
        return self

    @property
    def children(self) -> list[Definition]:
        return [*(self.evidence or []), *(self.context or [])]


RecordEntry = ConditionDefinition | ProcedureDefinition | MedicationDefinition | AllergyDefinition
Quantitative = ObservationDefinition | DerivedDefinition

# Keys of one kind written on another: named with the kinds they apply to (the messages of the one-model schema).
_QUANTITY_KEYS = ("observation", "derived")
_APPLIES: dict[str, tuple[tuple[str, ...], str]] = {
    **{key: (_QUANTITY_KEYS, "comparator/value/unit/times_uln/range do not apply to {kind}")
       for key in ("comparator", "value", "unit", "times_uln", "range")},
    "lookback_days": (_QUANTITY_KEYS, "lookback_days applies to observation or derived, not {kind}"),
    "within_days": (("procedure", "medication", "condition"),
                    "within_days applies to procedure, medication or condition, not {kind}"),
    "before": (("procedure", "medication", "condition"), "before needs within_days"),
    "absent": (RECORD_ENTRY_KINDS, "absent applies to procedure, medication, condition or allergy, not {kind}"),
    "history": (("condition",), "history applies to condition, not {kind}"),
    "evidence": (("manual",), "evidence applies to manual, not {kind}"),
    "context": (("manual",), "context applies to manual, not {kind}"),
}


def kind_of(data: Any) -> str | None:
    """The kind key a node's data carries (the discriminator): exactly one of KINDS, else None."""
    if not isinstance(data, dict):
        kinds = [getattr(data, "kind", None)]
    else:
        kinds = [k for k in KINDS if data.get(k) is not None]
    return kinds[0] if len(kinds) == 1 else None


def _one_kind(data: Any) -> Any:
    if isinstance(data, dict):
        kinds = [k for k in KINDS if data.get(k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"needs exactly one of {', '.join(KINDS)} (found: {', '.join(kinds) or 'none'})")
        if kinds[0] in COMBINATIONS and not data[kinds[0]]:
            raise ValueError(f"{kinds[0]} needs at least one item")
    return data


# One node of a criterion's definition: the model of the kind key it carries (the YAML is unchanged; the key
# present picks the model, so each kind has exactly its own fields).
Definition = Annotated[
    Annotated[ObservationDefinition, Tag("observation")]
    | Annotated[AgeDefinition, Tag("age")]
    | Annotated[SexDefinition, Tag("sex")]
    | Annotated[ConditionDefinition, Tag("condition")]
    | Annotated[ProcedureDefinition, Tag("procedure")]
    | Annotated[MedicationDefinition, Tag("medication")]
    | Annotated[AllergyDefinition, Tag("allergy")]
    | Annotated[DerivedDefinition, Tag("derived")]
    | Annotated[AllOf, Tag("all_of")]
    | Annotated[AnyOf, Tag("any_of")]
    | Annotated[Manual, Tag("manual")],
    Discriminator(kind_of),
    BeforeValidator(_one_kind),
]
DEFINITION = TypeAdapter(Definition)


def parse_definition(data: Any) -> Definition:
    """One node from its YAML data (a dict), validated as the model of its kind."""
    return DEFINITION.validate_python(data)
