"""`export_to_directory`: one Bulk Data export from kick-off to NDJSON files on disk, and the job deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from adapter.fhir.bulk.deleted import read_deleted
from adapter.fhir.bulk.job import delete_job
from adapter.fhir.bulk.kickoff import start
from adapter.fhir.bulk.model import BulkExportError, DownloadLimits, ExportRequest, ExportResult
from adapter.fhir.bulk.pages import Pages
from adapter.fhir.bulk.session import Session
from adapter.fhir.client import FhirClient
from adapter.fhir.outcome import outcome_text
from adapter.http import Deadline, clean_text, origin_of, parse_origin
from adapter.http.transport import display
from adapter.jsonio import JsonInputError, parse_json

DEFAULT_TIMEOUT_S = 3600.0  # the whole export: kick-off, polling and downloads
DEFAULT_POLL_TIMEOUT_S = DEFAULT_TIMEOUT_S  # the name it had when it bounded polling only
DEFAULT_MAX_POLL_WAIT_S = 60.0  # a longer Retry-After (HAPI asks for 120 s) is cut to this
DEFAULT_MIN_POLL_WAIT_S = 1.0  # a shorter one (Retry-After: 0) is raised to this: no busy polling
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
    on_file: Callable[[Path], None] | None = None,
) -> ExportResult:
    """Run `request` on the client's server and save its files in `directory` (created; must be empty).

    Kick-off (`Prefer: respond-async`; POST with a `Parameters` body or GET, see `kickoff`), polling the status
    URL (Retry-After honoured between `min_poll_wait_s` and `max_poll_wait_s`, X-Progress passed to
    `on_progress`), following the manifest's pages (`allowPartialManifests`), downloading every output file as
    `<Type>.ndjson`, `<Type>.2.ndjson`, … (`output.ndjson`, … when organized by patient) — each handed to
    `on_file` as soon as it is on disk — the error files under `error/` and the deleted files under `deleted/`,
    all within `timeout_s`; then DELETE of the job (also when the export failed or timed out; a failed delete is
    only reported). Files on an origin other than the server's and `allowed_origins` are not fetched:
    `result.refused_files` names them. Downloads are bounded by `limits`. Raises BulkExportError (an
    AdapterError with a one-line message) when the export is refused, fails, times out, or a file cannot be had
    or is over a cap.
    """
    report = on_progress or _ignore
    directory = Path(directory)
    origins = _origins(client.base_url, allowed_origins)  # a bad value is refused before anything is sent
    _prepare(directory)
    deadline = Deadline(timeout_s)
    session = Session.of(client)
    try:
        started = start(client, session, request, deadline, report)
        report(f"export started; polling {display(started.status_url)}")
        try:
            pages = Pages(session, directory, deadline, (min_poll_wait_s, max_poll_wait_s),
                          limits or DownloadLimits(), origins, report, on_file)
            got = pages.collect(started.status_url, partial=started.partial_sent)
        finally:
            delete_job(session, started.status_url, report)
    finally:
        session.close()
    manifest = got.first
    if manifest is None:  # collect returns after one page at least
        raise BulkExportError(None, "the export delivered no manifest")
    if request.organize_by_patient and manifest.organized_by != "Patient":
        report("the server did not organize the output by patient; files are by resource type")
    deleted, deleted_errors = read_deleted(got.deleted_files)
    return ExportResult(
        directory=directory,
        files=tuple(got.files),
        transaction_time=manifest.transaction_time,
        request_url=manifest.request or client.url(request.kick_off_path),
        server_errors=_messages(tuple(got.error_files)),
        error_files=tuple(got.error_files),
        type_filters_sent=started.type_filters_sent,
        refused_files=tuple(got.refused),
        elements_sent=started.elements_sent,
        organized_by_patient=manifest.organized_by == "Patient",
        continued=tuple(got.continued),
        deleted=deleted,
        deleted_files=tuple(got.deleted_files),
        deleted_errors=deleted_errors,
        kick_off_method=started.method,
        manifest_pages=got.pages,
    )


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
