"""Downloading one export file to disk: streamed, resumed with `Range` after a dropped connection.

A server that answers a ranged request with 206 has the rest appended; one that answers 200 (it ignores Range)
has the file written again from the start. Files are asked for without content encoding, so that the byte
count on disk is the offset the server's Range means. If a server encodes anyway, a broken file is restarted
rather than resumed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import httpx

from adapter.fhir.bulk.model import BulkExportError
from adapter.fhir.bulk.session import Session
from adapter.fhir.outcome import server_error
from adapter.http import Reply, read_capped, retry_after_seconds
from adapter.http.transport import MAX_ERROR_BODY_BYTES, display

NDJSON = "application/fhir+ndjson"
# A JSON (not NDJSON) answer means the server sent the Binary resource, or an error, instead of the file.
_NOT_NDJSON = frozenset({"application/fhir+json", "application/json", "application/json+fhir", "text/html"})
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", re.IGNORECASE)


class _Broken(Exception):
    """The connection failed; `detail` says how."""

    def __init__(self, detail: str, retry_after: str | None = None, *, resumable: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.resumable = resumable  # False: the body was content-encoded, so byte offsets mean nothing


def download(session: Session, url: str, target: Path, *, credentials: bool, on_progress: Callable[[str], None]) -> int:
    """Stream `url` into `target` (created or overwritten); the number of bytes written.

    Credentials go along only when `credentials` is set and `url` is under the FHIR base. Failed connections
    and retryable statuses are tried again under the client's retry policy (progress resets the count).
    """
    where = f"GET {display(url)}"
    http = session.http_for(url, credentials=credentials)
    failures = 0
    with target.open("wb") as out:
        while True:
            before = out.tell()
            try:
                _attempt(http, url, out, where, session.timeout, on_progress)
                return out.tell()
            except _Broken as broken:
                failures = 0 if out.tell() > before else failures + 1
                if failures > session.policy.retries:
                    raise BulkExportError(
                        None, f"download failed: {broken.detail}; gave up after {failures} attempts", where=where
                    ) from None
                if not broken.resumable and out.tell():
                    out.seek(0)
                    out.truncate()
                on_progress(
                    f"download of {target.name} interrupted at {out.tell()} bytes ({broken.detail}); trying again"
                )
                asked = retry_after_seconds(broken.retry_after, session.policy.max_retry_after)
                session.sleep(asked if asked is not None else session.policy.backoff_delay(max(failures - 1, 0)))


def _attempt(
    http: httpx.Client,
    url: str,
    out: BinaryIO,
    where: str,
    timeout: float,
    on_progress: Callable[[str], None],
) -> None:
    """One GET, its body appended to `out` from its current position (or from 0 after a 200)."""
    offset = out.tell()
    headers = {"Accept": NDJSON, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = http.build_request("GET", url, headers=headers, timeout=httpx.Timeout(timeout))
    try:
        response = http.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise _Broken(_detail(exc)) from None
    try:
        _accept(response, offset, out, where, on_progress)
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        try:
            # No chunk_size: httpx would hold back a partial chunk, and lose it when the connection drops.
            for chunk in response.iter_bytes():
                out.write(chunk)
        except httpx.HTTPError as exc:
            raise _Broken(_detail(exc), resumable=not encoded) from None
    finally:
        response.close()


def _accept(
    response: httpx.Response, offset: int, out: BinaryIO, where: str, on_progress: Callable[[str], None]
) -> None:
    """Check the answer's status and type, and put `out` where its body goes."""
    status = response.status_code
    if status in (429, 502, 503, 504):
        raise _Broken(f"HTTP {status}", response.headers.get("Retry-After"))
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None or int(match[1]) != offset:
            got = response.headers.get("Content-Range")
            raise BulkExportError(206, f"asked for bytes from {offset}, got Content-Range {got!r}", where=where)
    elif status == 200:
        if offset:
            on_progress(f"the server ignored Range at {offset} bytes; downloading the file again")
            out.seek(0)
            out.truncate()
    else:
        body = read_capped(response, MAX_ERROR_BODY_BYTES) or b""
        reply = Reply(status, response.reason_phrase, response.headers, body, str(response.url))
        raise BulkExportError(status, f"download failed: {server_error(reply, where).message}", where=where)
    mime = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if mime in _NOT_NDJSON:
        raise BulkExportError(status, f"expected NDJSON, got Content-Type {mime!r}", where=where)


def _detail(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
