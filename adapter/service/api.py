"""REST API: health, the trials, a trial as FHIR, and `$evaluate` of a patient Bundle. Errors are FHIR
OperationOutcomes with the matching status.

Not protected by the CDS client JWT: it is meant to run behind the hospital's API gateway. When
`TRIAL_ADAPTER_API_TOKEN` is set, every endpoint here but `/healthz` needs `Authorization: Bearer <that token>`.
"""

from __future__ import annotations

import hmac
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapter.catalog import Trial, TrialCatalog
from adapter.core import Eligibility
from adapter.errors import AdapterError, PatientDataError, UnknownTrialError
from adapter.fhir_build import build_bundle
from adapter.jsonio import parse_json
from adapter.limits import TooManyResources
from adapter.patients import PatientRecord
from adapter.render.report import report_json
from adapter.service.pool import PoolFull, WorkPool
from adapter.service.settings import ServiceSettings

FHIR_JSON = "application/fhir+json"
ISSUE_CODES = {400: "invalid", 401: "security", 403: "forbidden", 404: "not-found", 405: "not-supported",
               413: "too-long", 415: "invalid", 422: "invalid", 500: "exception", 503: "transient"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers  # e.g. Retry-After on a 503


def operation_outcome(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": ISSUE_CODES.get(status, "processing"), "diagnostics": message}]}
    return JSONResponse(outcome, status_code=status, media_type=FHIR_JSON, headers=headers)


class TrialSummary(BaseModel):
    id: str
    title: str
    status: str
    recruiting: bool
    draft: bool  # a drafted mapping no clinician has reviewed: its verdicts are provisional


class Health(BaseModel):
    status: str


_OUTCOME = {"description": "OperationOutcome", "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
_FHIR = {"description": "FHIR resource", "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
_PATIENT_EXAMPLE = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-05-01"}},
    {"resource": {"resourceType": "Observation", "id": "hb", "status": "final", "subject": {"reference": "Patient/p1"},
                  "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                  "effectiveDateTime": "2026-10-27T08:00:00Z",
                  "valueQuantity": {"value": 12.1, "unit": "g/dL", "system": "http://unitsofmeasure.org",
                                    "code": "g/dL"}}}]}
_BODY_SCHEMA = {"type": "object", "example": _PATIENT_EXAMPLE}
_EVALUATE_BODY = {"requestBody": {"required": True, "description": "The patient's data: a FHIR Bundle (R4 or R5), "
                  "a resource, or a list of them", "content": {"application/json": {"schema": _BODY_SCHEMA},
                                                                FHIR_JSON: {"schema": _BODY_SCHEMA}}}}
Nct = Annotated[str, Path(description="ClinicalTrials.gov id", examples=["NCT03320629", "NCT03787251"])]


def api_token_ok(settings: ServiceSettings, authorization: str | None) -> bool:
    """No API token configured, or `Authorization: Bearer <that token>` (compared in constant time)."""
    if settings.api_token is None:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.api_token.encode())


def api_router(settings: ServiceSettings, eligibility: Eligibility) -> APIRouter:
    def token_check(request: Request) -> None:
        if not api_token_ok(settings, request.headers.get("authorization")):
            raise ApiError(401, "this API needs Authorization: Bearer <API token>")

    catalog = eligibility.catalog
    router = APIRouter(tags=["REST API"])
    # `$evaluate` bounded like the hooks (own threads, 503 + Retry-After when full), in a pool of its own so
    # that neither surface can starve the other.
    pool = WorkPool(settings.hook_concurrency, settings.hook_retry_after, name="$evaluate")
    guarded = APIRouter(tags=["REST API"], dependencies=[Depends(token_check)],
                        responses={401: _OUTCOME, 404: _OUTCOME, 422: _OUTCOME})

    @router.get("/healthz", response_model=Health, summary="liveness")
    def healthz() -> Health:
        return Health(status="ok")

    @guarded.get("/trials", response_model=list[TrialSummary], summary="the trials this service evaluates")
    def trials() -> list[TrialSummary]:
        return [TrialSummary(id=trial.nct_id, title=trial.title, status=trial.record.overall_status or "UNKNOWN",
                             recruiting=trial.recruiting, draft=trial.draft) for trial in catalog.all()]

    @guarded.get("/trials/{nct}", summary="the trial as a FHIR transaction Bundle", response_class=JSONResponse,
                 responses={200: _FHIR})
    def trial_bundle(nct: Nct, fhirVersion: Annotated[Literal["R4", "R5"], Query()] = "R5") -> JSONResponse:
        bundle = build_bundle(_trial(catalog, nct), fhirVersion)
        return JSONResponse(bundle, media_type=FHIR_JSON)

    @guarded.post("/trials/{nct}/$evaluate", summary="evaluate a patient's FHIR data against the trial",
                  openapi_extra=_EVALUATE_BODY, responses={200: {"description": "the eligibility report"},
                                                           400: _OUTCOME, 413: _OUTCOME, 503: _OUTCOME})
    async def evaluate(request: Request, nct: Nct,
                       asOf: Annotated[date | None, Query(description="evaluation date, default: today")] = None,
                       ) -> JSONResponse:
        trial = _trial(catalog, nct)
        body = await request.body()  # bounded by the BodyLimit middleware
        as_of = asOf or settings.evaluation_date()

        def run() -> dict[str, Any]:  # parsing included: nothing CPU-bound on the event loop
            try:
                result = eligibility.evaluate(PatientRecord(parse_json(body, "the body")), [trial], as_of)
            except TooManyResources as exc:
                raise ApiError(413, str(exc)) from None
            except PatientDataError as exc:
                raise ApiError(400, str(exc)) from None
            return report_json(result[trial.nct_id])

        try:
            return JSONResponse(await pool.run(run))
        except PoolFull as full:
            raise ApiError(503, "service busy, retry later", {"Retry-After": str(full.retry_after)}) from None

    router.include_router(guarded)
    return router


def _trial(catalog: TrialCatalog, nct: str) -> Trial:
    try:
        return catalog.get(nct)
    except UnknownTrialError:
        raise ApiError(404, f"unknown trial {nct[:40]!r}") from None
    except AdapterError as exc:  # a broken mapping on the server side
        raise ApiError(500, f"trial {nct} cannot be loaded ({type(exc).__name__})") from None
