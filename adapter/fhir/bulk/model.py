"""What a Bulk Data export is asked for and what it delivers; the error it fails with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from adapter.errors import FhirServerError

RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# A FHIR instant: seconds and a zone are required.
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


class BulkExportError(FhirServerError):
    """A Bulk Data export that was refused, failed on the server, timed out or delivered unusable files.

    A FhirServerError: `status` is the HTTP status behind it (None when none is), `message` the server's words
    when it gave any; `str(error)` is one line.
    """


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """One `$export` kick-off: `Group/[group]/$export` when `group` is set, else `Patient/$export`."""

    group: str | None = None
    since: str | None = None  # _since, a FHIR instant
    types: tuple[str, ...] = ()  # _type
    type_filters: tuple[str, ...] = ()  # _typeFilter, sent only when the server declares it

    def __post_init__(self) -> None:
        if self.group is not None and not FHIR_ID.fullmatch(self.group):
            raise BulkExportError(None, f"{self.group!r} is not a FHIR id (1-64 letters, digits, '-' or '.')")
        if self.since is not None and not INSTANT.fullmatch(self.since):
            raise BulkExportError(
                None, f"_since must be a FHIR instant such as 2024-01-31T00:00:00Z, not {self.since!r}"
            )
        for name in self.types:
            if not RESOURCE_TYPE.fullmatch(name):
                raise BulkExportError(None, f"{name!r} is not a FHIR resource type")
        for query in self.type_filters:
            kind = query.split("?", 1)[0]
            if "?" not in query or not RESOURCE_TYPE.fullmatch(kind):
                raise BulkExportError(None, f"_typeFilter must look like 'Observation?code=…', not {query!r}")

    @property
    def kick_off_path(self) -> str:
        """The kick-off URL relative to the base."""
        return f"Group/{self.group}/$export" if self.group is not None else "Patient/$export"

    @property
    def kick_off_type(self) -> str:
        return "Group" if self.group is not None else "Patient"


@dataclass(frozen=True, slots=True)
class DownloadLimits:
    """What an export's downloads may cost (docs/bulk-data.md, Limits). A server that sends more, or a connection
    that keeps breaking without real progress, fails the export with one line instead of filling the disk or
    looping."""

    max_file_bytes: int = 2 << 30  # one file as written to disk (decoded)
    max_total_bytes: int = 64 << 30  # all files of the export together
    max_resumes: int = 16  # interrupted attempts per file, whatever each brought
    min_progress_bytes: int = 64 << 10  # an interrupted attempt bringing less counts as a failed one


@dataclass(frozen=True, slots=True)
class ExportResult:
    """A finished export on disk.

    `files` are the data files in `directory` (`<Type>.ndjson`, `<Type>.2.ndjson`, …) in manifest order;
    `error_files` the server's OperationOutcome files (under `directory/error/`), and `server_errors` the messages
    in them. `type_filters_sent` says whether `_typeFilter` went to the server (False: it does not declare it,
    the export is unfiltered). `refused_files`: one message per manifest file on an origin that was not allowed
    (not fetched).
    """

    directory: Path
    files: tuple[Path, ...]
    transaction_time: str | None
    request_url: str
    server_errors: tuple[str, ...] = ()
    error_files: tuple[Path, ...] = ()
    type_filters_sent: bool = False
    refused_files: tuple[str, ...] = ()
