"""The asynchronous request pattern of Bulk Data: kick-off, status polling, and deleting the job.

Polling tolerates a busy server: 429, 502, 503, 504 and connection failures that prove nothing was sent or may
pass are waited out — the server's Retry-After, else the project's backoff — until the overall poll timeout. Any
other error status is the export's failure, reported with the server's OperationOutcome text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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


def kick_off(session: Session, path: str, params: Sequence[tuple[str, str]], deadline: Deadline) -> str:
    """Start the export; the status URL (Content-Location) of the job. BulkExportError if it is refused."""
    url = f"{session.base_url}/{path}"
    where = f"GET {display(url)}"
    # The seam types params as a mapping; httpx also takes (name, value) pairs, which repeated names need.
    try:
        reply = send(
            session.authed, "GET", url, params=list(params),  # type: ignore[arg-type]
            headers={"Accept": FHIR_JSON, "Prefer": "respond-async"}, policy=session.policy,
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
        raise BulkExportError(error.status, f"export refused: {error.message}", error.operation_outcome, where=where)
    location = reply.headers.get("Content-Location", "").strip()
    if not location:
        raise BulkExportError(202, "the export was accepted without a Content-Location to poll", where=where)
    return join_raw(reply.url or url, location)  # servers should send it absolute; a relative one is resolved


def poll(
    session: Session,
    status_url: str,
    deadline: Deadline,
    waits: tuple[float, float],
    on_progress: Callable[[str], None],
) -> dict[str, Any]:
    """Poll `status_url` until the export is complete; the manifest JSON. BulkExportError on failure or timeout.

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
            return _manifest_json(reply, where)
        if reply is not None and reply.status == 202:
            polls, failures = polls + 1, 0
            progress = clean_text(reply.headers.get("X-Progress", ""), MAX_PROGRESS_CHARS)
            if progress:
                last = progress
                on_progress(f"export in progress: {progress}")
            wait = _wait(reply, session.policy.backoff_delay(polls), waits)
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
