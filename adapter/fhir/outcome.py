"""What a FHIR server's answers mean: the resource in a reply, the error in an OperationOutcome, batch entries.

Everything a server says ends up in a message on one terminal line, so its text goes through `clean_text`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from adapter.errors import BatchEntryError, FhirServerError
from adapter.http import NotJson, Reply, clean_text, decode_json
from adapter.vocabulary import FHIR_JSON

MAX_MESSAGE_CHARS = 500
JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})

__all__ = [
    "JSON_TYPES",
    "MAX_MESSAGE_CHARS",
    "clean_text",
    "entry_resource",
    "outcome_text",
    "parse_resource",
    "raise_unexpected",
    "server_error",
]


def parse_resource(reply: Reply, where: str) -> dict[str, Any]:
    """The FHIR resource in a 2xx reply; FhirServerError if it is not FHIR JSON."""
    status = reply.status
    content_type = reply.headers.get("Content-Type", "")
    mime = content_type.split(";")[0].strip().lower()
    if mime and mime not in JSON_TYPES:
        raise FhirServerError(
            status, f"expected FHIR JSON, got Content-Type {clean_text(content_type, 80)!r}", where=where
        )
    if not reply.body.strip():
        raise FhirServerError(status, "empty response; expected FHIR JSON", where=where)
    try:
        data = decode_json(reply.body)
    except NotJson as exc:
        raise FhirServerError(status, f"response is {exc}", where=where) from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirServerError(status, "response is JSON but not a FHIR resource (no resourceType)", where=where)
    return data


def server_error(reply: Reply, where: str) -> FhirServerError:
    """The FhirServerError for a non-2xx reply: the OperationOutcome's words, else the HTTP reason."""
    outcome = error_outcome(reply.body)
    message = outcome_text(outcome) or reply.reason or "error"
    if 300 <= reply.status < 400:
        location = reply.headers.get("Location")
        message = f"redirected to {location!r}; redirects are not followed (use the final URL as the base URL)"
    if reply.gave_up:
        message = f"{message} (gave up after {reply.attempts} attempts)"
    return FhirServerError(reply.status, message, outcome, where=where)


def error_outcome(body: bytes) -> dict[str, Any] | None:
    """The OperationOutcome in an error body, if it is one; best effort, never raises."""
    try:
        data = decode_json(body) if body.strip() else None
    except NotJson:
        return None
    if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
        return data
    return None


def outcome_text(outcome: Mapping[str, Any] | None) -> str:
    """The diagnostics (or details text) of an OperationOutcome's errors, else of all its issues."""
    if not isinstance(outcome, Mapping):
        return ""
    issues = [issue for issue in outcome.get("issue") or () if isinstance(issue, dict)]
    serious = [issue for issue in issues if issue.get("severity") in ("fatal", "error")] or issues
    texts: list[str] = []
    for issue in serious:
        text = _issue_text(issue)
        if text and text not in texts:
            texts.append(text)
    return clean_text("; ".join(texts), MAX_MESSAGE_CHARS)


def _issue_text(issue: Mapping[str, Any]) -> str:
    details: Mapping[str, Any] = issue["details"] if isinstance(issue.get("details"), dict) else {}
    codings = [c for c in details.get("coding") or () if isinstance(c, dict)]
    text = issue.get("diagnostics") or details.get("text")
    if not text and codings:
        text = codings[0].get("display") or codings[0].get("code")
    return clean_text(text, MAX_MESSAGE_CHARS) if text else ""


def raise_unexpected(resource: Mapping[str, Any], expected: str, where: str) -> NoReturn:
    """Raise for a resource that is not the `expected` one, with the server's words if it sent an outcome."""
    if resource.get("resourceType") == "OperationOutcome":
        raise FhirServerError(None, outcome_text(resource) or f"expected {expected}", dict(resource), where=where)
    got = f"{resource.get('resourceType')} of type {resource.get('type')!r}"
    raise FhirServerError(None, f"expected {expected}, got a {got}", where=where)


def entry_resource(entry: Any, index: int, relative: str) -> dict[str, Any]:
    """The resource of batch-response entry `index` (for `GET relative`); BatchEntryError if it failed."""
    where = f"batch entry {index + 1} (GET {relative})"
    if not isinstance(entry, dict):
        raise FhirServerError(None, "malformed batch-response entry", where=where)
    response: dict[str, Any] = entry["response"] if isinstance(entry.get("response"), dict) else {}
    status_text = response.get("status")
    match = re.match(r"\s*(\d{3})\b", status_text) if isinstance(status_text, str) else None
    status = int(match[1]) if match else None
    resource: dict[str, Any] | None = entry["resource"] if isinstance(entry.get("resource"), dict) else None
    if status is None or not 200 <= status < 300:
        outcome = response.get("outcome")
        if not (isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome"):
            outcome = resource if resource is not None and resource.get("resourceType") == "OperationOutcome" else None
        fallback = clean_text(status_text, MAX_MESSAGE_CHARS) if status_text else "no response.status"
        raise BatchEntryError(status, outcome_text(outcome) or fallback, outcome, where=where)
    if resource is None:
        raise FhirServerError(status, "batch entry has no resource", where=where)
    return resource
