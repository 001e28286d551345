"""One screening run: an export directory, an engine, the outputs. The CLI's `screen` is a thin shell on this."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from adapter.errors import AdapterError
from adapter.screening.outputs import ScreeningOutputs, ScreeningSummary
from adapter.screening.patient import JobRecipe
from adapter.screening.progress import NoProgress, Progress
from adapter.screening.source import ReadLimits, export_files

if TYPE_CHECKING:
    from adapter.catalog import Trial

Engine = Literal["local", "spark"]
ENGINES: tuple[Engine, ...] = ("local", "spark")


@dataclass(frozen=True)
class ScreenRequest:
    source: Path  # the export directory
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


def screen(request: ScreenRequest, trials: list[Trial], progress: Progress | None = None) -> ScreeningSummary:
    """Screen every patient of the export against `trials` (the recipe's trials, already loaded by the caller
    for the outputs) and write the outputs. Raises AdapterError for what stops the whole run."""
    if request.workers < 1:
        raise AdapterError(f"--workers must be at least 1, not {request.workers}")
    files = export_files(request.source, request.read_limits)
    progress = progress or NoProgress()
    outputs = ScreeningOutputs(request.out, trials, request.recipe.as_of, fhir_version=request.fhir_version,
                               report_candidates=request.report_candidates)
    started = datetime.now(UTC)
    for message in request.source_errors:
        outputs.error({"kind": "export-error", "reason": message})
    for refused in files.refused:  # symlinks, FIFOs, devices: named, never opened (either engine)
        outputs.error(refused.error_line())
    try:
        if request.engine == "local":
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
    meta = {
        "engine": request.engine,
        "source": request.source_label or str(request.source),
        "files": len(files.files),
        "transaction_time": files.transaction_time or request.transaction_time,
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
    }
    return outputs.finish(meta)
