"""Record + mapping → the R5 ResearchStudy: identifiers, classification, conditions, progress, recruitment, arms.

Pure: data in, a plain dict out. The resources it references (PlanDefinition, EvidenceVariable, Organization,
Location) are built elsewhere; here they are named by `Type/key`.
"""

from __future__ import annotations

from typing import Any

from adapter.ctgov.model import TrialRecord
from adapter.fhir_build.common import canonical_url, codeable_concept, coding, narrative, resource_key, slug
from adapter.fhir_build.parties import associated_parties
from adapter.mapping.concepts import ConceptLibrary
from adapter.mapping.model import Arm, TrialMapping
from adapter.vocabulary import CTGOV_STUDY_PAGE, CTGOV_SYSTEM

# ClinicalTrials.gov overallStatus → R5 research-study-status (progressStatus.state).
PROGRESS_STATE = {
    "NOT_YET_RECRUITING": "not-yet-recruiting",
    "RECRUITING": "recruiting",
    "ENROLLING_BY_INVITATION": "enrolling-by-invitation",
    "ACTIVE_NOT_RECRUITING": "active-but-not-recruiting",
    "SUSPENDED": "temporarily-closed-to-accrual",
    "TERMINATED": "terminated",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
}
PHASE = {
    "EARLY_PHASE1": "early-phase-1",
    "PHASE1": "phase-1",
    "PHASE2": "phase-2",
    "PHASE3": "phase-3",
    "PHASE4": "phase-4",
    "NA": "n-a",
}
PRIMARY_PURPOSE = {
    "TREATMENT": "treatment",
    "PREVENTION": "prevention",
    "DIAGNOSTIC": "diagnostic",
    "SUPPORTIVE_CARE": "supportive-care",
    "SCREENING": "screening",
    "HEALTH_SERVICES_RESEARCH": "health-services-research",
    "BASIC_SCIENCE": "basic-science",
    "DEVICE_FEASIBILITY": "device-feasibility",
}
STUDY_DESIGN = "http://hl7.org/fhir/study-design"
DESIGN_CODES = {  # SEVCO codes of the R5 study-design value set
    "INTERVENTIONAL": ("SEVCO:01001", "Interventional research"),
    "RANDOMIZED": ("SEVCO:01003", "randomized assignment"),
    "NON_RANDOMIZED": ("SEVCO:01005", "Non-randomized assignment"),
    "PARALLEL": ("SEVCO:01011", "Parallel cohort design"),
    "CROSSOVER": ("SEVCO:01012", "Crossover cohort design"),
    "PHASE2": ("SEVCO:01033", "Phase 2 trial"),
}
STUDY_STATUS = "http://hl7.org/fhir/research-study-status"
PRIMARY_PURPOSE_SYSTEM = "http://hl7.org/fhir/research-study-prim-purp-type"
PHASE_SYSTEM = "http://hl7.org/fhir/research-study-phase"
ARM_TYPE_SYSTEM = "http://hl7.org/fhir/research-study-arm-type"


def study_key(nct_id: str) -> str:
    return nct_id


def build_research_study(
    record: TrialRecord,
    mapping: TrialMapping,
    concepts: ConceptLibrary,
    organizations: list[dict[str, Any]],
    locations: list[dict[str, Any]],
) -> dict[str, Any]:
    """The R5 ResearchStudy. Element order follows the R5 definition, so the JSON reads like the spec."""
    nct = record.nct_id
    study: dict[str, Any] = {
        "resourceType": "ResearchStudy",
        "id": study_key(nct),
        "text": narrative(record.brief_title or nct, f"ClinicalTrials.gov {nct}, {record.overall_status}"),
        "url": canonical_url("ResearchStudy", nct),
        "identifier": _identifiers(record),
        "name": nct,
        "title": record.brief_title,
    }
    if record.official_title:
        study["label"] = [{"type": {"text": "official title"}, "value": record.official_title}]
    study["protocol"] = [{"reference": f"PlanDefinition/{resource_key(nct, 'protocol')}"}]
    study["relatedArtifact"] = [
        {"type": "documentation", "label": "ClinicalTrials.gov record", "resource": f"{CTGOV_STUDY_PAGE}{nct}"}
    ]
    study["status"] = "active"  # publication status of this definition, not the trial's progress
    study.update(_classification(record))
    conditions = _conditions(record, mapping, concepts)
    if conditions:
        study["condition"] = conditions
    study.update(_description(record))
    if locations:
        study["site"] = [{"reference": f"Location/{loc['id']}", "display": loc["name"]} for loc in locations]
    study["associatedParty"] = associated_parties(record, organizations)
    study["progressStatus"] = _progress(record)
    if record.why_stopped:
        study["whyStopped"] = {"text": record.why_stopped}
    study["recruitment"] = _recruitment(record)
    study["comparisonGroup"] = [_comparison_group(arm, record) for arm in mapping.arms]
    return study


def _identifiers(record: TrialRecord) -> list[dict[str, Any]]:
    identifiers: list[dict[str, Any]] = [{"use": "official", "system": CTGOV_SYSTEM, "value": record.nct_id}]
    sponsor = record.lead_sponsor.name if record.lead_sponsor else None
    if record.org_study_id:
        identifiers.append(
            {
                "use": "secondary",
                "type": {"text": "Organization study ID"},
                "value": record.org_study_id,
                **({"assigner": {"display": sponsor}} if sponsor else {}),
            }
        )
    for secondary in record.secondary_ids:
        entry: dict[str, Any] = {"use": "secondary", "value": secondary.id}
        if secondary.type or secondary.domain:
            entry["type"] = {"text": " ".join(x for x in (secondary.type, secondary.domain) if x)}
        identifiers.append(entry)
    return identifiers


def _classification(record: TrialRecord) -> dict[str, Any]:
    """primaryPurposeType, phase and studyDesign: only what the record's codes map to."""
    result: dict[str, Any] = {}
    if record.primary_purpose in PRIMARY_PURPOSE:
        result["primaryPurposeType"] = {
            "coding": [coding(PRIMARY_PURPOSE_SYSTEM, PRIMARY_PURPOSE[record.primary_purpose])]
        }
    # R5 phase is one code; a multi-phase record (PHASE1, PHASE2) says it through studyDesign only.
    if len(record.phases) == 1 and record.phases[0] in PHASE:
        result["phase"] = {"coding": [coding(PHASE_SYSTEM, PHASE[record.phases[0]])], "text": record.phases[0]}
    design = [
        DESIGN_CODES[k]
        for k in (record.study_type, record.allocation, record.intervention_model, *record.phases)
        if k in DESIGN_CODES
    ]
    if design:
        result["studyDesign"] = [{"coding": [coding(STUDY_DESIGN, code, display)]} for code, display in design]
    return result


def _conditions(record: TrialRecord, mapping: TrialMapping, concepts: ConceptLibrary) -> list[dict[str, Any]]:
    """The mapping's coded conditions first, then any condition of the record the mapping does not name."""
    conditions = []
    for condition in mapping.conditions:
        concept = concepts.conditions[condition.concept] if condition.concept else None
        coded = codeable_concept(concept) if concept else {}
        conditions.append({**({"coding": coded["coding"]} if "coding" in coded else {}), "text": condition.text})
    mapped = {c.text for c in mapping.conditions}
    conditions.extend({"text": text} for text in record.conditions if text not in mapped)
    return conditions


def _description(record: TrialRecord) -> dict[str, Any]:
    """keyword, region, descriptionSummary, description and period, each only when the record has it."""
    result: dict[str, Any] = {}
    if record.keywords:
        result["keyword"] = [{"text": k} for k in record.keywords]
    countries = sorted({loc.country for loc in record.locations if loc.country})
    if countries:
        result["region"] = [{"text": c} for c in countries]
    if record.brief_summary:
        result["descriptionSummary"] = record.brief_summary
    if record.detailed_description:
        result["description"] = record.detailed_description
    period = _period(record)
    if period:
        result["period"] = period
    return result


def _period(record: TrialRecord) -> dict[str, str]:
    return {k: v for k, v in (("start", record.start_date), ("end", record.completion_date)) if v}


def _progress(record: TrialRecord) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = []
    period = _period(record)
    if period:
        states.append(
            {
                "state": {"coding": [coding(STUDY_STATUS, "overall-study", "Overall study")]},
                "actual": True,
                "period": period,
            }
        )
    state = PROGRESS_STATE.get(record.overall_status or "")
    if state:
        states.append(
            {"state": {"coding": [coding(STUDY_STATUS, state)], "text": record.overall_status}, "actual": True}
        )
    return states


def _recruitment(record: TrialRecord) -> dict[str, Any]:
    recruitment: dict[str, Any] = {}
    if record.enrollment_count is not None:
        field = "actualNumber" if record.enrollment_type == "ACTUAL" else "targetNumber"
        recruitment[field] = record.enrollment_count
    recruitment["eligibility"] = {"reference": f"EvidenceVariable/{resource_key(record.nct_id, 'eligibility')}"}
    return recruitment


def _comparison_group(arm: Arm, record: TrialRecord) -> dict[str, Any]:
    group: dict[str, Any] = {
        "linkId": slug(arm.label),
        "name": arm.label,
        "type": {"coding": [coding(ARM_TYPE_SYSTEM, arm.type)]},
    }
    # The mapping may leave the description to the record's arm group of the same label.
    description = arm.description or next((a.description for a in record.arm_groups if a.label == arm.label), None)
    if description:
        group["description"] = description
    return group


__all__ = ["DESIGN_CODES", "PHASE", "PRIMARY_PURPOSE", "PROGRESS_STATE", "build_research_study", "study_key"]
