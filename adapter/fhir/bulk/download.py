"""Downloading one export file to disk: streamed, resumed with `Range` after a dropped connection, bounded.

A server that answers a ranged request with 206 has the rest appended; one that answers 200 (it ignores Range)
has the file written again from the start. Files are asked for without content encoding, so that the byte
count on disk is the offset the server's Range means. If a server encodes anyway (gzip or deflate), the body is
inflated here a chunk at a time under the caps, and a broken file is restarted rather than resumed; any other
encoding is refused.

Bounds (`DownloadLimits`): bytes per file and for the whole export (decoded, counted as written), resumes per
file, and the progress an interrupted attempt must bring to count as progress — so a server that lies about
Content-Length and answers each resume with a few bytes cannot keep the client looping. The export's deadline
bounds every wait.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from adapter.fhir.bulk.model import BulkExportError, DownloadLimits
from adapter.fhir.bulk.session import Session
from adapter.fhir.outcome import server_error
from adapter.http import Deadline, Reply, read_capped, retry_after_seconds
from adapter.http.transport import MAX_ERROR_BODY_BYTES, display

NDJSON = "application/fhir+ndjson"
# A JSON (not NDJSON) answer means the server sent the Binary resource, or an error, instead of the file.
_NOT_NDJSON = frozenset({"application/fhir+json", "application/json", "application/json+fhir", "text/html"})
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", re.IGNORECASE)
_WBITS = {"gzip": 47, "x-gzip": 47, "deflate": 15}  # 47: a gzip (or zlib) header; 15: zlib (HTTP's "deflate")
_INFLATE_CHUNK = 1 << 20  # at most this much inflated output is held at a time


@dataclass(slots=True)
class Budget:
    """The bytes the export's files have taken so far (the total cap is checked against it)."""

    spent: int = 0


class _Broken(Exception):
    """The connection failed; `detail` says how."""

    def __init__(self, detail: str, retry_after: str | None = None, *, resumable: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.resumable = resumable  # False: the body was content-encoded, so byte offsets mean nothing


@dataclass(frozen=True, slots=True)
class _Target:
    """One download in progress: where it goes, and what bounds it."""

    out: BinaryIO
    where: str
    limits: DownloadLimits
    budget: Budget
    deadline: Deadline
    on_progress: Callable[[str], None]

    def write(self, data: bytes) -> None:
        self.out.write(data)
        size = self.out.tell()
        if size > self.limits.max_file_bytes:
            raise BulkExportError(None, f"file larger than the {self.limits.max_file_bytes}-byte cap per file; "
                                        "not downloaded", where=self.where)
        if self.budget.spent + size > self.limits.max_total_bytes:
            raise BulkExportError(None, f"the export's files exceed the {self.limits.max_total_bytes}-byte total "
                                        "cap; not downloaded", where=self.where)

    def check_deadline(self) -> None:
        if self.deadline.expired:
            raise BulkExportError(None, f"export not complete within the {self.deadline.seconds:g}s export timeout "
                                        "(downloading)", where=self.where)


def download(session: Session, url: str, target: Path, *, credentials: bool, on_progress: Callable[[str], None],
             deadline: Deadline, limits: DownloadLimits | None = None, budget: Budget | None = None) -> int:
    """Stream `url` into `target` (a new file); the number of bytes written.

    Credentials go along only when `credentials` is set and `url` is under the FHIR base. Failed connections
    and retryable statuses are tried again under the client's retry policy; an attempt that brought at least
    `limits.min_progress_bytes` resets the count, and at most `limits.max_resumes` interruptions are borne.
    """
    limits = limits or DownloadLimits()
    budget = budget if budget is not None else Budget()
    where = f"GET {display(url)}"
    http = session.http_for(url, credentials=credentials)
    try:
        with target.open("xb") as out:  # exclusive: never through something already there (a planted symlink)
            sink = _Target(out, where, limits, budget, deadline, on_progress)
            return _download(session, http, url, sink, target.name)
    except BulkExportError:
        target.unlink(missing_ok=True)  # nothing half-downloaded or over a cap stays behind
        raise


def _download(session: Session, http: httpx.Client, url: str, sink: _Target, name: str) -> int:
    out, limits, deadline = sink.out, sink.limits, sink.deadline
    failures = resumes = 0
    while True:
        before = out.tell()
        try:
            _attempt(http, url, sink, session.timeout)
            sink.budget.spent += out.tell()
            return out.tell()
        except _Broken as broken:
            resumes += 1
            # Progress resets the failure count only when it is real: a few bytes per attempt is a loop.
            failures = 0 if out.tell() - before >= limits.min_progress_bytes else failures + 1
            if failures > session.policy.retries or resumes > limits.max_resumes:
                raise BulkExportError(None, f"download failed: {broken.detail}; gave up after {resumes} attempts "
                                            f"({out.tell()} bytes received)", where=sink.where) from None
            if not broken.resumable and out.tell():
                out.seek(0)
                out.truncate()
            sink.on_progress(f"download of {name} interrupted at {out.tell()} bytes ({broken.detail}); trying again")
            asked = retry_after_seconds(broken.retry_after, session.policy.max_retry_after)
            pause = asked if asked is not None else session.policy.backoff_delay(max(failures - 1, 0))
            if pause >= deadline.remaining():
                raise BulkExportError(None, f"export not complete within the {deadline.seconds:g}s export timeout "
                                            f"(download of {name} interrupted)", where=sink.where) from None
            session.sleep(pause)


def _attempt(http: httpx.Client, url: str, sink: _Target, timeout: float) -> None:
    """One GET, its body appended to the file from its current position (or from 0 after a 200)."""
    sink.check_deadline()
    offset = sink.out.tell()
    headers = {"Accept": NDJSON, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = http.build_request("GET", url, headers=headers, timeout=sink.deadline.timeout(timeout))
    try:
        response = http.send(request, stream=True)
    except httpx.HTTPError as exc:
        sink.check_deadline()
        raise _Broken(_detail(exc)) from None
    try:
        _accept(response, offset, sink)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
        if encoding != "identity" and encoding not in _WBITS:
            raise BulkExportError(response.status_code, f"Content-Encoding {encoding!r} is not supported (identity "
                                                        "was asked for)", where=sink.where)
        try:
            # iter_raw, not iter_bytes: httpx would inflate a whole chunk at once, without a bound.
            for chunk in _decoded(response.iter_raw(), encoding, sink.where):
                sink.write(chunk)
                sink.check_deadline()
        except httpx.HTTPError as exc:
            sink.check_deadline()
            raise _Broken(_detail(exc), resumable=encoding == "identity") from None
    finally:
        response.close()


def _decoded(chunks: Iterator[bytes], encoding: str, where: str) -> Iterator[bytes]:
    """The body as the file holds it: `chunks` as they are, or inflated at most _INFLATE_CHUNK bytes at a time."""
    if encoding == "identity":
        yield from chunks
        return
    inflater = zlib.decompressobj(wbits=_WBITS[encoding])
    try:
        for chunk in chunks:
            data = chunk
            while data and not inflater.eof:
                yield inflater.decompress(data, _INFLATE_CHUNK)
                data = inflater.unconsumed_tail
        if not inflater.eof:  # the body ended inside the compressed stream
            raise httpx.ReadError(f"{encoding} body ends before its compressed stream does")
    except zlib.error as exc:
        raise BulkExportError(None, f"the {encoding}-encoded body cannot be decoded ({exc})", where=where) from None


def _accept(response: httpx.Response, offset: int, sink: _Target) -> None:
    """Check the answer's status, size and type, and put the file where its body goes."""
    status, where = response.status_code, sink.where
    if status in (429, 502, 503, 504):
        raise _Broken(f"HTTP {status}", response.headers.get("Retry-After"))
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None or int(match[1]) != offset:
            got = response.headers.get("Content-Range")
            raise BulkExportError(206, f"asked for bytes from {offset}, got Content-Range {got!r}", where=where)
    elif status == 200:
        if offset:
            sink.on_progress(f"the server ignored Range at {offset} bytes; downloading the file again")
            sink.out.seek(0)
            sink.out.truncate()
            offset = 0
    else:
        body = read_capped(response, MAX_ERROR_BODY_BYTES) or b""
        reply = Reply(status, response.reason_phrase, response.headers, body, str(response.url))
        raise BulkExportError(status, f"download failed: {server_error(reply, where).message}", where=where)
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and offset + int(declared) > sink.limits.max_file_bytes:  # refused before reading
        raise BulkExportError(status, f"file of {offset + int(declared)} bytes is larger than the "
                                      f"{sink.limits.max_file_bytes}-byte cap per file; not downloaded", where=where)
    mime = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if mime in _NOT_NDJSON:
        raise BulkExportError(status, f"expected NDJSON, got Content-Type {mime!r}", where=where)


def _detail(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
