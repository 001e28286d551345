"""CDS Hooks 2.0 `patient-view` service `trial-eligibility`: discovery, the hook, the cards, feedback.

Data: the prefetch when it holds every key (a value may be a resource, a searchset Bundle or null); a null,
an OperationOutcome or a paged (incomplete) Bundle means the EHR could not give it, and then — as when the
prefetch is absent or partial — the data is pulled from `fhirServer` with `fhirAuthorization`, but only when
that server is on the allow-list. Otherwise 412. Every computable criterion is evaluated by the core; a card is
returned per trial that is not ineligible (closed trials only when configured to include them).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from adapter.eligibility.facts import PatientFacts, facts_from_bundle
from adapter.errors import AdapterError, FetchError, PatientDataError
from adapter.evaluation import evaluate_trial, observation_codes
from adapter.fhir.auth import BearerToken
from adapter.fhir.client import FhirClient
from adapter.fhir.pull import plan_for, pull_patient
from adapter.service.models import (
    Card,
    CdsRequest,
    CdsResponse,
    CdsService,
    Discovery,
    Feedback,
    Link,
    Source,
)
from adapter.service.security import AuthFailure, TokenVerifier
from adapter.service.settings import ServiceSettings
from adapter.trials import available_trials, load_trial

log = logging.getLogger("adapter.service.cds")

SERVICE_ID = "trial-eligibility"
HOOK = "patient-view"
SOURCE_LABEL = "trial-fhir-adapter"
CTGOV_STUDY = "https://clinicaltrials.gov/study/"
PATIENT = "{{context.patientId}}"
RECORD_PREFETCH = {
    "conditions": "Condition",
    "medicationStatements": "MedicationStatement",
    "medicationRequests": "MedicationRequest",
    "medicationAdministrations": "MedicationAdministration",
    "procedures": "Procedure",
    "allergies": "AllergyIntolerance",
}
SUMMARY_LIMIT = 139
SYMBOLS = {"pass": "✔", "fail": "✘", "unknown": "?", "manual": "review"}
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~"})


class CdsError(Exception):
    """A hook request answered with `status` and a short message (no patient data in it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- discovery ---------------------------------------------------------------------------------------------------


def prefetch_templates(trials: Sequence[str] | None = None) -> dict[str, str]:
    """What the engine reads, as CDS Hooks prefetch templates (also the keys a complete prefetch holds)."""
    return dict(_templates(tuple(trials if trials is not None else available_trials())))


@cache
def _templates(trials: tuple[str, ...]) -> dict[str, str]:
    codes = ",".join(observation_codes(list(trials)))
    templates = {
        "patient": f"Patient/{PATIENT}",
        "observations": f"Observation?patient={PATIENT}&code={codes}&_sort=-date&_count=200",
    }
    templates.update({key: f"{rtype}?patient={PATIENT}" for key, rtype in RECORD_PREFETCH.items()})
    return templates


def discovery() -> Discovery:
    return Discovery(services=[CdsService(
        hook=HOOK,
        id=SERVICE_ID,
        title="Clinical trial eligibility",
        description=("Checks the patient's FHIR data against the eligibility criteria of the clinical trials this "
                     "service knows, criterion by criterion, and shows a card for each trial the patient could "
                     "qualify for, with the tests that would settle what the data cannot."),
        prefetch=prefetch_templates(),
        usageRequirements="Send a JWT signed by a registered client key (ES384/RS384), aud = this service's URL.",
    )])


def prefetch_from_resources(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A complete prefetch (Patient + one searchset Bundle per template) from one patient's resources, as an EHR
    would send it. Used by tests and the benchmark; a resource type no template asks for is left out."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    patient: Mapping[str, Any] | None = None
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            patient = resource
        else:
            by_type.setdefault(str(resource.get("resourceType")), []).append(resource)

    def searchset(rtype: str) -> dict[str, Any]:
        found = by_type.get(rtype, [])
        return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]}

    prefetch: dict[str, Any] = {"patient": patient, "observations": searchset("Observation")}
    prefetch.update({key: searchset(rtype) for key, rtype in RECORD_PREFETCH.items()})
    return prefetch


# -- getting the data --------------------------------------------------------------------------------------------


def fhir_server_allowed(url: str, prefixes: Iterable[str]) -> bool:
    """`url` is under one of `prefixes`: same scheme, host and port, and the prefix path on a segment boundary."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return False
    if target.scheme not in {"http", "https"} or not target.host or target.userinfo:
        return False
    path = target.path.rstrip("/") + "/"
    for prefix in prefixes:
        allowed = httpx.URL(prefix)
        if (allowed.scheme, allowed.host, allowed.port) != (target.scheme, target.host, target.port):
            continue
        if path.startswith(allowed.path.rstrip("/") + "/"):
            return True
    return False


def _unavailable(value: Any) -> bool:
    """A prefetch value that does not hold the data: null, an OperationOutcome, or a paged Bundle."""
    if value is None:
        return True
    if not isinstance(value, dict):
        raise CdsError(400, "a prefetch value is not a FHIR resource or null")
    if value.get("resourceType") == "OperationOutcome":
        return True
    if value.get("resourceType") == "Bundle":
        links = value.get("link") or []
        return any(isinstance(link, dict) and link.get("relation") == "next" for link in links)
    return False


def _check_patient(prefetch: Mapping[str, Any], patient_id: str) -> None:
    patient = prefetch.get("patient")
    if isinstance(patient, dict) and patient.get("resourceType") == "Bundle":
        patients = [e.get("resource") for e in patient.get("entry") or [] if isinstance(e, dict)]
        patient = patients[0] if len(patients) == 1 else None
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise CdsError(400, "prefetch 'patient' is not a Patient resource")
    if patient.get("id") != patient_id:
        raise CdsError(400, "prefetch 'patient' is not the patient in context.patientId")


def _facts(data: Any, patient_id: str, source: str) -> PatientFacts:
    try:
        facts = facts_from_bundle(data)
    except PatientDataError as exc:
        raise CdsError(400, f"{source}: {exc}") from None
    if facts.patient_id != patient_id:
        raise CdsError(400, f"{source}: the Patient is not the patient in context.patientId")
    if any(" is not Patient/" in reason for _, reason in facts.foreign):
        raise CdsError(400, f"{source}: holds another patient's data; it must be context.patientId's only")
    return facts


def patient_facts(request: CdsRequest, settings: ServiceSettings) -> tuple[PatientFacts, str]:
    """The patient's facts and where they came from ("prefetch" or "fhirServer"), or CdsError (400 / 412)."""
    patient_id = request.context.patientId
    needed = list(prefetch_templates())
    prefetch = request.prefetch or {}
    for key, value in prefetch.items():
        if value is not None and not isinstance(value, dict):
            raise CdsError(400, f"prefetch {key[:40]!r} is not a FHIR resource or null")
    complete = all(key in prefetch for key in needed)
    missing: list[str] = [key for key in needed if key not in prefetch]
    if complete:
        missing = [key for key in needed if _unavailable(prefetch[key])]
        if not missing:
            _check_patient(prefetch, patient_id)
            return _facts([prefetch[key] for key in needed], patient_id, "prefetch"), "prefetch"
    if not request.fhirServer:
        raise CdsError(412, f"prefetch lacks {', '.join(missing)} and no fhirServer was given")
    if not fhir_server_allowed(request.fhirServer, settings.allowed_fhir_servers):
        raise CdsError(412, f"prefetch lacks {', '.join(missing)} and fhirServer is not on this service's allow-list")
    auth = None
    if request.fhirAuthorization is not None:
        try:
            auth = BearerToken(request.fhirAuthorization.access_token)
        except AdapterError:
            raise CdsError(400, "fhirAuthorization.access_token is not usable") from None
    try:
        with FhirClient(request.fhirServer, auth=auth, timeout=settings.fhir_timeout, retries=1) as client:
            resources = pull_patient(client, patient_id, plan_for(observation_codes(available_trials())))
    except FetchError as exc:
        status = getattr(exc, "status", None)
        log.warning("fhirServer fetch failed: %s%s", type(exc).__name__, f" HTTP {status}" if status else "")
        raise CdsError(412, f"could not get the patient's data from fhirServer ({type(exc).__name__})") from None
    except PatientDataError:
        raise CdsError(412, "fhirServer did not give the patient's data") from None
    return _facts(resources, patient_id, "fhirServer"), "fhirServer"


# -- cards -------------------------------------------------------------------------------------------------------


def md(text: Any) -> str:
    """Text from a trial record or a patient's data, safe inside Markdown (no markup, no HTML)."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def _evidence(item: Mapping[str, Any]) -> str:
    value = item.get("value")
    text = f"{value} {item['unit']}" if item.get("unit") and value is not None else str(value)
    normalized = item.get("normalized")
    if isinstance(normalized, Mapping) and normalized.get("value") is not None:
        text += f" (= {normalized['value']} {normalized.get('unit') or ''})".rstrip()
    if item.get("date"):
        text += f", {str(item['date'])[:10]}"
    if item.get("note"):
        text += f", {item['note']}"
    return md(text)


def card_summary(report: Mapping[str, Any]) -> str:
    counts = report["summary"]
    if report["verdict"] == "insufficient-data":
        n = counts.get("unknown", 0)
        what = f"{n} {'criterion needs' if n == 1 else 'criteria need'} data"
    else:
        n = counts.get("manual", 0)
        what = f"potentially eligible, {n} {'criterion' if n == 1 else 'criteria'} to review"
    summary = f"Possible trial: {report['trial']} — {what}"
    if not report.get("recruiting"):
        summary += f" (not recruiting: {report.get('overall_status') or 'UNKNOWN'})"
    return summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1] + "…"


def card_detail(report: Mapping[str, Any], title: str) -> str:
    counts = report["summary"]
    status = report.get("overall_status") or "UNKNOWN"
    lines = [
        f"**{md(title)}** ({report['trial']}, {md(status)}{'' if report.get('recruiting') else ', not recruiting'})",
        "",
        f"Evaluated on {report['as_of']}: {counts.get('pass', 0)} met ✔, {counts.get('fail', 0)} not met ✘, "
        f"{counts.get('unknown', 0)} need data ?, {counts.get('manual', 0)} to review by the team.",
    ]
    criteria = report["criteria"]
    settle: list[str] = []
    for c in criteria:
        if c["result"] != "unknown":
            continue
        wanted = c.get("missing") or []
        what = "; ".join(md(m) for m in wanted) if wanted else md(c.get("reason") or "")
        settle.append(f"- {what} — for *{md(c['id'])}*")
    if settle:
        lines += ["", "### Tests that would settle it", *settle]
    for result, heading in (("unknown", "Need data"), ("fail", "Not met"), ("manual", "To review"), ("pass", "Met")):
        group = [c for c in criteria if c["result"] == result]
        if not group:
            continue
        lines += ["", f"### {heading}"]
        for c in group:
            line = f"- {SYMBOLS[result]} **{md(c['id'])}** ({c.get('type', '')}): {md(c.get('text', ''))}"
            if c.get("reason"):
                line += f" — {md(c['reason'])}"
            evidence = [_evidence(e) for e in c.get("evidence") or []]
            if evidence:
                line += f" [{'; '.join(evidence)}]"
            lines.append(line)
    return "\n".join(lines)


def card_for(report: Mapping[str, Any], title: str) -> Card:
    nct = report["trial"]
    url = CTGOV_STUDY + nct
    return Card(
        uuid=str(uuid.uuid4()),
        summary=card_summary(report),
        indicator="warning" if report["verdict"] == "insufficient-data" else "info",
        source=Source(label=SOURCE_LABEL, url=url),
        detail=card_detail(report, title),
        links=[Link(label=f"{nct} on ClinicalTrials.gov", url=url, type="absolute")],
    )


def cards_for(facts: PatientFacts, settings: ServiceSettings) -> list[Card]:
    as_of = settings.evaluation_date()
    cards = []
    for nct in available_trials():
        trial = load_trial(nct)
        if not trial.recruiting and not settings.include_closed_trials:
            continue
        _, report = evaluate_trial(nct, facts, as_of)
        if report["verdict"] == "ineligible":
            continue
        cards.append(card_for(report, trial.record.brief_title or nct))
    return cards


# -- HTTP --------------------------------------------------------------------------------------------------------


def _error(status: int, message: str, auth: bool = False) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if auth else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def endpoint_url(request: Request, settings: ServiceSettings) -> str:
    """The URL this request was sent to, as the client must name it in `aud`."""
    path = request.url.path
    if settings.public_base_url:
        root = request.scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        return settings.public_base_url + path
    url = request.url
    return f"{url.scheme}://{url.netloc}{path}"


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CdsError(400, "the body is not JSON") from None


def _component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


OPENAPI_SCHEMAS = _component_schemas(CdsRequest, Feedback)  # merged into the app's OpenAPI components


def _body_schema(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}


def cds_router(settings: ServiceSettings, verifier: TokenVerifier | None) -> APIRouter:
    """Routes under /cds-services. `verifier` None means unauthenticated (only with allow_unauthenticated)."""
    router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])
    feedback_store: deque[dict[str, Any]] = deque(maxlen=settings.feedback_limit)
    router.feedback = feedback_store  # type: ignore[attr-defined]  # for tests and operators

    def authenticate(request: Request, audiences: list[str]) -> JSONResponse | None:
        if verifier is None:
            return None
        try:
            verifier.verify(request.headers.get("authorization"), audiences)
        except AuthFailure as failure:
            log.info("CDS auth refused: %s", failure.reason)
            return _error(401, failure.reason, auth=True)
        return None

    @router.get("", response_model=Discovery, summary="CDS Hooks discovery")
    def get_discovery() -> Discovery:
        return discovery()

    @router.post(f"/{SERVICE_ID}", response_model=CdsResponse, summary="patient-view hook",
                 openapi_extra=_body_schema("CdsRequest"), responses={400: {}, 401: {}, 412: {}, 413: {}})
    async def hook(request: Request) -> Any:
        started = time.perf_counter()
        refused = authenticate(request, [endpoint_url(request, settings)])
        if refused is not None:
            return refused
        instance = "-"
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise CdsError(400, "the body is not a JSON object")
            if body.get("hook") != HOOK:
                raise CdsError(400, f"this service answers the {HOOK} hook only")
            try:
                cds_request = CdsRequest.model_validate(body)
            except ValidationError as exc:
                fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})[:5]
                raise CdsError(400, f"invalid CDS Hooks request: {', '.join(fields)}") from None
            instance = cds_request.hookInstance[:64]
            response = await run_in_threadpool(_answer, cds_request, settings)
        except CdsError as exc:
            log.info("hook %s: %s in %.0f ms", instance, exc.status, (time.perf_counter() - started) * 1000)
            return _error(exc.status, exc.message)
        log.info("hook %s: 200, %d cards in %.0f ms", instance, len(response.cards),
                 (time.perf_counter() - started) * 1000)
        return response

    @router.post(f"/{SERVICE_ID}/feedback", summary="CDS Hooks feedback", responses={400: {}, 401: {}, 413: {}},
                 openapi_extra=_body_schema("Feedback"))
    async def feedback(request: Request) -> Any:
        service_url = endpoint_url(request, settings).removesuffix("/feedback")
        refused = authenticate(request, [endpoint_url(request, settings), service_url])
        if refused is not None:
            return refused
        try:
            body = await _json_body(request)
            try:
                parsed = Feedback.model_validate(body)
            except ValidationError:
                raise CdsError(400, "invalid CDS Hooks feedback") from None
        except CdsError as exc:
            return _error(exc.status, exc.message)
        for item in parsed.feedback:
            feedback_store.append({"received": time.time(), **item.model_dump(mode="json")})
        log.info("feedback: %d item(s)", len(parsed.feedback))
        return {}

    return router


def _answer(request: CdsRequest, settings: ServiceSettings) -> CdsResponse:
    facts, _ = patient_facts(request, settings)
    return CdsResponse(cards=cards_for(facts, settings), systemActions=[])
