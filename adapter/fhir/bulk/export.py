"""`export_to_directory`: one Bulk Data export from kick-off to NDJSON files on disk, and the job deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from adapter.fhir.bulk.capability import supports_type_filter
from adapter.fhir.bulk.download import Budget, download
from adapter.fhir.bulk.job import delete_job, kick_off, poll
from adapter.fhir.bulk.manifest import Manifest, OutputFile, parse_manifest
from adapter.fhir.bulk.model import BulkExportError, DownloadLimits, ExportRequest, ExportResult
from adapter.fhir.bulk.session import Session
from adapter.fhir.client import FhirClient
from adapter.fhir.outcome import outcome_text
from adapter.http import Deadline, clean_text, origin_of, parse_origin
from adapter.http.transport import display
from adapter.jsonio import JsonInputError, parse_json

NDJSON = "application/fhir+ndjson"
DEFAULT_TIMEOUT_S = 3600.0  # the whole export: kick-off, polling and downloads
DEFAULT_POLL_TIMEOUT_S = DEFAULT_TIMEOUT_S  # the name it had when it bounded polling only
DEFAULT_MAX_POLL_WAIT_S = 60.0  # a longer Retry-After (HAPI asks for 120 s) is cut to this
DEFAULT_MIN_POLL_WAIT_S = 1.0  # a shorter one (Retry-After: 0) is raised to this: no busy polling
ERROR_DIR = "error"
MAX_SERVER_ERRORS = 100  # messages kept from the error files; the files themselves stay on disk
MAX_ERROR_LINE_BYTES = 1 << 20  # an OperationOutcome line; a longer one is named, not parsed


def export_to_directory(
    client: FhirClient,
    request: ExportRequest,
    directory: Path,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_poll_wait_s: float = DEFAULT_MAX_POLL_WAIT_S,
    min_poll_wait_s: float = DEFAULT_MIN_POLL_WAIT_S,
    limits: DownloadLimits | None = None,
    allowed_origins: Iterable[str] = (),
    on_progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Run `request` on the client's server and save its files in `directory` (created; must be empty).

    Kick-off (`Prefer: respond-async`), polling the status URL (Retry-After honoured between `min_poll_wait_s`
    and `max_poll_wait_s`, X-Progress passed to `on_progress`), downloading every output file as `<Type>.ndjson`,
    `<Type>.2.ndjson`, … and the error files under `error/` — all within `timeout_s` — then DELETE of the job
    (also when the export failed or timed out; a failed delete is only reported). Files on an origin other than
    the server's and `allowed_origins` are not fetched: `result.refused_files` names them. Downloads are bounded
    by `limits`. Raises BulkExportError (an AdapterError with a one-line message) when the export is refused,
    fails, times out, or a file cannot be had or is over a cap.
    """
    report = on_progress or _ignore
    directory = Path(directory)
    origins = _origins(client.base_url, allowed_origins)  # a bad value is refused before anything is sent
    _prepare(directory)
    deadline = Deadline(timeout_s)
    session = Session.of(client)
    try:
        filters_sent = bool(request.type_filters) and supports_type_filter(client, request.kick_off_type)
        if request.type_filters and not filters_sent:
            report("the server does not declare _typeFilter; exporting without it")
        status_url = kick_off(session, request.kick_off_path, _params(request, filters_sent), deadline)
        report(f"export started; polling {display(status_url)}")
        try:
            data = poll(session, status_url, deadline, (min_poll_wait_s, max_poll_wait_s), report)
            manifest = parse_manifest(data, status_url, f"GET {display(status_url)}")
            run = _Downloads(session, manifest, deadline, limits or DownloadLimits(), origins, report)
            files = run.all(manifest.output, directory)
            error_files = run.all(manifest.error, directory / ERROR_DIR)
        finally:
            delete_job(session, status_url, report)
    finally:
        session.close()
    return ExportResult(
        directory=directory,
        files=files,
        transaction_time=manifest.transaction_time,
        request_url=manifest.request or client.url(request.kick_off_path),
        server_errors=_messages(error_files),
        error_files=error_files,
        type_filters_sent=filters_sent,
        refused_files=tuple(run.refused),
    )


def _params(request: ExportRequest, filters: bool) -> list[tuple[str, str]]:
    params = [("_outputFormat", NDJSON)]
    if request.types:
        params.append(("_type", ",".join(request.types)))
    if request.since is not None:
        params.append(("_since", request.since))
    if filters:
        params.extend(("_typeFilter", query) for query in request.type_filters)
    return params


def _prepare(directory: Path) -> None:
    """Files left from an earlier export would be read as this one's, so the directory must be new or empty —
    and a real directory: through a symbolic link the files would land wherever it points."""
    if directory.is_symlink():
        raise BulkExportError(None, f"{directory} is a symbolic link; bulk export writes only into a real directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise BulkExportError(None, f"{directory} is not empty; bulk export writes into a new or empty directory")
    except OSError as exc:
        raise BulkExportError(None, f"cannot use {directory} for the export: {exc.strerror or exc}") from None


def _origins(base_url: str, allowed: Iterable[str]) -> frozenset[str]:
    """The server's origin and the ones allowed besides (BulkExportError for a value that is not an origin)."""
    origins = {origin_of(base_url) or base_url}
    for value in allowed:
        try:
            origins.add(parse_origin(value))
        except ValueError as exc:
            raise BulkExportError(None, f"allowed file origin: {exc}") from None
    return frozenset(origins)


@dataclass
class _Downloads:
    """The files of one manifest: fetched under one deadline, one byte budget, from allowed origins only."""

    session: Session
    manifest: Manifest
    deadline: Deadline
    limits: DownloadLimits
    origins: frozenset[str]
    report: Callable[[str], None]
    budget: Budget = field(default_factory=Budget)
    refused: list[str] = field(default_factory=list)

    def all(self, entries: tuple[OutputFile, ...], directory: Path) -> tuple[Path, ...]:
        allowed = [entry for entry in entries if self._allowed(entry)]
        if allowed:
            directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for entry in allowed:
            target = directory / entry.name
            try:
                size = download(self.session, entry.url, target, credentials=self.manifest.requires_access_token,
                                on_progress=self.report, deadline=self.deadline, limits=self.limits,
                                budget=self.budget)
            except OSError as exc:
                raise BulkExportError(None, f"cannot write {target}: {exc.strerror or exc}") from None
            self.report(f"downloaded {target.name} ({size} bytes)")
            paths.append(target)
        return tuple(paths)

    def _allowed(self, entry: OutputFile) -> bool:
        origin = origin_of(entry.url)
        if origin is not None and origin in self.origins:
            return True
        # Another origin may be the server's storage, or anywhere a hostile manifest points: asked, not assumed.
        message = (f"{entry.type} file on {origin or 'an unusable URL'} not fetched: not the server's origin "
                   f"(allow it with --allow-file-origin): {clean_text(display(entry.url), 200)}")
        self.refused.append(message)
        self.report(message)
        return False


def _messages(error_files: tuple[Path, ...]) -> tuple[str, ...]:
    """The OperationOutcome messages in the error files (a line that is not one is quoted, cleaned, cut)."""
    messages: list[str] = []
    for path in error_files:
        with path.open("rb") as lines:
            for number, line in _bounded_lines(lines):
                if len(messages) >= MAX_SERVER_ERRORS:
                    return tuple(messages)
                messages.append(_message(line, f"{path.name} line {number}"))
    return tuple(messages)


def _message(line: bytes | None, where: str) -> str:
    if line is None:
        return f"{where}: an error line longer than {MAX_ERROR_LINE_BYTES} bytes (not read)"
    try:
        outcome = parse_json(line, where, max_bytes=MAX_ERROR_LINE_BYTES)
    except JsonInputError as exc:  # deep, huge or not JSON: said so in one line, never a traceback
        return clean_text(str(exc), 200)
    text = outcome_text(outcome) if isinstance(outcome, dict) else ""
    # clean_text drops what cannot travel further: control characters, lone surrogates.
    return clean_text(text or line.decode("utf-8", "replace"), 200)


def _bounded_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Non-blank lines with their numbers; None for a line over MAX_ERROR_LINE_BYTES (skipped, never held)."""
    number = 0
    while raw := stream.readline(MAX_ERROR_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_ERROR_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(MAX_ERROR_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        elif raw.strip():
            yield number, raw


def _ignore(_: str) -> None:
    return None
