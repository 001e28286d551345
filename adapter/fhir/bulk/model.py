"""What a Bulk Data export is asked for and what it delivers; the error it fails with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adapter.errors import FhirServerError

RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# A FHIR instant: seconds and a zone are required.
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
KickOffMethod = Literal["auto", "post", "get"]


class BulkExportError(FhirServerError):
    """A Bulk Data export that was refused, failed on the server, timed out or delivered unusable files.

    A FhirServerError: `status` is the HTTP status behind it (None when none is), `message` the server's words
    when it gave any; `str(error)` is one line.
    """


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """One `$export` kick-off: `Group/[group]/$export` when `group` is set, else `Patient/$export`.

    `kick_off_method`: "auto" POSTs a `Parameters` body when the server serves an export OperationDefinition for
    the kick-off (or the request needs POST: `patients`), else GETs; "post" always tries POST first; "get" never
    POSTs. A POST refused as a method (405, 501, or an OperationOutcome saying so) is sent again once as GET.
    `elements`, `organize_by_patient` and `allow_partial_manifests` are sent only when the server declares them
    (like `_typeFilter`): a server may ignore what it does not know, or refuse it. `elements` entries are
    `Type.element` for the types in `adapter.fhir.bulk.elements.ELEMENT_TYPES` only (never record entries, whose
    text matters): build them with `elements.elements_value`. `patients` (`patient`, POST only) narrows the export
    to those Patient ids.
    """

    group: str | None = None
    since: str | None = None  # _since, a FHIR instant
    types: tuple[str, ...] = ()  # _type
    type_filters: tuple[str, ...] = ()  # _typeFilter, sent only when the server declares it
    elements: tuple[str, ...] = ()  # _elements (Type.element), sent only when the server declares it
    organize_by_patient: bool = False  # organizeOutputBy=Patient, sent only when declared
    allow_partial_manifests: bool = False  # allowPartialManifests=true, sent only when declared
    patients: tuple[str, ...] = ()  # patient (Patient ids), POST only
    kick_off_method: KickOffMethod = "auto"

    def __post_init__(self) -> None:
        from adapter.fhir.bulk.elements import check_elements  # elements imports this module

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
        check_elements(self.elements)
        for ident in self.patients:
            if not FHIR_ID.fullmatch(ident):
                raise BulkExportError(None, f"patient {ident!r} is not a FHIR id (1-64 letters, digits, '-' or '.')")
        if self.kick_off_method not in ("auto", "post", "get"):
            raise BulkExportError(None, f"kick-off method must be auto, post or get, not {self.kick_off_method!r}")
        if self.patients and self.kick_off_method == "get":
            raise BulkExportError(None, "the patient parameter is sent only by POST, not with a GET kick-off")

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

    `files` are the data files in `directory` in manifest order (pages in the order they came): `<Type>.ndjson`,
    `<Type>.2.ndjson`, … — or `output.ndjson`, `output.2.ndjson`, … when `organized_by_patient` (each file then
    holds whole patients' blocks: a `Parameters` header naming the patient, the Patient, the resources that
    reference it) or when an entry has no type. `continued`: (file, the file its last patient's block continues
    in) for the blocks a server split. `error_files` are the server's OperationOutcome files (under
    `directory/error/`), and `server_errors` the messages in them. `deleted`: the `Type/id` references the
    manifest's `deleted` files (under `directory/deleted/`) name, in order, each once; `deleted_errors` one line
    per line or entry of those files that is not a usable deletion. `type_filters_sent`, `elements_sent`: whether
    `_typeFilter`, `_elements` went to the server (False: it does not declare them; the export is wider).
    `kick_off_method`: "POST" or "GET", as finally sent. `manifest_pages`: manifests read (more than one with
    `allowPartialManifests`). `refused_files`: one message per manifest file on an origin that was not allowed
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
    elements_sent: bool = False
    organized_by_patient: bool = False
    continued: tuple[tuple[Path, Path], ...] = ()
    deleted: tuple[str, ...] = ()
    deleted_files: tuple[Path, ...] = ()
    deleted_errors: tuple[str, ...] = ()
    kick_off_method: str = "GET"
    manifest_pages: int = 1
