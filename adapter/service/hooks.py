"""CDS Hooks 2.0 routes under /cds-services: discovery, the `patient-view` hook, feedback.

Every POST needs a valid client JWT (unless the service runs unauthenticated for a demo). The hook's work runs
in a worker thread; a card is returned per trial that is not ineligible (closed trials only when configured).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from adapter.errors import PatientDataError
from adapter.limits import TooManyResources
from adapter.service.discovery import HOOK, SERVICE_ID, discovery_document
from adapter.service.models import CdsRequest, CdsResponse, Discovery, Feedback
from adapter.service.patient_data import CdsError, patient_record
from adapter.service.pool import PoolFull, WorkPool
from adapter.service.security import AuthFailure, TokenVerifier
from adapter.service.settings import ServiceSettings
from adapter.service.state import FeedbackStore, FeedbackTooLarge, StateUnavailable, open_state_for

if TYPE_CHECKING:
    from adapter.core import Eligibility

log = logging.getLogger("adapter.service.cds")
T = TypeVar("T")


@dataclass(frozen=True)
class HookSetup:
    """What every hook request shares, computed once at start-up."""

    eligibility: Eligibility  # the core, with the terminology server when there is one
    templates: dict[str, str]
    observation_codes: tuple[str, ...]


class HookPool(WorkPool):
    """At most `size` hooks worked on at once, in threads of their own, so that hooks stuck on a slow fhirServer
    can neither queue without bound nor take the threads that sync endpoints (health, the REST API) and the
    token checks run in (adapter.service.pool); a full pool answers 503 + Retry-After at once."""

    def __init__(self, size: int, retry_after: int = 5) -> None:
        super().__init__(size, retry_after, name="hook")

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        try:
            return await super().run(func, *args)
        except PoolFull as full:
            raise CdsError(503, "service busy, retry later", headers={"Retry-After": str(full.retry_after)}) from None


def loggable(text: str, limit: int = 64) -> str:
    """Request-supplied text made safe for one log line: control characters escaped, length bounded."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])


def _error(status: int, message: str, auth: bool = False) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if auth else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _unavailable(busy: StateUnavailable) -> JSONResponse:
    return JSONResponse({"error": "service busy, retry later"}, status_code=503,
                        headers={"Retry-After": str(busy.retry_after)})


def endpoint_url(request: Request, settings: ServiceSettings) -> str:
    """The URL of this endpoint, as the client must name it in `aud` — from configuration, never from the
    request's Host header (a token for evil.example sent with `Host: evil.example` must not pass): the public
    base URL, else the URL the service was started on (`bind_url`), else the server socket's own address."""
    path = request.url.path
    if settings.public_base_url:
        root = request.scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        return settings.public_base_url + path
    if settings.bind_url:
        return settings.bind_url + path
    scheme = request.scope.get("scheme") or "http"
    host, port = request.scope.get("server") or ("127.0.0.1", None)
    host = f"[{host}]" if ":" in str(host) else str(host)
    netloc = host if port in (None, {"http": 80, "https": 443}.get(scheme)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


async def _json_body(request: Request) -> Any:
    from adapter.jsonio import parse_json

    body = await request.body()
    try:  # off the event loop: a 5 MB body takes tens of milliseconds to parse and check
        return await run_in_threadpool(parse_json, body, "the body")
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
    from adapter.render.cards import cards

    record, source = patient_record(request, settings, list(setup.templates), setup.observation_codes)
    eligibility = setup.eligibility
    trials = eligibility.trials(recruiting_only=not settings.include_closed_trials)
    try:
        result = eligibility.evaluate(record, trials, settings.evaluation_date())
    except TooManyResources as exc:
        raise CdsError(413, f"{source}: {exc}") from None
    except PatientDataError as exc:
        raise CdsError(400, f"{source}: {exc}") from None
    if any(" is not Patient/" in reason for _, reason in result.facts.foreign):
        raise CdsError(400, f"{source}: holds another patient's data; it must be context.patientId's only")
    return CdsResponse(cards=cards(list(result), include_closed=settings.include_closed_trials), systemActions=[])


def cds_router(settings: ServiceSettings, verifier: TokenVerifier | None, setup: HookSetup, *,
               feedback_store: FeedbackStore | None = None) -> APIRouter:
    """Routes under /cds-services. `verifier` None means unauthenticated (only with allow_unauthenticated);
    `feedback_store` None: the one the settings name (adapter.service.state)."""
    router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])
    store = feedback_store if feedback_store is not None else open_state_for(settings).feedback
    router.feedback = store  # type: ignore[attr-defined]  # for tests and operators
    document = discovery_document(setup.templates)

    async def authenticate(request: Request, audiences: list[str]) -> JSONResponse | None:
        if verifier is None:
            return None
        try:  # in a thread: the replay store may wait on SQLite or Redis, a key rotation on the EHR's JWKS URL
            await run_in_threadpool(verifier.verify, request.headers.get("authorization"), audiences)
        except AuthFailure as failure:
            log.info("CDS auth refused: %s", failure.reason)
            return _error(401, failure.reason, auth=True)
        except StateUnavailable as busy:  # full replay store: refuse new tokens rather than forget live ones
            log.warning("CDS auth deferred: %s", busy.message)
            return _unavailable(busy)
        return None

    pool = HookPool(settings.hook_concurrency, settings.hook_retry_after)  # own threads, not the default pool

    @router.get("", response_model=Discovery, summary="CDS Hooks discovery")
    def get_discovery() -> Discovery:
        return document

    @router.post(f"/{SERVICE_ID}", response_model=CdsResponse, summary="patient-view hook",
                 openapi_extra=_body_schema("CdsRequest"), responses={400: {}, 401: {}, 412: {}, 413: {}})
    async def hook(request: Request) -> Any:
        refused = await authenticate(request, [endpoint_url(request, settings)])
        if refused is not None:
            return refused
        instance = "-"
        try:
            cds_request = _parse_hook_request(await _json_body(request))
            instance = loggable(cds_request.hookInstance)
            response = await pool.run(answer, cds_request, settings, setup)
        except CdsError as exc:  # status and timing: the access line (app.py); here what only the hook knows
            log.info("hook %s: refused with %s", instance, exc.status)
            return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)
        log.info("hook %s: 200, %d cards", instance, len(response.cards))
        return response

    @router.post(f"/{SERVICE_ID}/feedback", summary="CDS Hooks feedback",
                 responses={400: {}, 401: {}, 413: {}, 503: {}}, openapi_extra=_body_schema("Feedback"))
    async def feedback(request: Request) -> Any:
        service_url = endpoint_url(request, settings).removesuffix("/feedback")
        refused = await authenticate(request, [endpoint_url(request, settings), service_url])
        if refused is not None:
            return refused
        try:
            body = await _json_body(request)
            try:
                parsed = Feedback.model_validate(body)
            except ValidationError:
                raise CdsError(400, "invalid CDS Hooks feedback") from None
            await run_in_threadpool(store.add, [item.model_dump(mode="json") for item in parsed.feedback])
        except CdsError as exc:
            return _error(exc.status, exc.message)
        except FeedbackTooLarge as exc:  # refused whole, so that the store's byte bound keeps many small items
            return _error(413, str(exc))
        except StateUnavailable as busy:
            return _unavailable(busy)
        log.info("feedback: %d item(s)", len(parsed.feedback))
        return {}

    return router
