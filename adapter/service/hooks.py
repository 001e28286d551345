"""CDS Hooks 2.0 routes under /cds-services: discovery, the `patient-view` hook, feedback.

Every POST needs a valid client JWT (unless the service runs unauthenticated for a demo). The hook's work runs
in a worker thread; a card is returned per trial that is not ineligible (closed trials only when configured).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from adapter.errors import PatientDataError
from adapter.service.discovery import HOOK, SERVICE_ID, discovery_document
from adapter.service.models import CdsRequest, CdsResponse, Discovery, Feedback
from adapter.service.patient_data import CdsError, patient_facts
from adapter.service.security import AuthFailure, TokenVerifier
from adapter.service.settings import ServiceSettings

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog

log = logging.getLogger("adapter.service.cds")


@dataclass(frozen=True)
class HookSetup:
    """What every hook request shares, computed once at start-up."""

    catalog: TrialCatalog
    templates: dict[str, str]
    observation_codes: tuple[str, ...]


def loggable(text: str, limit: int = 64) -> str:
    """Request-supplied text made safe for one log line: control characters escaped, length bounded."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])


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
    from adapter.jsonio import parse_json

    body = await request.body()
    try:
        return parse_json(body, "the body")
    except PatientDataError as exc:
        raise CdsError(400, str(exc)) from None


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


def _parse_hook_request(body: Any) -> CdsRequest:
    if not isinstance(body, dict):
        raise CdsError(400, "the body is not a JSON object")
    if body.get("hook") != HOOK:
        raise CdsError(400, f"this service answers the {HOOK} hook only")
    try:
        return CdsRequest.model_validate(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})[:5]
        raise CdsError(400, f"invalid CDS Hooks request: {', '.join(loggable(f, 40) for f in fields)}") from None


def answer(request: CdsRequest, settings: ServiceSettings, setup: HookSetup) -> CdsResponse:
    """The cards for one hook request (pure apart from a possible fhirServer pull)."""
    from adapter.evaluation import evaluate_trial
    from adapter.render.cards import cards

    catalog = setup.catalog
    facts, _ = patient_facts(request, settings, list(setup.templates), setup.observation_codes, catalog.units)
    as_of = settings.evaluation_date()
    evaluations = [evaluate_trial(trial, facts, as_of) for trial in catalog.all()
                   if trial.recruiting or settings.include_closed_trials]
    return CdsResponse(cards=cards(evaluations, include_closed=settings.include_closed_trials), systemActions=[])


def cds_router(settings: ServiceSettings, verifier: TokenVerifier | None, setup: HookSetup) -> APIRouter:
    """Routes under /cds-services. `verifier` None means unauthenticated (only with allow_unauthenticated)."""
    router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])
    feedback_store: deque[dict[str, Any]] = deque(maxlen=settings.feedback_limit)
    router.feedback = feedback_store  # type: ignore[attr-defined]  # for tests and operators
    document = discovery_document(setup.templates)

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
        return document

    @router.post(f"/{SERVICE_ID}", response_model=CdsResponse, summary="patient-view hook",
                 openapi_extra=_body_schema("CdsRequest"), responses={400: {}, 401: {}, 412: {}, 413: {}})
    async def hook(request: Request) -> Any:
        started = time.perf_counter()
        refused = authenticate(request, [endpoint_url(request, settings)])
        if refused is not None:
            return refused
        instance = "-"
        try:
            cds_request = _parse_hook_request(await _json_body(request))
            instance = loggable(cds_request.hookInstance)
            response = await run_in_threadpool(answer, cds_request, settings, setup)
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
