"""Trial → all of its R5 resources: ResearchStudy, EvidenceVariable, PlanDefinition, ActivityDefinitions,
Organization, Locations and the derived-measure CodeSystem. Pure: data in, resources (plain dicts) out.

Resources carry `id` = a stable key and reference each other as `Type/key`; the Bundle builder turns those
into urn:uuid entries with conditional requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapter.fhir_build.common import resource_key
from adapter.fhir_build.definitions import (
    derived_code_system,
    record_entry_extension_definition,
    record_entry_settles_definition,
)
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
    evidence_variable = build_evidence_variable(mapping, concepts, record.brief_title or record.nct_id, record)
    evidence_variable["id"] = resource_key(record.nct_id, "eligibility")
    activities = activity_definitions(mapping)
    plan = plan_definition(record, mapping, activities)
    study = build_research_study(record, mapping, concepts, sponsors, sites)
    if getattr(mapping, "draft", False):
        _mark_draft(study, evidence_variable, mapping)
        for resource in (study, evidence_variable, plan, *activities.values()):
            resource["status"] = "draft"  # publication status (R5): this definition is not ready for use
    return [
        study,
        evidence_variable,
        plan,
        *activities.values(),
        *sponsors,
        *sites,
        derived_code_system(concepts),
        record_entry_extension_definition("R5"),
        record_entry_settles_definition("R5"),
    ]


DRAFT_NOTE = "draft mapping, not clinically reviewed"  # the words of adapter.render.report.DRAFT_NOTE


def _mark_draft(study: dict[str, Any], variable: dict[str, Any], mapping: Any) -> None:
    """A drafted trial says so in its narratives and notes; each needs_review reason rides on its criterion."""
    for resource in (study, variable):
        div = resource["text"]["div"]
        resource["text"]["div"] = div.removesuffix("</div>") + f"<p>{DRAFT_NOTE}</p></div>"
    study["note"] = [{"text": DRAFT_NOTE}]
    variable["note"] = [{"text": DRAFT_NOTE}]
    review = {c.id: c.needs_review for c in mapping.criteria if getattr(c, "needs_review", None)}
    for characteristic in variable["characteristic"]:
        why = review.get(characteristic.get("linkId"))
        if why:
            characteristic.setdefault("note", []).append({"text": f"needs review: {why}"})


__all__ = ["build_r5_resources"]
