"""Engine options from the concept library: ordinal answers and derived-measure inputs (data, not code)."""

from __future__ import annotations

from adapter.eligibility.engine import DerivedSpec, EngineOptions
from adapter.fhir_build.common import DERIVED_CODE_SYSTEM
from adapter.mapping.concepts import ConceptLibrary


def engine_options(concepts: ConceptLibrary, default_lookback_days: int = 30) -> EngineOptions:
    derived = {}
    for code, concept in concepts.derived.items():
        creatinine, weight = concept.inputs["creatinine"], concept.inputs["weight"]
        derived[f"{DERIVED_CODE_SYSTEM}|{code}"] = DerivedSpec(
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
    )
