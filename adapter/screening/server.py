"""A population from a FHIR server: its Bulk Data export of what the trials read, plus the Medications the
exported orders reference — a patient-level export holds only the Patient compartment, which Medication is not
in (`adapter.fhir.quirks.NOT_IN_PATIENT_EXPORT`: HAPI refuses `_type=Medication` there), yet an order coded only
by `Medication/<id>` must not read as "no such drug".

With `since`, the export holds only what changed: screening that alone would read an unchanged exclusion
(a Condition recorded last year) as absent — a false pass. So the export only names the patients to screen
again, and each one's whole record is then read the way `evaluate --server` reads one patient (one `batch`).
The changed resources stay in `since/` beside the files that are screened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from adapter.fhir.bulk import DownloadLimits, ExportRequest, export_to_directory
from adapter.fhir.quirks import NOT_IN_PATIENT_EXPORT
from adapter.screening.routing import MEDICATION_USERS, READ_TYPES, Routed, route
from adapter.screening.source import read_lines

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.fhir.client import FhirClient

MEDICATIONS_FILE = "Medication.ndjson"
SINCE_FOLDER = "since"


@dataclass(frozen=True)
class ServerPopulation:
    directory: Path
    transaction_time: str | None
    errors: tuple[str, ...]  # the server's error files' messages, patients that could not be read
    # With `since` and a store (`patients_of`): what was deleted, and what it did to the store's patients.
    deleted: tuple[str, ...] = ()  # `Type/id` deleted since (the manifest's `deleted`, the server's history)
    gone: tuple[str, ...] = ()  # patient ids the server no longer has (404/410): they leave the store
    unread: tuple[tuple[str, str], ...] = ()  # (patient id, reason): changed, but could not be read again

_IDS_PER_SEARCH = 50  # `_id=a,b,…` per request: short URLs, few round trips


def export_population(client: FhirClient, trials: Sequence[Trial], directory: Path, *, group: str | None,
                      since: str | None, timeout_s: float, allowed_origins: Sequence[str] = (),
                      limits: DownloadLimits | None = None,
                      on_progress: Callable[[str], None] | None = None,
                      patients_of: Callable[[Sequence[str]], Sequence[str]] | None = None) -> ServerPopulation:
    """Export the patients' data the trials read into `directory`, then the Medications their orders name.
    Files the manifest puts on another origin than the server's (and `allowed_origins`) are not fetched: each is
    an error line.

    `patients_of` (a store's: deleted `Type/id`s → the patients whose records held them) makes a `since` export
    apply deletions: those patients are read again too, and a patient the server no longer has is `gone`."""
    from adapter.evaluation import observation_codes

    codes = observation_codes(trials)
    request = ExportRequest(
        group=group,
        since=since,
        types=tuple(sorted(READ_TYPES - NOT_IN_PATIENT_EXPORT)),
        # Only the results the criteria read (as a single-patient pull does); record entries are never filtered,
        # so a code nobody anticipated still reaches the engine.
        type_filters=(f"Observation?code={','.join(codes)}",) if codes else (),
        # STU3: files grouped by patient, and manifests that list files as they are ready — each sent only when
        # the server declares it (adapter.fhir.bulk.capability); the grouping step reads either layout.
        organize_by_patient=True,
        allow_partial_manifests=True,
    )
    target = directory / SINCE_FOLDER if since is not None else directory
    result = export_to_directory(client, request, target, timeout_s=timeout_s, allowed_origins=allowed_origins,
                                 limits=limits, on_progress=on_progress)
    files, errors = list(result.files), [*result.refused_files, *result.server_errors]
    deleted: list[str] = []
    gone: list[str] = []
    unread: list[tuple[str, str]] = []
    if since is not None:
        patients = _patients(result.files)
        if patients_of is not None:
            from adapter.screening.deletions import deleted_since

            deleted = sorted({*getattr(result, "deleted", ()), *deleted_since(client, since, READ_TYPES)})
            patients = sorted({*patients, *patients_of(deleted)})
        files, unreadable, gone, unread = _whole_records(client, trials, patients, directory)
        errors += unreadable
    wanted = sorted(set(_medication_references(files, by_patient=result.organized_by_patient)))
    if wanted:
        found = _write_medications(client, wanted, directory / MEDICATIONS_FILE)
        if on_progress is not None:
            on_progress(f"read {found} of {len(wanted)} referenced Medications")
    return ServerPopulation(directory, result.transaction_time, tuple(errors), tuple(deleted), tuple(gone),
                            tuple(unread))


def _patients(files: Sequence[Path]) -> list[str]:
    """Every patient a line of the export belongs to."""
    found: set[str] = set()
    for path in files:
        for item in read_lines(path):
            if isinstance(item, tuple):
                routed = route(item[1])
                if isinstance(routed, Routed) and routed.key is not None:
                    found.add(routed.key)
    return sorted(found)


def _whole_records(client: FhirClient, trials: Sequence[Trial], patients: list[str], directory: Path,
                   ) -> tuple[list[Path], list[str], list[str], list[tuple[str, str]]]:
    """Each patient's whole record (as `evaluate --server` reads it), written as NDJSON by type; with the
    error lines, the patients the server no longer has, and the others that could not be read."""
    from adapter.errors import AdapterError
    from adapter.evaluation import observation_codes
    from adapter.fhir.pull import plan_for, pull_patient

    plan = plan_for(observation_codes(trials))
    sinks: dict[str, Any] = {}
    errors: list[str] = []
    gone: list[str] = []
    unread: list[tuple[str, str]] = []
    try:
        for patient_id in patients:
            try:
                resources = pull_patient(client, patient_id, plan)
            except AdapterError as exc:  # deleted since, or refused: reported, the others go on
                if _is_gone(client, patient_id):
                    gone.append(patient_id)
                    continue
                reason = f"Patient/{patient_id} changed since the given instant but could not be read: {exc}"
                errors.append(reason)
                unread.append((patient_id, reason))
                continue
            for resource in resources:
                kind = resource.get("resourceType")
                if isinstance(kind, str) and kind in READ_TYPES:
                    if kind not in sinks:
                        sinks[kind] = (directory / f"{kind}.ndjson").open("wb")
                    sinks[kind].write(orjson.dumps(resource) + b"\n")
    finally:
        for sink in sinks.values():
            sink.close()
    return [directory / f"{kind}.ndjson" for kind in sorted(sinks)], errors, gone, unread


def _is_gone(client: FhirClient, patient_id: str) -> bool:
    """The server says the Patient does not exist (404) or was deleted (410) — not merely a failed read."""
    from adapter.errors import AdapterError

    try:
        client.read("Patient", patient_id)
    except AdapterError as exc:
        return getattr(exc, "status", None) in (404, 410)
    return False


def _medication_references(files: Sequence[Path], *, by_patient: bool = False) -> Iterator[str]:
    """The Medications the orders in `files` reference. Files named by type are read only when their type can
    reference one; files organised by patient (`output.ndjson`, …) hold every type, so all are read."""
    for path in files:
        if not by_patient and path.name.split(".")[0] not in MEDICATION_USERS:
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
