"""FHIR Bulk Data Access (IG v2) export client: `Patient/$export` or `Group/[id]/$export` into a directory of
NDJSON files, one or more per resource type (`Observation.ndjson`, `Observation.2.ndjson`, …).

`export_to_directory(client, ExportRequest(...), directory)` runs the whole asynchronous request pattern
through the FhirClient's connection and retry policy; see docs/bulk-data.md. Modules: `model` (request,
result, error), `kickoff` (POST or GET, the parameters the server declares), `job` (kick-off, polling, delete),
`manifest`, `pages` (manifest pages and their downloads), `download` (streamed, resumed), `deleted` (the
manifest's deleted resources), `elements` (`_elements`), `capability` (what the server declares), `session` (the
HTTP borrowed from the FhirClient), `export` (the whole run).
"""

from adapter.fhir.bulk.elements import ELEMENT_TYPES, elements_value
from adapter.fhir.bulk.export import (
    DEFAULT_MAX_POLL_WAIT_S,
    DEFAULT_MIN_POLL_WAIT_S,
    DEFAULT_POLL_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    export_to_directory,
)
from adapter.fhir.bulk.model import BulkExportError, DownloadLimits, ExportRequest, ExportResult

__all__ = [
    "DEFAULT_MAX_POLL_WAIT_S",
    "DEFAULT_MIN_POLL_WAIT_S",
    "DEFAULT_POLL_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "ELEMENT_TYPES",
    "BulkExportError",
    "DownloadLimits",
    "ExportRequest",
    "ExportResult",
    "elements_value",
    "export_to_directory",
]
