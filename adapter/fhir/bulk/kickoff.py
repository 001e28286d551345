"""The kick-off of an export: which parameters go (what the server declares), and how (POST or GET).

The Bulk Data IG v2 requires GET and allows POST with a FHIR `Parameters` body; STU3 and the STU4 ballot move
to POST. So: POST when the request asks for it, or (`auto`) when the server serves an export OperationDefinition
for the kick-off — it then runs `$export` as a FHIR operation, which FHIR invokes by POST — else GET. A POST
refused as a method (405, 501, or an OperationOutcome that says so) is sent once more as GET, unless it carries
`patient`, which only a POST can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter.fhir.bulk.capability import ExportSupport, export_support
from adapter.fhir.bulk.job import Refused, kick_off
from adapter.fhir.bulk.model import BulkExportError, ExportRequest
from adapter.fhir.bulk.session import Session
from adapter.fhir.client import FhirClient
from adapter.http import Deadline

NDJSON = "application/fhir+ndjson"
_TYPES = {"_since": "valueInstant", "allowPartialManifests": "valueBoolean"}  # the rest are strings


@dataclass(frozen=True, slots=True)
class Started:
    """A job the server accepted: its status URL, the method that worked, and what went with it."""

    status_url: str
    method: str  # "POST" or "GET"
    type_filters_sent: bool
    elements_sent: bool
    organize_sent: bool
    partial_sent: bool


def start(client: FhirClient, session: Session, request: ExportRequest, deadline: Deadline,
          report: Callable[[str], None]) -> Started:
    """Kick off `request`; BulkExportError if the server refuses it."""
    optional = request.type_filters or request.elements or request.organize_by_patient \
        or request.allow_partial_manifests or request.kick_off_method == "auto"
    support = export_support(client, request.kick_off_type) if optional else ExportSupport()
    sent = {name: _wanted(request, name) and support.declares(name) for name in
            ("_typeFilter", "_elements", "organizeOutputBy", "allowPartialManifests")}
    for name, sending in sent.items():
        if _wanted(request, name) and not sending:
            report(f"the server does not declare {name}; exporting without it")
    params = _params(request, sent)
    post = request.kick_off_method == "post" or bool(request.patients) or (
        request.kick_off_method == "auto" and support.served)
    method = "POST" if post else "GET"
    if post:
        try:
            status_url = kick_off(session, request.kick_off_path, [], deadline, _parameters(params, request))
        except Refused as refused:
            if request.patients:
                raise BulkExportError(refused.error.status, f"{refused.error.message} (the patient parameter "
                                      "needs a POST kick-off)", where=refused.error.where) from None
            report(f"POST kick-off refused ({refused.error.message}); sending it as GET")
            method = "GET"
    if method == "GET":
        status_url = kick_off(session, request.kick_off_path, params, deadline)
    return Started(status_url, method, sent["_typeFilter"], sent["_elements"], sent["organizeOutputBy"],
                   sent["allowPartialManifests"])


def _wanted(request: ExportRequest, name: str) -> bool:
    return bool({"_typeFilter": request.type_filters, "_elements": request.elements,
                 "organizeOutputBy": request.organize_by_patient,
                 "allowPartialManifests": request.allow_partial_manifests}[name])


def _params(request: ExportRequest, sent: dict[str, bool]) -> list[tuple[str, str]]:
    """The kick-off's parameters as (name, value) pairs, the query of a GET."""
    params = [("_outputFormat", NDJSON)]
    if request.types:
        params.append(("_type", ",".join(request.types)))
    if request.since is not None:
        params.append(("_since", request.since))
    if sent["_typeFilter"]:
        params.extend(("_typeFilter", query) for query in request.type_filters)
    if sent["_elements"]:
        params.append(("_elements", ",".join(request.elements)))
    if sent["organizeOutputBy"]:
        params.append(("organizeOutputBy", "Patient"))
    if sent["allowPartialManifests"]:
        params.append(("allowPartialManifests", "true"))
    return params


def _parameters(params: list[tuple[str, str]], request: ExportRequest) -> dict[str, Any]:
    """The same parameters as the `Parameters` body of a POST, with `patient` (which only a POST carries)."""
    parameter: list[dict[str, Any]] = []
    for name, value in params:
        kind = _TYPES.get(name, "valueString")
        parameter.append({"name": name, kind: value == "true" if kind == "valueBoolean" else value})
    parameter.extend({"name": "patient", "valueReference": {"reference": f"Patient/{ident}"}}
                     for ident in request.patients)
    return {"resourceType": "Parameters", "parameter": parameter}
