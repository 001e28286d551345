"""A population from a FHIR server: its Bulk Data export of what the trials read, plus the Medications the
exported orders reference — a patient-level export holds only the Patient compartment, which Medication is not
in (HAPI refuses `_type=Medication` there), yet an order coded only by `Medication/<id>` must not read as "no
such drug"."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from adapter.fhir.bulk import ExportRequest, ExportResult, export_to_directory
from adapter.screening.routing import MEDICATION_USERS, READ_TYPES, Routed, route
from adapter.screening.source import read_lines

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.fhir.client import FhirClient

MEDICATIONS_FILE = "Medication.ndjson"
_IDS_PER_SEARCH = 50  # `_id=a,b,…` per request: short URLs, few round trips


def export_population(client: FhirClient, trials: Sequence[Trial], directory: Path, *, group: str | None,
                      since: str | None, poll_timeout_s: float,
                      on_progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export the patients' data the trials read into `directory`, then the Medications their orders name."""
    from adapter.evaluation import observation_codes

    codes = observation_codes(trials)
    request = ExportRequest(
        group=group,
        since=since,
        types=tuple(sorted(READ_TYPES - {"Medication"})),
        # Only the results the criteria read (as a single-patient pull does); record entries are never filtered,
        # so a code nobody anticipated still reaches the engine.
        type_filters=(f"Observation?code={','.join(codes)}",) if codes else (),
    )
    result = export_to_directory(client, request, directory, poll_timeout_s=poll_timeout_s, on_progress=on_progress)
    wanted = sorted(set(_medication_references(result.files)))
    if wanted:
        found = _write_medications(client, wanted, directory / MEDICATIONS_FILE)
        if on_progress is not None:
            on_progress(f"read {found} of {len(wanted)} referenced Medications")
    return result


def _medication_references(files: Sequence[Path]) -> Iterator[str]:
    for path in files:
        if path.name.split(".")[0] not in MEDICATION_USERS:
            continue
        for item in read_lines(path):
            if isinstance(item, tuple):
                routed = route(item[1])
                if isinstance(routed, Routed) and routed.medication_ref:
                    yield routed.medication_ref


def _write_medications(client: FhirClient, ids: list[str], target: Path) -> int:
    """The Medications by id, one `_id` search per chunk; those the server does not have stay missing (the
    engine then cannot tell the drug and says so)."""
    found = 0
    with target.open("wb") as sink:
        for start in range(0, len(ids), _IDS_PER_SEARCH):
            chunk = ids[start:start + _IDS_PER_SEARCH]
            for resource in client.search("Medication", {"_id": ",".join(chunk), "_count": str(len(chunk))}):
                if resource.get("resourceType") == "Medication":
                    sink.write(orjson.dumps(resource) + b"\n")
                    found += 1
    return found
