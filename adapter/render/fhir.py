"""A TrialEvaluation as FHIR R5: a ResearchSubject (candidate / ineligible) and the criteria as Parameters.

Returned as a `collection` Bundle so the two travel together; the Parameters' `subject` part points at the
ResearchSubject. Every criterion keeps its id, type, result, reason, source text, codes and evidence.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapter.evaluation import TrialEvaluation
from adapter.fhir_build.common import narrative, stable_uuid
from adapter.render.report import DRAFT_NOTE
from adapter.vocabulary import CTGOV_SYSTEM, split_token

SUBJECT_STATE = "http://terminology.hl7.org/CodeSystem/research-subject-state"
STATE_FOR_VERDICT = {"ineligible": "ineligible", "insufficient-data": "candidate", "potentially-eligible": "candidate"}


def _coding(value: str) -> dict[str, str]:
    system, code = split_token(value)
    return {"system": system, "code": code}


def _evidence_part(reference: str, value: Decimal | str | None, unit: str | None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"name": "reference", "valueReference": {"reference": reference}}]
    if isinstance(value, Decimal):
        parts.append({"name": "value", "valueQuantity": {"value": float(value), **({"unit": unit} if unit else {})}})
    elif value is not None:
        parts.append({"name": "value", "valueString": str(value)})
    return {"name": "evidence", "part": parts}


def _subject(result: TrialEvaluation) -> dict[str, Any]:
    evaluation, trial = result.evaluation, result.nct_id
    state = STATE_FOR_VERDICT[evaluation.verdict]
    return {
        "resourceType": "ResearchSubject",
        "text": narrative(f"{evaluation.patient} for {trial}: {evaluation.verdict} on {evaluation.as_of}"
                          + (f" ({DRAFT_NOTE})" if result.draft else "")),
        "status": "active",
        "progress": [
            {
                "subjectState": {"coding": [{"system": SUBJECT_STATE, "code": state}], "text": evaluation.verdict},
                "reason": {"text": f"Eligibility pre-screening by trial-fhir-adapter"
                                   f"{f' on a {DRAFT_NOTE}' if result.draft else ''}: {evaluation.verdict}"},
                "startDate": evaluation.as_of.isoformat(),
            }
        ],
        "study": {"identifier": {"system": CTGOV_SYSTEM, "value": trial}, "display": trial},
        "subject": {"reference": evaluation.patient},
    }


def evaluation_bundle(result: TrialEvaluation) -> dict[str, Any]:
    evaluation, trial = result.evaluation, result.nct_id
    key = f"{trial}/{evaluation.patient}/{evaluation.as_of.isoformat()}"
    subject_url = stable_uuid("ResearchSubject", key)
    review = dict(result.needs_review)
    criteria = []
    for c in evaluation.criteria:
        parts: list[dict[str, Any]] = [
            {"name": "id", "valueString": c.id},
            {"name": "type", "valueCode": c.type},
            {"name": "result", "valueCode": c.result},
            {"name": "text", "valueString": c.text},
            {"name": "reason", "valueString": c.reason},
            *({"name": "code", "valueCoding": _coding(t)} for t in c.codes),
            *(_evidence_part(e.reference, e.value, e.unit) for e in c.evidence),
            *([{"name": "needsReview", "valueString": review[c.id]}] if c.id in review else []),
        ]
        criteria.append({"name": "criterion", "part": parts})
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueReference": {"reference": subject_url}},
            {"name": "trial", "valueString": trial},
            {"name": "asOf", "valueDate": evaluation.as_of.isoformat()},
            {"name": "verdict", "valueCode": evaluation.verdict},
            # Only for drafts (a reviewed trial's Parameters stay as they were): the verdict is provisional.
            *([{"name": "draft", "valueBoolean": True}] if result.draft else []),
            *criteria,
        ],
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": subject_url, "resource": _subject(result)},
            {"fullUrl": stable_uuid("Parameters", key), "resource": parameters},
        ],
    }
