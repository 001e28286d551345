"""`create_app(settings, catalog)`: the FastAPI application — CDS Hooks routes, REST API, body size limit, error bodies.

Errors: under `/cds-services` a JSON `{"error": "..."}`; elsewhere a FHIR OperationOutcome. Nothing from a
request body is logged (ids, statuses and timings only).
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter import __version__
from adapter.core import Eligibility
from adapter.evaluation import observation_codes
from adapter.service.api import ApiError, api_router, api_token_ok, operation_outcome
from adapter.service.discovery import prefetch_templates
from adapter.service.hooks import OPENAPI_SCHEMAS, HookSetup, cds_router, loggable
from adapter.service.security import TokenVerifier
from adapter.service.settings import ServiceSettings
from adapter.vocabulary import LOINC, UCUM

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog

log = logging.getLogger("adapter.service")
CDS_PREFIX = "/cds-services"


def _error(path: str, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    if path.startswith(CDS_PREFIX):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return operation_outcome(status, message, headers)


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413: at once from Content-Length, else while reading."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                await _error(path, 400, "bad Content-Length")(scope, receive, send)
                return
            if too_large:
                await _error(path, 413, f"request body larger than {self.limit} bytes")(scope, receive, send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _error(path, 413, f"request body larger than {self.limit} bytes")(scope, receive, send)


access_log = logging.getLogger("adapter.service.access")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def quiet_http_client_logs() -> None:
    """httpx logs every request URL at INFO (`GET …/Observation?patient=…`), httpcore at DEBUG: patient ids."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/trials/{nct}/$evaluate`), never the raw path with its ids."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(no route)"


class AccessLog:
    """One structured line per request: method, path template, status, duration — nothing request-supplied
    beyond the (escaped) method, no ids, no query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escapes is answered 500 outside

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            access_log.info("method=%s path=%s status=%d ms=%.1f", loggable(str(scope.get("method", "")), 16),
                            route_template(scope), status, (time.perf_counter() - started) * 1000)


class DocsGuard:
    """/docs, /redoc and /openapi.json need the REST API token when one is set (settings.api_token)."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in DOCS_PATHS:
            authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not api_token_ok(self.settings, authorization):
                refusal = operation_outcome(401, "this API needs Authorization: Bearer <API token>",
                                            {"WWW-Authenticate": "Bearer"})
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _lab(code: str, value: float, unit: str, high: float | None = None) -> dict[str, Any]:
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    observation: dict[str, Any] = {
        "resourceType": "Observation", "id": f"warm-{code}", "status": "final",
        "subject": {"reference": "Patient/warm-up"}, "effectiveDateTime": "2000-01-01T00:00:00Z",
        "code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": quantity}
    if high is not None:
        observation["referenceRange"] = [{"high": {**quantity, "value": high}}]
    return observation


def warm_up(eligibility: Eligibility) -> None:
    """Evaluate a synthetic patient once, so that the first real request does not pay for parsing units."""
    resources = [{"resourceType": "Patient", "id": "warm-up", "gender": "male", "birthDate": "1950-01-01"},
                 _lab("718-7", 13.0, "g/dL"), _lab("777-3", 200, "10*3/uL"), _lab("751-8", 4.0, "10*3/uL"),
                 _lab("2160-0", 0.9, "mg/dL", 1.3), _lab("1742-6", 30, "U/L", 40), _lab("1975-2", 0.7, "mg/dL", 1.2),
                 _lab("29463-7", 70, "kg"), _lab("2345-7", 98, "mg/dL")]
    # Without the terminology server: a warm-up must not ask it about a synthetic patient.
    Eligibility(eligibility.catalog).evaluate(resources, as_of=date(2000, 1, 2))


def create_app(settings: ServiceSettings, catalog: TrialCatalog, *, warm: bool = True) -> FastAPI:
    """The service over `catalog`. Trials, their criteria and the discovery document are loaded here, once."""
    terminology = None
    if settings.terminology_server:  # widen the value sets once; a failing server leaves them as they are
        from adapter.terminology import Terminology

        terminology = Terminology.open(settings.terminology_server)
    eligibility = Eligibility(catalog, terminology=terminology)  # the one core both surfaces call
    catalog = eligibility.catalog
    trials = catalog.all()  # parses and checks every mapping now, not on the first request
    setup = HookSetup(eligibility, prefetch_templates(trials), tuple(observation_codes(trials)))
    if warm:
        warm_up(eligibility)
    from adapter.service.state import open_state_for

    state = open_state_for(settings)  # replay memory and feedback: memory, SQLite in state_dir, or Redis
    if settings.allow_unauthenticated:
        verifier = None
        log.warning("!!! CDS Hooks authentication is OFF (--allow-unauthenticated): any caller can post patient "
                    "data and get answers. Use this for local demos only. !!!")
    else:
        verifier = TokenVerifier(settings.trusted_clients, leeway=settings.jwt_leeway,
                                 max_lifetime=settings.max_token_lifetime, replay=state.replay,
                                 jwks_urls=settings.jwks_urls, refresh_interval=settings.jwks_refresh_interval)
        if not settings.trusted_clients:
            log.warning("no trusted CDS client configured: every hook request will be refused (401)")
    app = FastAPI(
        title="trial-fhir-adapter",
        version=__version__,
        description="CDS Hooks 2.0 `patient-view` service for clinical-trial eligibility, and a REST API over the "
                    "same engine. The REST API is meant to run behind the hospital's API gateway.",
    )
    app.state.settings = settings
    app.state.catalog = catalog
    cds = cds_router(settings, verifier, setup, feedback_store=state.feedback)
    app.state.feedback = state.feedback  # a FeedbackStore: `recent(limit)` for tests and operators
    app.state.verifier = verifier
    app.include_router(cds)
    app.include_router(api_router(settings, eligibility))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
        return _error(request.url.path, exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error(request.url.path, 422, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(request.url.path, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s on %s %s", type(exc).__name__, loggable(request.method, 16),
                  route_template(request.scope))
        return _error(request.url.path, 500, "internal error")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(OPENAPI_SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.api_token is not None:  # the API's description is part of the API: same token
        app.add_middleware(DocsGuard, settings=settings)
    app.add_middleware(AccessLog)  # outermost: one line for every request, 413s and 401s included
    quiet_http_client_logs()
    return app
