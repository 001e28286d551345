"""Trial → all of its R5 resources: ResearchStudy, EvidenceVariable, PlanDefinition, ActivityDefinitions,
Organization, Locations and the derived-measure CodeSystem. Pure: data in, resources (plain dicts) out.

Resources carry `id` = a stable key and reference each other as `Type/key`; the Bundle builder turns those
into urn:uuid entries with conditional requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapter.fhir_build.common import resource_key
from adapter.fhir_build.definitions import derived_code_system
from adapter.fhir_build.evidence_variable import build_evidence_variable
from adapter.fhir_build.parties import locations, organizations
from adapter.fhir_build.protocol import activity_definitions, plan_definition
from adapter.fhir_build.research_study import build_research_study

if TYPE_CHECKING:  # the builder only reads a trial; it does not load one
    from adapter.catalog import Trial


def build_r5_resources(trial: Trial) -> list[dict[str, Any]]:
    """All R5 resources of one trial, ResearchStudy first (the Bundle keeps this order)."""
    record, mapping, concepts = trial.record, trial.mapping, trial.concepts
    sponsors = organizations(record)
    sites = locations(record)
    evidence_variable = build_evidence_variable(mapping, concepts, record.brief_title or record.nct_id)
    evidence_variable["id"] = resource_key(record.nct_id, "eligibility")
    activities = activity_definitions(mapping)
    plan = plan_definition(record, mapping, activities)
    study = build_research_study(record, mapping, concepts, sponsors, sites)
    return [
        study,
        evidence_variable,
        plan,
        *activities.values(),
        *sponsors,
        *sites,
        derived_code_system(concepts),
    ]


__all__ = ["build_r5_resources"]
