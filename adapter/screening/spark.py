"""The scale-out engine: PySpark runs the same evaluation as a grouped map over patients.

Each file is read by one task with the project's Python reader (`source.read_lines` + `routing.route`), so a
truncated gzip or a bad line is an error line with its number, exactly as in the local engine; lines are keyed
by patient, Medications joined to the patients whose orders reference them, grouped (`groupByKey`, Spark's
shuffle spills to disk) and each group screened by `patient.screen_patient` in the executors, which build their
job once from the recipe. Results stream back to the driver partition by partition (`toLocalIterator`) into
the same outputs as the local engine.

`local[N]` by default; `--spark-master` for a cluster, whose executors must have this package installed and
see the export directory at the same path (a shared file system).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from operator import add
from typing import TYPE_CHECKING, Any

from adapter.errors import AdapterError
from adapter.screening.patient import JobRecipe, PatientScreening, ScreeningJob, screen_patient
from adapter.screening.progress import Progress
from adapter.screening.routing import Problem, Routed, Skipped, problem_line, route, unreadable_claims
from adapter.screening.source import ExportFiles, FileProblem, LineProblem, ReadLimits, read_lines

if TYPE_CHECKING:
    from adapter.screening.outputs import ScreeningOutputs

DRIVER_MEMORY = "2g"
PARTITION_BYTES = 32 << 20  # of input per group partition: a partition's results travel back in one piece


class SparkUnavailable(AdapterError):
    """pyspark is not installed, or Spark (its JVM, the cluster) could not be started."""


# Tagged records of the routing pass (one RDD, persisted, read by three actions).
_ERROR, _SKIPPED, _ROW, _MEDICATION, _MEDICATION_REF = "E", "S", "R", "M", "U"


def run_spark(files: ExportFiles, recipe: JobRecipe, outputs: ScreeningOutputs, *, workers: int,
              master: str | None, progress: Progress) -> None:
    spark = _session(master or f"local[{max(1, workers)}]", outputs)
    try:
        _run(spark, files, recipe, outputs, workers, progress)
    finally:
        spark.stop()


def _session(master: str, outputs: ScreeningOutputs) -> Any:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable("the Spark engine needs pyspark: pip install 'trial-fhir-adapter[spark]'") from None
    if _java() is None:  # found before PySpark's launcher would print its own errors
        raise SparkUnavailable("the Spark engine needs Java 17 or later: no java in JAVA_HOME or on PATH")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter (local mode)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # servers listen on loopback only
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("trial-adapter screen")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.local.dir", str(outputs.scratch_dir / "spark"))
        .config("spark.python.worker.reuse", "true")
        # In local mode the executors live in the driver's JVM: its heap holds the tasks' results on their way
        # back (the default 1g ran out at 100k patients); partitions are kept small besides (see _partitions).
        .config("spark.driver.memory", DRIVER_MEMORY)
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # no Java, a master that does not answer: PySpark's own errors, one line here
        raise SparkUnavailable(f"Spark could not start ({' '.join(str(exc).split())[:300]})") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _java() -> str | None:
    import shutil
    from pathlib import Path

    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return str(java) if java.is_file() else None
    return shutil.which("java")


def _run(spark: Any, files: ExportFiles, recipe: JobRecipe, outputs: ScreeningOutputs, workers: int,
         progress: Progress) -> None:
    from pyspark import StorageLevel

    sc = spark.sparkContext
    paths = [str(p) for p in files.files]
    progress.stage("files read", len(paths))
    limits = files.limits
    routed = sc.parallelize(paths, len(paths)).flatMap(lambda p: route_file(p, limits))
    routed = routed.persist(StorageLevel.DISK_ONLY)
    try:
        for record in routed.filter(lambda r: r[0] == _ERROR).toLocalIterator():
            outputs.error(record[1])
        for resource_type, count in sorted(
            routed.filter(lambda r: r[0] == _SKIPPED).map(lambda r: (r[1], 1)).reduceByKey(add).collect()
        ):
            outputs.skipped(resource_type, count)
        progress.advance(len(paths))
        rows = routed.filter(lambda r: r[0] == _ROW).map(lambda r: (r[1], r[2]))
        medications = routed.filter(lambda r: r[0] == _MEDICATION).map(lambda r: (r[1], r[2]))
        references = routed.filter(lambda r: r[0] == _MEDICATION_REF).map(lambda r: (r[2], r[1])).distinct()
        medication_rows = references.join(medications).map(lambda kv: kv[1])  # (patient key, Medication line)
        partitions = _partitions(files, workers, sc.defaultParallelism)
        groups = rows.union(medication_rows).groupByKey(partitions)
        broadcast = sc.broadcast(recipe)
        screened = groups.mapPartitions(lambda part: screen_partition(broadcast.value, part))
        progress.stage("patients evaluated", None)
        for screening in screened.toLocalIterator(prefetchPartitions=True):
            outputs.patient(screening)
            progress.advance(1)
    finally:
        routed.unpersist()


def _partitions(files: ExportFiles, workers: int, parallelism: int) -> int:
    """Enough partitions that each holds ~PARTITION_BYTES of input (gzip counted at 8×), at least 2 per core."""
    size = 0
    for path in files.files:
        try:
            size += path.stat().st_size * (8 if path.name.endswith(".gz") else 1)
        except OSError:
            continue
    return max(2 * max(1, workers), parallelism, size // PARTITION_BYTES + 1)


def route_file(path: str, limits: ReadLimits | None = None) -> Iterator[tuple[Any, ...]]:
    """The routing pass over one file, as tagged records (runs in an executor). The same reader and checks as
    the local engine: a regular file only, lines and the file under `limits`."""
    for item in read_lines(_path(path), limits):
        if isinstance(item, FileProblem):
            yield _ERROR, {"kind": "unreadable-file", "file": path, "line": item.line, "reason": item.reason}
            continue
        if isinstance(item, LineProblem):
            yield _ERROR, item.error_line(path)
            continue
        number, raw = item
        routed = route(raw)
        if routed is None:
            continue
        if isinstance(routed, Problem):
            yield _ERROR, problem_line(routed, path, number, raw)
            if routed.kind == "unreadable-line":  # its patients are reported, not screened without it
                for patient, marker in unreadable_claims(raw, path, number):
                    yield _ROW, patient, marker
        elif isinstance(routed, Skipped):
            yield _SKIPPED, routed.resource_type
        elif isinstance(routed, Routed):
            line = raw.decode("utf-8")  # route() parsed it: it is UTF-8
            if routed.key is None:
                yield _MEDICATION, routed.medication_id, line
            else:
                yield _ROW, routed.key, line
                if routed.medication_ref:
                    yield _MEDICATION_REF, routed.key, routed.medication_ref


def _path(path: str) -> Any:
    from pathlib import Path

    return Path(path)


# An executor's Python worker builds the job once per recipe and keeps it (workers are reused).
_EXECUTOR_JOBS: dict[JobRecipe, ScreeningJob] = {}


def screen_partition(recipe: JobRecipe, groups: Iterable[tuple[str, Iterable[str]]]) -> Iterator[PatientScreening]:
    job = _EXECUTOR_JOBS.get(recipe)
    if job is None:
        job = _EXECUTOR_JOBS[recipe] = recipe.build()
    for key, lines in groups:
        yield screen_patient(job, key, list(lines))
