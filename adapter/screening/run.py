"""One screening run: an export directory (or a screening store), an engine, the outputs and the run record.
The CLI's `screen` is a thin shell on this."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from adapter.errors import AdapterError
from adapter.screening.outputs import ScreeningOutputs, ScreeningSummary
from adapter.screening.patient import JobRecipe
from adapter.screening.progress import NoProgress, Progress
from adapter.screening.run_record import RunRecord
from adapter.screening.source import ExportFiles, ReadLimits, export_files

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.screening.store import ScreeningStore

Engine = Literal["local", "spark"]
ENGINES: tuple[Engine, ...] = ("local", "spark")


@dataclass(frozen=True)
class StoreUpdate:
    """How an export changes a screening store: the whole population (`replace`), or changed patients' whole
    records merged in, with what the server says was deleted (`since`)."""

    replace: bool = True
    since: str | None = None
    server: str | None = None  # the server and Group the store follows (its next `--since` is from them)
    group: str | None = None
    deleted: tuple[str, ...] = ()  # `Type/id` deleted since
    gone: tuple[str, ...] = ()  # patient ids the server no longer has
    unread: tuple[tuple[str, str], ...] = ()  # (patient id, reason) changed but not read again


@dataclass(frozen=True)
class ScreenRequest:
    source: Path | None  # the export directory; None: re-screen the store alone
    out: Path
    recipe: JobRecipe
    engine: Engine = "local"
    workers: int = os.cpu_count() or 1
    spark_master: str | None = None
    fhir_version: Literal["R4", "R5"] = "R4"
    memory_limit: str = "1GB"  # DuckDB's, local engine
    report_candidates: int = 2000
    source_label: str | None = None  # what the report names as the source (a server URL), else the directory
    source_errors: tuple[str, ...] = ()  # the export server's own error messages (its manifest's error files)
    transaction_time: str | None = None  # of the server's export, when not in a manifest.json of the directory
    read_limits: ReadLimits = field(default_factory=ReadLimits)  # per line and per file
    store: Path | None = None  # a screening store: loaded or updated from `source`, screened from
    update: StoreUpdate = field(default_factory=StoreUpdate)


def screen(request: ScreenRequest, trials: list[Trial], progress: Progress | None = None,
           store: ScreeningStore | None = None) -> ScreeningSummary:
    """Screen every patient of the export (or of the store) against `trials` (the recipe's trials, already
    loaded by the caller for the outputs) and write the outputs and OUT/run.json. `store`: the already open
    store of `request.store` (else it is opened here). Raises AdapterError for what stops the whole run."""
    if request.workers < 1:
        raise AdapterError(f"--workers must be at least 1, not {request.workers}")
    if request.store is not None and store is None:
        from adapter.screening.store import ScreeningStore

        with ScreeningStore.open(request.store, create=request.source is not None,
                                 memory_limit=request.memory_limit, threads=request.workers) as opened:
            return screen(request, trials, progress, opened)
    if request.source is None and store is None:
        raise AdapterError("give an export (--ndjson DIR or --server URL), or a screening store (--store DIR)")
    files = export_files(request.source, request.read_limits) if request.source is not None else None
    progress = progress or NoProgress()
    record = RunRecord.start(_inputs(request, files), trials, request.recipe)
    outputs = ScreeningOutputs(request.out, trials, request.recipe.as_of, fhir_version=request.fhir_version,
                               report_candidates=request.report_candidates)
    started = datetime.now(UTC)
    for message in request.source_errors:
        outputs.error({"kind": "export-error", "reason": message})
    for refused in files.refused if files is not None else ():  # symlinks, FIFOs, devices: never opened
        outputs.error(refused.error_line())
    try:
        if store is not None:
            from adapter.screening.store_run import screen_with_store

            screen_with_store(store, files, request, trials, outputs, record, progress)
        elif files is None:
            raise AdapterError("no export to screen")
        elif request.engine == "local":
            from adapter.screening.local import run_local

            run_local(files, request.recipe, outputs, workers=request.workers, memory_limit=request.memory_limit,
                      progress=progress)
        elif request.engine == "spark":
            from adapter.screening.spark import run_spark

            run_spark(files, request.recipe, outputs, workers=request.workers, master=request.spark_master,
                      progress=progress)
        else:
            raise AdapterError(f"--engine {request.engine!r}: choose one of {', '.join(ENGINES)}")
    except BaseException:
        outputs.close()
        raise
    record.durations.setdefault("screen", round((datetime.now(UTC) - started).total_seconds(), 3))
    meta = {
        "engine": "store" if store is not None else request.engine,
        "source": request.source_label or str(request.source or request.store),
        "files": len(files.files) if files is not None else 0,
        "transaction_time": record.inputs.get("transaction_time"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
    }
    with record.phase("outputs"):
        summary = outputs.finish(meta)
    record.write(request.out, summary)
    return summary


def _inputs(request: ScreenRequest, files: ExportFiles | None) -> dict[str, Any]:
    """The run record's inputs: where the population came from."""
    return {
        "source": request.source_label or (str(request.source) if request.source is not None else None),
        "kind": "server" if request.source_label else "ndjson" if request.source is not None else "store",
        "since": request.update.since,
        "store": str(request.store) if request.store is not None else None,
        "files": len(files.files) if files is not None else 0,
        "transaction_time": (files.transaction_time if files is not None else None) or request.transaction_time,
        "engine": "store" if request.store is not None else request.engine,
        "workers": request.workers,
        "mrn_system": request.recipe.mrn_system,
    }
