"""Mapping → the trial's protocol: one ActivityDefinition per intervention and the PlanDefinition of its arms.

Pure: a TrialMapping (and the record's id and title) in, plain dicts out. Doses, routes and timing come
from the reviewed mapping, never from the record's free text.
"""

from __future__ import annotations

from typing import Any

from adapter.ctgov.model import TrialRecord
from adapter.fhir_build.common import (
    business_identifier,
    canonical_url,
    coding,
    days,
    narrative,
    quantity,
    resource_key,
    slug,
    value_range,
)
from adapter.mapping.model import Dose, Intervention, TrialMapping
from adapter.vocabulary import SNOMED

ORAL_ROUTE = {"coding": [coding(SNOMED, "26643006", "Oral route")], "text": "oral"}
TIMING_CODES = {"qd": ("QD", 1), "bid": ("BID", 2)}
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
PLAN_DEFINITION_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"


def activity_definitions(mapping: TrialMapping) -> dict[str, dict[str, Any]]:
    """ActivityDefinitions by key; an intervention given in several arms is defined once."""
    activities: dict[str, dict[str, Any]] = {}
    for arm in mapping.arms:
        for item in arm.interventions:
            key = resource_key(mapping.trial, item.id)
            if key not in activities:
                activities[key] = _activity_definition(mapping.trial, key, item)
    return activities


def _activity_definition(trial: str, key: str, item: Intervention) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "resourceType": "ActivityDefinition",
        "id": key,
        "text": narrative(f"{trial}: {item.name}"),
        "url": canonical_url("ActivityDefinition", key),
        "identifier": [business_identifier(key)],
        "name": slug(item.id).replace("-", "_").title().replace("_", ""),
        "title": item.name,
        "status": "active",
    }
    description = " ".join(x for x in (item.dose_adjustment, f"Until {item.until}." if item.until else None) if x)
    if description:
        activity["description"] = description
    if item.kind == "medication":
        activity["kind"] = "MedicationRequest"
        activity["intent"] = "proposal"
        activity["productCodeableConcept"] = {"text": item.product or item.name}
        activity["dosage"] = [dosage(item)]
    else:
        activity.update(_radiotherapy(item))
    return activity


def _dose(dose: Dose) -> dict[str, Any]:
    if dose.value is not None:
        return {"doseQuantity": quantity(dose.value, dose.unit)}
    return {"doseRange": value_range(dose.low, dose.high, dose.unit)}


def _dose_text(dose: Dose) -> str:
    amount = f"{dose.value}" if dose.value is not None else f"{dose.low}-{dose.high}"
    return f"{amount} {dose.unit}"


def dosage(item: Intervention) -> dict[str, Any]:
    """The Dosage of a medication, with a text in the trial's own shorthand ("apatinib 500 mg po qd")."""
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
            timing["repeat"]["boundsDuration"] = days(last - first + 1)
        elif not item.frequency:
            timing["repeat"] = {"count": 1}  # one dose per cycle
    result: dict[str, Any] = {"sequence": 1, "text": " ".join(parts)}
    if timing:
        result["timing"] = timing
    if item.route == "oral":
        result["route"] = ORAL_ROUTE
    if item.dose:
        result["doseAndRate"] = [_dose(item.dose)]
    return result


def _radiotherapy(item: Intervention) -> dict[str, Any]:
    # The mapping model guarantees both for a radiotherapy intervention.
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


def plan_definition(
    record: TrialRecord, mapping: TrialMapping, activities: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The protocol: a randomisation action choosing exactly one arm; each arm's interventions are sub-actions."""
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
        "type": {"coding": [coding(PLAN_DEFINITION_TYPE, "clinical-protocol", "Clinical Protocol")]},
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


__all__ = ["activity_definitions", "dosage", "plan_definition"]
