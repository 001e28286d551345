"""Trial (record + mapping) → R5 ResearchStudy, PlanDefinition, ActivityDefinition, Organization, Location,
CodeSystem and EvidenceVariable. Pure: data in, resources (plain dicts) out.

Resources carry `id` = a stable key and reference each other as `Type/key`; the Bundle builder turns those
into urn:uuid entries with conditional requests.
"""

from __future__ import annotations

from typing import Any

from adapter.ctgov.record import TrialRecord
from adapter.fhir_build.common import (
    CTGOV_SYSTEM,
    DERIVED_CODE_SYSTEM,
    SNOMED,
    business_identifier,
    canonical_url,
    codeable_concept,
    coding,
    narrative,
    number,
    quantity,
    resource_key,
    slug,
    value_range,
)
from adapter.fhir_build.evidence_variable import build_evidence_variable
from adapter.mapping.concepts import ConceptLibrary
from adapter.mapping.model import Arm, Dose, Intervention, TrialMapping
from adapter.trials import Trial

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
ORAL_ROUTE = {"coding": [coding(SNOMED, "26643006", "Oral route")], "text": "oral"}
TIMING_CODES = {"qd": ("QD", 1), "bid": ("BID", 2)}
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"


def study_key(nct_id: str) -> str:
    return nct_id


def build_r5_resources(trial: Trial) -> list[dict[str, Any]]:
    """All R5 resources of one trial, ResearchStudy first."""
    record, mapping, concepts = trial.record, trial.mapping, trial.concepts
    organizations = _organizations(record)
    locations = _locations(record)
    evidence_variable = build_evidence_variable(mapping, concepts, record.brief_title or record.nct_id)
    evidence_variable["id"] = resource_key(record.nct_id, "eligibility")
    activities = _activity_definitions(mapping)
    plan = _plan_definition(record, mapping, activities)
    study = _research_study(record, mapping, concepts, organizations, locations)
    return [
        study,
        evidence_variable,
        plan,
        *activities.values(),
        *organizations,
        *locations,
        derived_code_system(concepts),
    ]


def _research_study(
    record: TrialRecord,
    mapping: TrialMapping,
    concepts: ConceptLibrary,
    organizations: list[dict[str, Any]],
    locations: list[dict[str, Any]],
) -> dict[str, Any]:
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
        {
            "type": "documentation",
            "label": "ClinicalTrials.gov record",
            "resource": f"https://clinicaltrials.gov/study/{nct}",
        }
    ]
    study["status"] = "active"  # publication status of this definition, not the trial's progress
    if record.primary_purpose in PRIMARY_PURPOSE:
        study["primaryPurposeType"] = {
            "coding": [
                coding("http://hl7.org/fhir/research-study-prim-purp-type", PRIMARY_PURPOSE[record.primary_purpose])
            ]
        }
    if len(record.phases) == 1 and record.phases[0] in PHASE:
        study["phase"] = {
            "coding": [coding("http://hl7.org/fhir/research-study-phase", PHASE[record.phases[0]])],
            "text": record.phases[0],
        }
    design = [
        DESIGN_CODES[k]
        for k in (record.study_type, record.allocation, record.intervention_model, *record.phases)
        if k in DESIGN_CODES
    ]
    if design:
        study["studyDesign"] = [{"coding": [coding(STUDY_DESIGN, code, display)]} for code, display in design]
    conditions = []
    for condition in mapping.conditions:
        concept = concepts.conditions[condition.concept] if condition.concept else None
        coded = codeable_concept(concept) if concept else {}
        conditions.append({**({"coding": coded["coding"]} if "coding" in coded else {}), "text": condition.text})
    for text in record.conditions:
        if text not in {c.text for c in mapping.conditions}:
            conditions.append({"text": text})
    if conditions:
        study["condition"] = conditions
    if record.keywords:
        study["keyword"] = [{"text": k} for k in record.keywords]
    countries = sorted({loc.country for loc in record.locations if loc.country})
    if countries:
        study["region"] = [{"text": c} for c in countries]
    if record.brief_summary:
        study["descriptionSummary"] = record.brief_summary
    if record.detailed_description:
        study["description"] = record.detailed_description
    period = {k: v for k, v in (("start", record.start_date), ("end", record.completion_date)) if v}
    if period:
        study["period"] = period
    if locations:
        study["site"] = [{"reference": f"Location/{loc['id']}", "display": loc["name"]} for loc in locations]
    study["associatedParty"] = _associated_parties(record, organizations)
    study["progressStatus"] = _progress(record)
    if record.why_stopped:
        study["whyStopped"] = {"text": record.why_stopped}
    recruitment: dict[str, Any] = {}
    if record.enrollment_count is not None:
        field = "actualNumber" if record.enrollment_type == "ACTUAL" else "targetNumber"
        recruitment[field] = record.enrollment_count
    recruitment["eligibility"] = {"reference": f"EvidenceVariable/{resource_key(nct, 'eligibility')}"}
    study["recruitment"] = recruitment
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


def _progress(record: TrialRecord) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = []
    period = {k: v for k, v in (("start", record.start_date), ("end", record.completion_date)) if v}
    if period:
        states.append(
            {
                "state": {
                    "coding": [coding("http://hl7.org/fhir/research-study-status", "overall-study", "Overall study")]
                },
                "actual": True,
                "period": period,
            }
        )
    state = PROGRESS_STATE.get(record.overall_status or "")
    if state:
        states.append(
            {
                "state": {
                    "coding": [coding("http://hl7.org/fhir/research-study-status", state)],
                    "text": record.overall_status,
                },
                "actual": True,
            }
        )
    return states


def _associated_parties(record: TrialRecord, organizations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    role_system = "http://hl7.org/fhir/research-study-party-role"
    parties: list[dict[str, Any]] = []
    if record.lead_sponsor:
        parties.append(
            {
                "name": record.lead_sponsor.name,
                "role": {"coding": [coding(role_system, "lead-sponsor")]},
                "party": {"reference": f"Organization/{organizations[0]['id']}"},
            }
        )
    for collaborator in record.collaborators:
        parties.append({"name": collaborator.name, "role": {"coding": [coding(role_system, "collaborator")]}})
    responsible = record.responsible_party
    if responsible and responsible.name and responsible.type == "PRINCIPAL_INVESTIGATOR":
        parties.append({"name": responsible.name, "role": {"coding": [coding(role_system, "primary-investigator")]}})
    return parties


def _organizations(record: TrialRecord) -> list[dict[str, Any]]:
    if not record.lead_sponsor:
        return []
    key = f"organization-{slug(record.lead_sponsor.name)}"
    return [
        {
            "resourceType": "Organization",
            "id": key,
            "text": narrative(record.lead_sponsor.name),
            "identifier": [business_identifier(key)],
            "active": True,
            "name": record.lead_sponsor.name,
        }
    ]


def _locations(record: TrialRecord) -> list[dict[str, Any]]:
    locations = []
    for loc in record.locations:
        if not loc.facility:
            continue
        key = f"location-{slug(loc.facility)}"
        address = {
            k: v
            for k, v in (("city", loc.city), ("state", loc.state), ("postalCode", loc.zip), ("country", loc.country))
            if v
        }
        locations.append(
            {
                "resourceType": "Location",
                "id": key,
                "text": narrative(loc.facility),
                "identifier": [business_identifier(key)],
                "status": "active",
                "name": loc.facility,
                **({"address": address} if address else {}),
            }
        )
    return locations


def _comparison_group(arm: Arm, record: TrialRecord) -> dict[str, Any]:
    group: dict[str, Any] = {
        "linkId": slug(arm.label),
        "name": arm.label,
        "type": {"coding": [coding("http://hl7.org/fhir/research-study-arm-type", arm.type)]},
    }
    description = arm.description or next((a.description for a in record.arm_groups if a.label == arm.label), None)
    if description:
        group["description"] = description
    return group


def _dose(dose: Dose) -> dict[str, Any]:
    if dose.value is not None:
        return {"doseQuantity": quantity(dose.value, dose.unit)}
    return {"doseRange": value_range(dose.low, dose.high, dose.unit)}


def _dosage(item: Intervention) -> dict[str, Any]:
    parts = [item.name]
    timing: dict[str, Any] = {}
    if item.dose:
        parts.append(f"{_dose_text(item.dose)}")
    if item.route == "oral":
        parts.append("po")
    if item.frequency:
        gts, per_day = TIMING_CODES[item.frequency]
        timing["repeat"] = {"frequency": per_day, "period": 1, "periodUnit": "d"}
        timing["code"] = {"coding": [coding(GTS, gts)], "text": item.frequency}
        parts.append(item.frequency)
    if item.cycle:
        first, last = item.cycle.days[0], item.cycle.days[-1]
        parts.append(f"d{first}" if first == last else f"d{first}-{last}")
        parts.append(f"of a {item.cycle.length_days}-day cycle")
        if item.frequency and last > first:
            timing["repeat"]["boundsDuration"] = {
                "value": last - first + 1,
                "unit": "days",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            }
        elif not item.frequency:
            timing["repeat"] = {"count": 1}
    dosage: dict[str, Any] = {"sequence": 1, "text": " ".join(parts)}
    if timing:
        dosage["timing"] = timing
    if item.route == "oral":
        dosage["route"] = ORAL_ROUTE
    if item.dose:
        dosage["doseAndRate"] = [_dose(item.dose)]
    return dosage


def _dose_text(dose: Dose) -> str:
    amount = f"{dose.value}" if dose.value is not None else f"{dose.low}-{dose.high}"
    return f"{amount} {dose.unit}"


def _activity_definitions(mapping: TrialMapping) -> dict[str, dict[str, Any]]:
    activities: dict[str, dict[str, Any]] = {}
    for arm in mapping.arms:
        for item in arm.interventions:
            key = resource_key(mapping.trial, item.id)
            if key in activities:
                continue
            activity: dict[str, Any] = {
                "resourceType": "ActivityDefinition",
                "id": key,
                "text": narrative(f"{mapping.trial}: {item.name}"),
                "url": canonical_url("ActivityDefinition", key),
                "identifier": [business_identifier(key)],
                "name": slug(item.id).replace("-", "_").title().replace("_", ""),
                "title": item.name,
                "status": "active",
            }
            description = " ".join(
                x for x in (item.dose_adjustment, f"Until {item.until}." if item.until else None) if x
            )
            if description:
                activity["description"] = description
            if item.kind == "medication":
                activity["kind"] = "MedicationRequest"
                activity["intent"] = "proposal"
                activity["productCodeableConcept"] = {"text": item.product or item.name}
                activity["dosage"] = [_dosage(item)]
            else:
                activity.update(_radiotherapy(item))
            activities[key] = activity
    return activities


def _radiotherapy(item: Intervention) -> dict[str, Any]:
    assert item.total_dose is not None and item.fractions is not None
    dose_text = _dose_text(item.total_dose)
    fractions = f"{item.fractions.low}-{item.fractions.high}"
    return {
        "kind": "ServiceRequest",
        "intent": "proposal",
        "code": {"text": "Radiotherapy"},
        "dosage": [
            {
                "sequence": 1,
                "text": f"{item.name}: total {dose_text} in {fractions} fractions",
                "timing": {"repeat": {"count": item.fractions.low, "countMax": item.fractions.high}},
                "doseAndRate": [
                    {
                        "type": {"text": "total dose of the course"},
                        "doseRange": value_range(item.total_dose.low, item.total_dose.high, item.total_dose.unit),
                    }
                ],
            }
        ],
    }


def _plan_definition(
    record: TrialRecord, mapping: TrialMapping, activities: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    key = resource_key(record.nct_id, "protocol")
    actions = []
    for arm in mapping.arms:
        sub_actions = []
        for item in arm.interventions:
            activity = activities[resource_key(mapping.trial, item.id)]
            sub: dict[str, Any] = {"linkId": item.id, "title": item.name, "definitionCanonical": activity["url"]}
            if item.cycle:
                sub["timingTiming"] = {"repeat": {"frequency": 1, "period": item.cycle.length_days, "periodUnit": "d"}}
                sub["description"] = f"Cycle of {item.cycle.length_days} days"
            sub_actions.append(sub)
        action: dict[str, Any] = {"linkId": slug(arm.label), "title": arm.label}
        if arm.description:
            action["description"] = arm.description
        action["groupingBehavior"] = "logical-group"
        action["selectionBehavior"] = "all" if arm.selection == "all" else "any"
        action["action"] = sub_actions
        actions.append(action)
    return {
        "resourceType": "PlanDefinition",
        "id": key,
        "text": narrative(f"Protocol of {record.nct_id}"),
        "url": canonical_url("PlanDefinition", key),
        "identifier": [business_identifier(key)],
        "name": f"{record.nct_id}Protocol",
        "title": f"Protocol of {record.nct_id}: {record.brief_title}",
        "type": {
            "coding": [
                coding(
                    "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                    "clinical-protocol",
                    "Clinical Protocol",
                )
            ]
        },
        "status": "active",
        "description": "Arms of the trial, one action per arm; the arm's interventions are its sub-actions.",
        "action": [
            {
                "linkId": "randomization",
                "title": "Randomized arms",
                "groupingBehavior": "logical-group",
                "selectionBehavior": "exactly-one",
                "action": actions,
            }
        ],
    }


def derived_code_system(concepts: ConceptLibrary) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": "derived-measure",
        "text": narrative("Derived measures"),
        "url": DERIVED_CODE_SYSTEM,
        "identifier": [business_identifier("derived-measure")],
        "name": "DerivedMeasure",
        "title": "Measures computed from other data by trial-fhir-adapter",
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "concept": [
            {
                "code": code,
                "display": d.display,
                "definition": f"{d.display} computed by the {d.formula} formula, in {d.unit}.",
            }
            for code, d in concepts.derived.items()
        ],
    }


__all__ = ["build_r5_resources", "derived_code_system", "number"]
