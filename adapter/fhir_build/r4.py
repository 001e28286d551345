"""R5 trial resources → R4, for the servers and EHRs that speak R4. Pure.

What R4 can say natively is said natively (ResearchStudy.status/arm/enrollment/sponsor, EvidenceVariable
characteristics with coded definitions, an enrollment Group). What only R5 can say (recruitment
numbers and eligibility link, progress states, study design, and the computable definition of each
criterion) travels in the standard cross-version extensions
`http://hl7.org/fhir/5.0/StructureDefinition/extension-<Resource>.<element>`, so an R5-aware reader loses
nothing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from adapter.fhir_build.common import business_identifier, narrative, resource_key
from adapter.fhir_build.definitions import FHIR_VERSIONS, R5_COMBINATION_EXTENSION
from adapter.vocabulary import SNOMED

XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
THO = "http://terminology.hl7.org/CodeSystem/"
# ClinicalTrials.gov overallStatus → R4 ResearchStudy.status (TERMINATED has no R4 code of its own;
# administratively-completed, "completed prematurely", is the nearest).
R4_STATUS = {
    "NOT_YET_RECRUITING": "approved",
    "RECRUITING": "active",
    "ENROLLING_BY_INVITATION": "active",
    "ACTIVE_NOT_RECRUITING": "closed-to-accrual",
    "SUSPENDED": "temporarily-closed-to-accrual",
    "TERMINATED": "administratively-completed",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
}
R5_TO_R4_SYSTEM = {
    "http://hl7.org/fhir/research-study-phase": f"{THO}research-study-phase",
    "http://hl7.org/fhir/research-study-prim-purp-type": f"{THO}research-study-prim-purp-type",
    "http://hl7.org/fhir/research-study-arm-type": f"{THO}research-study-arm-type",
}
# value[x] type of each R5 element we carry in complex extensions (the rest are backbone elements).
ELEMENT_TYPES = {
    "linkId": "Id",
    "description": "Markdown",
    "exclude": "Boolean",
    "type": "CodeableConcept",
    "offset": "CodeableConcept",
    "code": "Code",
    "threshold": "PositiveInt",
    "range": "Range",
    "quantity": "Quantity",
    "eventCodeableConcept": "CodeableConcept",
    "eventId": "Id",
    "actualNumber": "UnsignedInt",
    "targetNumber": "UnsignedInt",
    "eligibility": "Reference",
    "state": "CodeableConcept",
    "actual": "Boolean",
    "period": "Period",
}
BACKBONES = {"definitionByTypeAndValue", "definitionByCombination", "characteristic", "timeFromEvent"}


def to_complex_extension(url: str, element: dict[str, Any]) -> dict[str, Any]:
    """An R5 backbone element as a complex extension: one sub-extension per child element."""
    children: list[dict[str, Any]] = []
    for name, value in element.items():
        for item in value if isinstance(value, list) else [value]:
            if name in BACKBONES:
                children.append(to_complex_extension(name, item))
            elif name == "note":
                children.append({"url": "note", "valueAnnotation": item})
            elif name.startswith("value"):  # value[x] keeps its type
                children.append({"url": "value", name: item})
            elif name.startswith("event"):
                children.append({"url": "event", f"value{ELEMENT_TYPES[name]}": item})
            else:
                children.append({"url": name, f"value{ELEMENT_TYPES[name]}": item})
    return {"url": url, "extension": children}


def _recode(concept: dict[str, Any]) -> dict[str, Any]:
    concept = copy.deepcopy(concept)
    for c in concept.get("coding", []):
        c["system"] = R5_TO_R4_SYSTEM.get(c["system"], c["system"])
    return concept


def _r4_state(state: dict[str, Any]) -> dict[str, Any]:
    """R4's research-study-status lacks some R5 states (terminated, overall-study): those keep their text only."""
    concept = state["state"]
    codes = [c for c in concept.get("coding", []) if c.get("code") in R4_STATUS.values()]
    text = concept.get("text") or next((c.get("display") or c["code"] for c in concept.get("coding", [])), None)
    r4_concept = {**({"coding": codes} if codes else {}), **({"text": text} if text else {})}
    return {**state, "state": r4_concept}


def _r5_only_extensions(study: dict[str, Any]) -> list[dict[str, Any]]:
    """Cross-version extensions for what R4 ResearchStudy cannot say: recruitment, progress, study design."""
    extensions: list[dict[str, Any]] = []
    recruitment = dict(study.get("recruitment", {}))
    if recruitment:
        extensions.append(to_complex_extension(f"{XVER}ResearchStudy.recruitment", recruitment))
    for state in study.get("progressStatus", []):
        extensions.append(to_complex_extension(f"{XVER}ResearchStudy.progressStatus", _r4_state(state)))
    for design in study.get("studyDesign", []):
        extensions.append({"url": f"{XVER}ResearchStudy.studyDesign", "valueCodeableConcept": design})
    return extensions


def _sponsor_and_investigator(parties: list[dict[str, Any]]) -> dict[str, Any]:
    """R4 has two fixed roles where R5 lists associated parties: sponsor and principalInvestigator."""
    result: dict[str, Any] = {}
    for party in parties:
        role = party["role"]["coding"][0]["code"]
        if role == "lead-sponsor" and "party" in party:
            result["sponsor"] = {**party["party"], "display": party["name"]}
        elif role == "primary-investigator":
            result["principalInvestigator"] = {"display": party["name"]}
    return result


# A drafted trial's R5 resources have publication status `draft`. R4's ResearchStudy.status is the trial's progress
# (ResearchStudyStatus: no draft) and its Group has no status, so those two carry the publication status as a tag,
# a code of the publication-status CodeSystem itself (http://hl7.org/fhir/R4/codesystem-publication-status.html),
# beside the draft note in their narratives.
DRAFT_TAG = {"system": "http://hl7.org/fhir/publication-status", "code": "draft", "display": "Draft"}


def _draft_meta(resource: dict[str, Any], draft: bool) -> dict[str, Any]:
    """`resource` with meta.tag `draft` placed after its id (FHIR's element order) when `draft`."""
    if not draft:
        return resource
    head: dict[str, Any] = {k: resource[k] for k in ("resourceType", "id") if k in resource}
    return {**head, "meta": {"tag": [DRAFT_TAG]}, **{k: v for k, v in resource.items() if k not in head}}


def research_study(study: dict[str, Any], overall_status: str | None, group_key: str) -> dict[str, Any]:
    r4: dict[str, Any] = {k: study[k] for k in ("resourceType", "id", "text") if k in study}
    r4 = _draft_meta(r4, study.get("status") == "draft")
    extensions = _r5_only_extensions(study)
    if extensions:
        r4["extension"] = extensions
    r4["identifier"] = study["identifier"]
    r4["title"] = study.get("title")
    r4["protocol"] = study.get("protocol", [])
    r4["status"] = R4_STATUS.get(overall_status or "", "active")
    for field in ("primaryPurposeType", "phase"):
        if field in study:
            r4[field] = _recode(study[field])
    if "condition" in study:
        r4["condition"] = study["condition"]
    r4["relatedArtifact"] = [
        {"type": a["type"], "label": a.get("label"), "url": a["resource"]} for a in study.get("relatedArtifact", [])
    ]
    if "keyword" in study:
        r4["keyword"] = study["keyword"]
    if "region" in study:
        r4["location"] = study["region"]
    description = "\n\n".join(x for x in (study.get("descriptionSummary"), study.get("description")) if x)
    if description:
        r4["description"] = description
    r4["enrollment"] = [{"reference": f"Group/{group_key}"}]
    if "period" in study:
        r4["period"] = study["period"]
    r4.update(_sponsor_and_investigator(study.get("associatedParty", [])))
    if "site" in study:
        r4["site"] = study["site"]
    if "whyStopped" in study:
        r4["reasonStopped"] = study["whyStopped"]
    if "note" in study:  # a draft's note ("draft mapping, not clinically reviewed")
        r4["note"] = study["note"]
    r4["arm"] = [
        {
            "name": g["name"],
            "type": _recode(g["type"]),
            **({"description": g["description"]} if "description" in g else {}),
        }
        for g in study.get("comparisonGroup", [])
    ]
    return {k: v for k, v in r4.items() if v is not None}


def _r4_characteristic(characteristic: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    # The project's own extensions (record-entry reading) are defined for EvidenceVariable.characteristic in R4
    # as in R5: they stay where they are.
    extensions: list[dict[str, Any]] = copy.deepcopy(characteristic.get("extension", []))
    if "linkId" in characteristic:
        extensions.append({"url": f"{XVER}EvidenceVariable.characteristic.linkId", "valueId": characteristic["linkId"]})
    for note in characteristic.get("note", []):
        extensions.append({"url": f"{XVER}EvidenceVariable.characteristic.note", "valueAnnotation": note})
    if "definitionByTypeAndValue" in characteristic:
        extensions.append(
            to_complex_extension(
                f"{XVER}EvidenceVariable.characteristic.definitionByTypeAndValue",
                characteristic["definitionByTypeAndValue"],
            )
        )
    for window in characteristic.get("timeFromEvent", []):
        extensions.append(to_complex_extension(f"{XVER}EvidenceVariable.characteristic.timeFromEvent", window))
    if "definitionByCombination" in characteristic:
        # The official validator cannot build the cross-version definition of definitionByCombination (its
        # nested characteristic is recursive), so the R5 combination travels verbatim as JSON in our own
        # extension, defined by the StructureDefinition published with the trials.
        extensions.append(
            {
                "url": R5_COMBINATION_EXTENSION,
                "valueString": json.dumps(characteristic["definitionByCombination"], ensure_ascii=False),
            }
        )
    if extensions:
        result["extension"] = extensions
    if characteristic.get("description"):
        result["description"] = characteristic["description"]
    # R4 requires a definition[x]: the observation code, or the coded item (diagnosis, drug…) when the type
    # is a record-entry category; the threshold itself is in the definitionByTypeAndValue extension.
    by_type = characteristic.get("definitionByTypeAndValue")
    if by_type:
        result["definitionCodeableConcept"] = (
            by_type.get("valueCodeableConcept")
            if by_type["type"].get("coding", [{}])[0].get("system") == SNOMED and "valueCodeableConcept" in by_type
            else by_type["type"]
        )
    else:
        result["definitionCodeableConcept"] = {"text": characteristic.get("description") or "See extension"}
    result["exclude"] = characteristic.get("exclude", False)
    return result


def evidence_variable(variable: dict[str, Any]) -> dict[str, Any]:
    r4 = {k: v for k, v in variable.items() if k not in ("characteristic", "actual")}
    r4["characteristic"] = [_r4_characteristic(c) for c in variable["characteristic"]]
    return r4


def enrollment_group(study: dict[str, Any], variable: dict[str, Any], nct_id: str) -> dict[str, Any]:
    """R4's enrollment Group: the criteria a Group can state (single type-and-value, no ULN, no window)."""
    key = resource_key(nct_id, "enrollment")
    characteristics = []
    for criterion in variable["characteristic"]:
        by_type = criterion.get("definitionByTypeAndValue")
        if not by_type or "offset" in by_type:
            continue
        value_key = next(k for k in by_type if k.startswith("value"))
        characteristics.append(
            {"code": by_type["type"], value_key: by_type[value_key], "exclude": criterion.get("exclude", False)}
        )
    return _draft_meta({
        "resourceType": "Group",
        "id": key,
        "text": narrative(
            f"Patients eligible for {nct_id}. The criteria a Group can state are listed here; "
            f"the complete computable criteria are in EvidenceVariable {variable['url']}."
        ),
        "identifier": [business_identifier(key)],
        "type": "person",
        "actual": False,
        "name": f"Eligible population of {nct_id}",
        "characteristic": characteristics,
    }, variable.get("status") == "draft")


def plan_definition(plan: dict[str, Any]) -> dict[str, Any]:
    def action(a: dict[str, Any]) -> dict[str, Any]:
        converted = {k: v for k, v in a.items() if k not in ("linkId", "action")}
        if "action" in a:
            converted["action"] = [action(sub) for sub in a["action"]]
        return converted

    r4 = {k: v for k, v in plan.items() if k != "action"}
    r4["action"] = [action(a) for a in plan.get("action", [])]
    return r4


def to_r4(resources: list[dict[str, Any]], overall_status: str | None, nct_id: str) -> list[dict[str, Any]]:
    by_type = {r["resourceType"]: r for r in resources}
    group = enrollment_group(by_type["ResearchStudy"], by_type["EvidenceVariable"], nct_id)
    converted: list[dict[str, Any]] = []
    for resource in resources:
        kind = resource["resourceType"]
        if kind == "ResearchStudy":
            converted.append(research_study(resource, overall_status, group["id"]))
        elif kind == "EvidenceVariable":
            converted.append(evidence_variable(resource))
        elif kind == "PlanDefinition":
            converted.append(plan_definition(resource))
        elif kind == "StructureDefinition":  # the project's own extensions: the same definition, for R4
            converted.append({**copy.deepcopy(resource), "fhirVersion": FHIR_VERSIONS["R4"]})
        else:
            converted.append(copy.deepcopy(resource))
    converted.insert(2, group)
    return converted
