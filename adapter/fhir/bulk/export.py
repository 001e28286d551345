"""`export_to_directory`: one Bulk Data export from kick-off to NDJSON files on disk, and the job deleted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from adapter.fhir.bulk.capability import supports_type_filter
from adapter.fhir.bulk.download import download
from adapter.fhir.bulk.job import delete_job, kick_off, poll
from adapter.fhir.bulk.manifest import Manifest, OutputFile, parse_manifest
from adapter.fhir.bulk.model import BulkExportError, ExportRequest, ExportResult
from adapter.fhir.bulk.session import Session
from adapter.fhir.client import FhirClient
from adapter.fhir.outcome import outcome_text
from adapter.http import Deadline, clean_text
from adapter.http.transport import display

NDJSON = "application/fhir+ndjson"
DEFAULT_POLL_TIMEOUT_S = 3600.0
DEFAULT_MAX_POLL_WAIT_S = 60.0  # a longer Retry-After (HAPI asks for 120 s) is cut to this
ERROR_DIR = "error"
MAX_SERVER_ERRORS = 100  # messages kept from the error files; the files themselves stay on disk


def export_to_directory(
    client: FhirClient,
    request: ExportRequest,
    directory: Path,
    *,
    poll_timeout_s: float = DEFAULT_POLL_TIMEOUT_S,
    max_poll_wait_s: float = DEFAULT_MAX_POLL_WAIT_S,
    on_progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Run `request` on the client's server and save its files in `directory` (created; must be empty).

    Kick-off (`Prefer: respond-async`), polling the status URL (Retry-After honoured up to `max_poll_wait_s`,
    X-Progress passed to `on_progress`) until complete or `poll_timeout_s`, downloading every output file as
    `<Type>.ndjson`, `<Type>.2.ndjson`, … and the error files under `error/`, then DELETE of the job (also
    when the export failed or timed out; a failed delete is only reported). Raises BulkExportError (an
    AdapterError with a one-line message) when the export is refused, fails, times out or a file cannot be had.
    """
    report = on_progress or _ignore
    directory = Path(directory)
    _prepare(directory)
    session = Session.of(client)
    try:
        filters_sent = bool(request.type_filters) and supports_type_filter(client, request.kick_off_type)
        if request.type_filters and not filters_sent:
            report("the server does not declare _typeFilter; exporting without it")
        status_url = kick_off(session, request.kick_off_path, _params(request, filters_sent))
        report(f"export started; polling {display(status_url)}")
        try:
            data = poll(session, status_url, Deadline(poll_timeout_s), max_poll_wait_s, report)
            manifest = parse_manifest(data, status_url, f"GET {display(status_url)}")
            files = _download_all(session, manifest.output, directory, manifest, report)
            error_files = _download_all(session, manifest.error, directory / ERROR_DIR, manifest, report)
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
    """Files left from an earlier export would be read as this one's, so the directory must be new or empty."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise BulkExportError(None, f"{directory} is not empty; bulk export writes into a new or empty directory")
    except OSError as exc:
        raise BulkExportError(None, f"cannot use {directory} for the export: {exc.strerror or exc}") from None


def _download_all(
    session: Session,
    entries: tuple[OutputFile, ...],
    directory: Path,
    manifest: Manifest,
    report: Callable[[str], None],
) -> tuple[Path, ...]:
    if entries:
        directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in entries:
        target = directory / entry.name
        try:
            size = download(session, entry.url, target, credentials=manifest.requires_access_token, on_progress=report)
        except OSError as exc:
            raise BulkExportError(None, f"cannot write {target}: {exc.strerror or exc}") from None
        report(f"downloaded {target.name} ({size} bytes)")
        paths.append(target)
    return tuple(paths)


def _messages(error_files: tuple[Path, ...]) -> tuple[str, ...]:
    """The OperationOutcome messages in the error files (a line that is not one is quoted as it is)."""
    messages: list[str] = []
    for path in error_files:
        with path.open("rb") as lines:
            for line in lines:
                if len(messages) >= MAX_SERVER_ERRORS:
                    return tuple(messages)
                if not line.strip():
                    continue
                try:
                    outcome = json.loads(line)
                except ValueError:
                    outcome = None
                text = outcome_text(outcome) if isinstance(outcome, dict) else ""
                messages.append(text or clean_text(line.decode("utf-8", "replace"), 200))
    return tuple(messages)


def _ignore(_: str) -> None:
    return None
