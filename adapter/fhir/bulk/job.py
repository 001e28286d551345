"""The asynchronous request pattern of Bulk Data: kick-off, status polling, and deleting the job.

Polling tolerates a busy server: 429, 502, 503, 504 and connection failures that prove nothing was sent or may
pass are waited out — the server's Retry-After, else the project's backoff — until the overall poll timeout. Any
other error status is the export's failure, reported with the server's OperationOutcome text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from adapter.errors import DeadlineExceeded, FetchError, TransportError
from adapter.fhir.bulk.model import BulkExportError
from adapter.fhir.bulk.session import Session
from adapter.fhir.outcome import JSON_TYPES, server_error
from adapter.http import (
    Deadline,
    Reply,
    RetryPolicy,
    clean_text,
    join_raw,
    retry_after_seconds,
    send,
)
from adapter.http.transport import display
from adapter.jsonio import JsonInputError, parse_json
from adapter.vocabulary import FHIR_JSON

NDJSON = "application/fhir+ndjson"
MAX_MANIFEST_BYTES = 10 * 1024 * 1024
MAX_PROGRESS_CHARS = 200
_ONCE = RetryPolicy(retries=0)  # polling does its own waiting, so each poll is a single attempt
# What servers say when they refuse the method, e.g. "HTTP method POST is not supported", "Method not allowed",
# HAPI's "does not know how to handle POST operation[…]".
_METHOD_REFUSED = re.compile(r"\b(POST|method)\b.{0,80}\bnot\b.{0,20}\b(supported|allowed|implemented)\b"
                             r"|\bunsupported\b.{0,20}\b(POST|method)\b|\bhandle POST\b", re.IGNORECASE)


class Refused(Exception):
    """A POST kick-off refused as a method (405, 501, or an OperationOutcome that says so): GET may still work."""

    def __init__(self, error: BulkExportError) -> None:
        super().__init__(str(error))
        self.error = error


def kick_off(session: Session, path: str, params: Sequence[tuple[str, str]], deadline: Deadline,
             body: dict[str, Any] | None = None) -> str:
    """Start the export — GET with `params`, or POST with the `Parameters` `body` — and return the status URL
    (Content-Location) of the job. BulkExportError if it is refused; Refused for a POST refused as a method."""
    url = f"{session.base_url}/{path}"
    method = "GET" if body is None else "POST"
    where = f"{method} {display(url)}"
    headers = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
    if body is not None:
        headers["Content-Type"] = FHIR_JSON
    # The seam types params as a mapping; httpx also takes (name, value) pairs, which repeated names need.
    # A POST is retried only on answers that prove it was not processed: a second job is not started.
    try:
        reply = send(
            session.authed, method, url, params=list(params) if body is None else None,  # type: ignore[arg-type]
            content=orjson.dumps(body) if body is not None else None,
            headers=headers, policy=session.policy,
            timeout=session.timeout, deadline=within(session.deadline, deadline, where),
            max_bytes=MAX_MANIFEST_BYTES, sleep=session.sleep,
        )  # fmt: skip
    except TransportError as exc:
        raise BulkExportError(None, f"export kick-off failed: {exc.detail}", where=where) from None
    except DeadlineExceeded:
        raise _timed_out(deadline, "no answer to the kick-off", where) from None
    if reply.status != 202:
        if reply.ok:
            raise BulkExportError(reply.status, "expected 202 Accepted for an asynchronous export", where=where)
        error = server_error(reply, where)
        refused = BulkExportError(error.status, f"export refused: {error.message}", error.operation_outcome,
                                  where=where)
        if body is not None and _method_refused(reply.status, error.message):
            raise Refused(refused)
        raise refused
    location = reply.headers.get("Content-Location", "").strip()
    if not location:
        raise BulkExportError(202, "the export was accepted without a Content-Location to poll", where=where)
    return join_raw(reply.url or url, location)  # servers should send it absolute; a relative one is resolved


def _method_refused(status: int, message: str) -> bool:
    """405/501, or a 4xx whose OperationOutcome says POST (the method) is not supported or allowed."""
    return status in (405, 501) or (400 <= status < 500 and _METHOD_REFUSED.search(message) is not None)


@dataclass(frozen=True, slots=True)
class Status:
    """A status answer with a manifest: `complete` (200) or partial (202, `allowPartialManifests`); `wait` is the
    pause before asking the same URL again."""

    manifest: dict[str, Any]
    complete: bool
    wait: float


def poll(
    session: Session,
    status_url: str,
    deadline: Deadline,
    waits: tuple[float, float],
    on_progress: Callable[[str], None],
    *,
    partial: bool = False,
) -> Status:
    """Poll `status_url` until the export is complete — or, with `partial`, until a 202 carries a manifest — and
    return that manifest. BulkExportError on failure or timeout.

    `waits` is (floor, cap) of every pause, whatever Retry-After asks: `Retry-After: 0` must not make a poll loop.
    """
    where = f"GET {display(status_url)}"
    http = session.http_for(status_url)
    polls = failures = 0
    last = "no progress reported"
    while True:
        try:
            reply: Reply | None = send(
                http, "GET", status_url, headers={"Accept": FHIR_JSON}, policy=_ONCE, timeout=session.timeout,
                deadline=min(session.deadline, max(deadline.remaining(), 0.001)), max_bytes=MAX_MANIFEST_BYTES,
            )  # fmt: skip
        except TransportError as exc:
            if not exc.transient and exc.may_have_arrived:
                raise BulkExportError(None, f"status request failed: {exc.detail}", where=where) from None
            reply, last = None, f"connection failed ({exc.detail})"
        except DeadlineExceeded:
            reply, last = None, "a status request got no answer in time"
        if reply is not None and reply.status == 200:
            return Status(_manifest_json(reply, where), True, 0.0)
        if reply is not None and reply.status == 202:
            polls, failures = polls + 1, 0
            progress = clean_text(reply.headers.get("X-Progress", ""), MAX_PROGRESS_CHARS)
            if progress:
                last = progress
                on_progress(f"export in progress: {progress}")
            wait = _wait(reply, session.policy.backoff_delay(polls), waits)
            if partial and _is_partial_manifest(reply):
                return Status(_manifest_json(reply, where), False, wait)
        elif reply is None or reply.status in session.policy.retryable_statuses:
            failures += 1
            if reply is not None:
                last = f"HTTP {reply.status} while polling"
                on_progress(f"export status: HTTP {reply.status}; trying again")
            wait = _wait(reply, session.policy.backoff_delay(failures - 1), waits)
        else:
            error = server_error(reply, where)
            raise BulkExportError(error.status, f"export failed: {error.message}", error.operation_outcome, where=where)
        if wait >= deadline.remaining():
            raise _timed_out(deadline, last, where)
        session.sleep(wait)


def delete_job(session: Session, status_url: str, on_progress: Callable[[str], None]) -> None:
    """DELETE the job so the server can free its files; a failure is reported, never raised."""
    where = f"DELETE {display(status_url)}"
    try:
        reply = send(
            session.http_for(status_url), "DELETE", status_url, headers={"Accept": FHIR_JSON},
            policy=session.policy, timeout=session.timeout, deadline=session.deadline,
            max_bytes=MAX_MANIFEST_BYTES, sleep=session.sleep,
        )  # fmt: skip
    except FetchError as exc:  # a transport failure or the deadline; cleanup must not hide the export's outcome
        on_progress(f"could not delete the export job: {exc}")
        return
    if reply.ok:
        on_progress("export job deleted on the server")
    else:
        error = server_error(reply, where)
        on_progress(f"the server did not delete the export job: {error}")


def _is_partial_manifest(reply: Reply) -> bool:
    """A 202 whose JSON body is a manifest (`output` or `link`), not an OperationOutcome or nothing."""
    mime = reply.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if mime not in JSON_TYPES or not reply.body.strip():
        return False
    try:
        data = parse_json(reply.body, "the partial manifest", max_bytes=MAX_MANIFEST_BYTES)
    except JsonInputError:
        return False  # not one; an in-progress answer may carry anything
    return isinstance(data, dict) and "resourceType" not in data and ("output" in data or "link" in data)


def _manifest_json(reply: Reply, where: str) -> dict[str, Any]:
    mime = reply.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if mime and mime not in JSON_TYPES:
        raise BulkExportError(200, f"expected the export manifest as JSON, got Content-Type {mime!r}", where=where)
    try:
        data = parse_json(reply.body, "the export manifest", max_bytes=MAX_MANIFEST_BYTES)  # depth, size bounded
    except JsonInputError as exc:
        raise BulkExportError(200, clean_text(str(exc), 300), where=where) from None
    if not isinstance(data, dict):
        raise BulkExportError(200, "the export manifest is not a JSON object", where=where)
    return data


def _wait(reply: Reply | None, fallback: float, waits: tuple[float, float]) -> float:
    floor, cap = min(waits), max(waits)
    asked = retry_after_seconds(reply.headers.get("Retry-After"), cap) if reply is not None else None
    return max(asked if asked is not None else min(fallback, cap), floor)


def within(seconds: float, deadline: Deadline, where: str) -> Deadline:
    """A call's own deadline (`seconds`), cut to what remains of the export's."""
    remaining = deadline.remaining()
    if remaining <= 0:
        raise _timed_out(deadline, "out of time", where)
    return Deadline(min(seconds, remaining))


def _timed_out(deadline: Deadline, last: str, where: str) -> BulkExportError:
    return BulkExportError(None, f"export not complete within the {deadline.seconds:g}s export timeout ({last})",
                           where=where)
