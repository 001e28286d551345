"""A hook's patient data: from the prefetch when every key is there and complete, else from an allowed fhirServer.

Completeness is judged per key. A search key's value must be a searchset Bundle that holds all its matches:
null, an OperationOutcome, something that is not a Bundle, a `next` link, or fewer match entries than its
`total` mean the EHR could not give it — and a missing medication list could otherwise pass an exclusion.
When the only gap is paging (a long history: `next` links), the pages are followed on `fhirServer` with the
project's FHIR client — only under an allowed prefix, only to next links under `fhirServer` — and the rest of
the prefetch is kept. Any other gap, or next links elsewhere, and the data is pulled from `fhirServer` whole
(only under an allowed prefix); without one the answer is 412.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from adapter.errors import AdapterError, FetchError, PatientDataError
from adapter.patients import PAGED, PatientRecord, check_prefetch_patient, prefetch_gap
from adapter.service.models import CdsRequest

if TYPE_CHECKING:
    from adapter.fhir.client import FhirClient
    from adapter.service.settings import ServiceSettings

log = logging.getLogger("adapter.service.cds")


class CdsError(Exception):
    """A hook request answered with `status` and a short message (no patient data in it)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers  # e.g. Retry-After on a 503


def fhir_server_allowed(url: str, prefixes: Iterable[str]) -> bool:
    """`url` is under one of `prefixes`, by the project's one URL policy (raw path, no encoded dot segments)."""
    from adapter.http.urls import is_under

    return any(is_under(prefix, url) for prefix in prefixes)


def unavailable_reason(key: str, value: Any) -> str | None:
    """Why a prefetch value does not hold the data, or None when it does (`adapter.patients.prefetch_gap`)."""
    try:
        return prefetch_gap(key, value)
    except PatientDataError as exc:
        raise CdsError(400, str(exc)) from None


def _check_patient(prefetch: Mapping[str, Any], patient_id: str) -> None:
    try:
        check_prefetch_patient(prefetch, patient_id)
    except PatientDataError as exc:
        raise CdsError(400, str(exc)) from None


def patient_record(request: CdsRequest, settings: ServiceSettings, keys: Sequence[str],
                   observation_codes: Sequence[str]) -> tuple[PatientRecord, str]:
    """The patient's data and where it came from ("prefetch", "prefetch+pages" or "fhirServer"), or CdsError
    (400 / 412). The data is read into facts by the core (`adapter.core.Eligibility`)."""
    patient_id = request.context.patientId
    prefetch = request.prefetch or {}
    for key, value in prefetch.items():
        if value is not None and not isinstance(value, dict):
            raise CdsError(400, f"prefetch {key[:40]!r} is not a FHIR resource or null")
    missing = [key for key in keys if key not in prefetch]
    if not missing:
        reasons = {key: unavailable_reason(key, prefetch[key]) for key in keys}
        missing = [key for key, reason in reasons.items() if reason is not None]
        if not missing:
            _check_patient(prefetch, patient_id)
            return PatientRecord([prefetch[key] for key in keys], patient_id, "prefetch"), "prefetch"
        if all(reasons[key] == PAGED for key in missing) and _server_allowed(request, settings):
            _check_patient(prefetch, patient_id)
            completed = _follow_pages(request, settings, {key: prefetch[key] for key in missing})
            if completed is not None:  # None: next links elsewhere than fhirServer; pulled whole below
                data = [completed.get(key, prefetch[key]) for key in keys]
                return PatientRecord(data, patient_id, "prefetch"), "prefetch+pages"
    what = f"prefetch lacks {', '.join(missing)}"
    if not request.fhirServer:
        raise CdsError(412, f"{what} and no fhirServer was given")
    if not fhir_server_allowed(request.fhirServer, settings.allowed_fhir_servers):
        raise CdsError(412, f"{what} and fhirServer is not on this service's allow-list")
    resources = _pull(request, settings, patient_id, observation_codes)
    return PatientRecord(resources, patient_id, "fhirServer"), "fhirServer"


def _server_allowed(request: CdsRequest, settings: ServiceSettings) -> bool:
    return bool(request.fhirServer) and fhir_server_allowed(request.fhirServer or "", settings.allowed_fhir_servers)


def _client(request: CdsRequest, settings: ServiceSettings) -> FhirClient:
    """The FHIR client for `fhirServer`, with `fhirAuthorization` as bearer, under one wall-clock deadline for
    everything it does (every request, retry, pause and page): a server that trickles its answer cannot hold the
    hook — and a worker thread — longer than `hook_deadline`."""
    from adapter.fhir.auth import BearerToken
    from adapter.fhir.client import FhirClient
    from adapter.http.retry import Deadline

    auth = None
    if request.fhirAuthorization is not None:
        try:
            auth = BearerToken(request.fhirAuthorization.access_token)
        except AdapterError:
            raise CdsError(400, "fhirAuthorization.access_token is not usable") from None
    deadline = Deadline(settings.hook_deadline)
    return FhirClient(request.fhirServer or "", auth=auth, timeout=min(settings.fhir_timeout, settings.hook_deadline),
                      retries=1, deadline=deadline)  # type: ignore[arg-type]  # a shared Deadline


def _follow_pages(request: CdsRequest, settings: ServiceSettings,
                  paged: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Each paged prefetch Bundle with the matches of all its next pages, as one searchset Bundle; None when a
    next link leads outside `fhirServer` (never followed: the token is only ever sent there)."""
    from adapter.errors import ForeignLinkError
    from adapter.fhir.paging import checked_link, link, start_url

    completed: dict[str, dict[str, Any]] = {}
    try:
        with _client(request, settings) as client:
            for key, bundle in paged.items():  # every first next link checked before any page is fetched
                checked_link(client.base_url, link(bundle, "next"), start_url(client.base_url, bundle), key)
            for key, bundle in paged.items():
                matches = list(client.follow_pages(bundle))
                completed[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                                  "entry": [{"resource": r, "search": {"mode": "match"}} for r in matches]}
    except ForeignLinkError:
        log.info("prefetch next links lead outside fhirServer: pulling from fhirServer instead")
        return None
    except FetchError as exc:
        status = getattr(exc, "status", None)
        log.warning("prefetch paging failed: %s%s", type(exc).__name__, f" HTTP {status}" if status else "")
        raise CdsError(412, f"could not follow the prefetch's pages on fhirServer ({type(exc).__name__})") from None
    except AdapterError as exc:  # e.g. an unusable fhirServer URL
        raise CdsError(412, f"fhirServer cannot be used ({type(exc).__name__})") from None
    return completed


def _pull(request: CdsRequest, settings: ServiceSettings, patient_id: str,
          observation_codes: Sequence[str]) -> list[dict[str, Any]]:
    from adapter.fhir.pull import plan_for, pull_patient

    try:
        with _client(request, settings) as client:
            return pull_patient(client, patient_id, plan_for(observation_codes))
    except FetchError as exc:
        status = getattr(exc, "status", None)
        log.warning("fhirServer fetch failed: %s%s", type(exc).__name__, f" HTTP {status}" if status else "")
        raise CdsError(412, f"could not get the patient's data from fhirServer ({type(exc).__name__})") from None
    except PatientDataError:
        raise CdsError(412, "fhirServer did not give the patient's data") from None
    except AdapterError as exc:  # e.g. an unusable fhirServer URL
        raise CdsError(412, f"fhirServer cannot be used ({type(exc).__name__})") from None
