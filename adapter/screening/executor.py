"""The one executor: already-grouped patients (id, that patient's raw NDJSON lines) through a pool of worker
processes into the outputs. Every grouping step (DuckDB's ORDER BY, a screening store's table) ends here; the
Spark engine's executors use the same per-process job cache (`job_for`) and the same `screen_group`.

Memory does not follow the population: batches are cut by patients and by bytes, and at most a few batches per
worker are in flight. The pool starts before the first group is asked for, so a lazy `groups` (one that loads
and sorts an export first) overlaps with the workers' start-up (import, catalog).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TYPE_CHECKING

from adapter.errors import AdapterError
from adapter.screening.patient import JobRecipe, PatientScreening, ScreeningJob, screen_patient
from adapter.screening.progress import Progress

if TYPE_CHECKING:
    from adapter.screening.outputs import ScreeningOutputs

BATCH_PATIENTS = 32
BATCH_BYTES = 16 << 20  # a batch is cut at whichever comes first: a few Synthea patients are this big
IN_FLIGHT_PER_WORKER = 3  # batches queued per worker: enough to keep it busy, few enough to bound memory

Group = tuple[str, Sequence[str | bytes]]  # Sequence[bytes] and list[str] both fit (Sequence is covariant)


class ScreeningAborted(AdapterError):
    """The run could not go on (a worker process died)."""


def screen_groups(groups: Iterable[Group], recipe: JobRecipe,
                  outputs: ScreeningOutputs, *, workers: int, progress: Progress) -> None:
    """Screen each (patient id, lines) of `groups` — the patient's Patient line, every line referring to them
    and the Medications their orders reference — and write each outcome to `outputs`, advancing `progress`
    by one per patient (the caller names the stage and its total, when it knows it). Outcomes arrive in
    batch-completion order; the outputs sort what must be sorted. `workers` ≤ 1 screens in this process."""
    with worker_pool(recipe, workers) as pool:
        if pool is None:  # in this process: no pickling, no second interpreter
            job = recipe.build()
            for batch in batches(groups):
                for screening in screen_batch_with(job, batch):
                    outputs.patient(screening)
                progress.advance(len(batch))
            return
        pending: set[Future[list[PatientScreening]]] = set()
        for batch in batches(groups):
            pending.add(pool.submit(_screen_batch, batch))
            if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                pending = _collect(pending, outputs, progress, FIRST_COMPLETED)
        _collect(pending, outputs, progress, None)


def batches(groups: Iterable[Group]) -> Iterator[list[Group]]:
    """Consecutive groups, at most BATCH_PATIENTS patients or about BATCH_BYTES of lines per batch."""
    batch: list[Group] = []
    size = 0
    for group in groups:
        batch.append(group)
        size += sum(len(line) for line in group[1])
        if len(batch) >= BATCH_PATIENTS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


@contextmanager
def worker_pool(recipe: JobRecipe, workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """The worker processes, started now; None when one worker is asked for (it runs in this process)."""
    if workers <= 1:
        yield None
        return
    # spawn, not fork: the caller may have DuckDB's (or the JVM gateway's) threads running, and a forked child
    # could inherit a held lock
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(recipe,)) as pool:
        for _ in range(workers):
            pool.submit(_ready)
        yield pool


def _ready() -> None:
    """A no-op task: submitting it starts a worker."""


def _collect(pending: set[Future[list[PatientScreening]]], outputs: ScreeningOutputs, progress: Progress,
             until: str | None) -> set[Future[list[PatientScreening]]]:
    done, rest = wait(pending, return_when=until or "ALL_COMPLETED")
    for future in done:
        try:
            screenings = future.result()
        except BrokenProcessPool as exc:  # killed (out of memory?) or could not start: stop, say so in one line
            raise ScreeningAborted(f"a screening worker process stopped ({exc}); results so far are in the "
                                   "output folder") from None
        for screening in screenings:
            outputs.patient(screening)
        progress.advance(len(screenings))
    return rest


def screen_batch_with(job: ScreeningJob, batch: Iterable[Group]) -> list[PatientScreening]:
    return [screen_patient(job, key, lines) for key, lines in batch]


# A worker process (a pool worker, a Spark executor's Python worker) builds the job once per recipe and keeps it.
_JOBS: dict[JobRecipe, ScreeningJob] = {}


def job_for(recipe: JobRecipe) -> ScreeningJob:
    job = _JOBS.get(recipe)
    if job is None:
        job = _JOBS[recipe] = recipe.build()
    return job


_WORKER_RECIPE: JobRecipe | None = None


def _start_worker(recipe: JobRecipe) -> None:
    global _WORKER_RECIPE
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER_RECIPE = recipe
    job_for(recipe)


def _screen_batch(batch: list[Group]) -> list[PatientScreening]:
    assert _WORKER_RECIPE is not None, "worker started without its job"
    return screen_batch_with(job_for(_WORKER_RECIPE), batch)
