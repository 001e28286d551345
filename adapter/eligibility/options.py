"""What the engine is told besides the EvidenceVariable: ordinal answers, derived measures, look-back, units.

All of it is data from the concept library and the units table (no code, no module state), built once per
trial by `engine_options` and handed to `evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from adapter.vocabulary import DERIVED_CODE_SYSTEM, token

if TYPE_CHECKING:
    from adapter.mapping.concepts import ConceptLibrary
    from adapter.units import UnitTable


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
class EngineOptions:
    # system|code → number (ECOG LA codes)
    ordinal_answers: Mapping[str, Decimal] = field(default_factory=dict)
    derived: Mapping[str, DerivedSpec] = field(default_factory=dict)  # system|code → spec
    default_lookback_days: int = 30
    # Molar masses for mass ↔ substance conversions. None: such a conversion is `unknown` (the convert error
    # says a molar mass is needed); every other conversion works without it.
    units: UnitTable | None = None


def engine_options(concepts: ConceptLibrary, units: UnitTable, default_lookback_days: int = 30) -> EngineOptions:
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
    return EngineOptions(
        ordinal_answers={a.token: a.value for a in concepts.ordinal_answers},
        derived=derived,
        default_lookback_days=default_lookback_days,
        units=units,
    )
