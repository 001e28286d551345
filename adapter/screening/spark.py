"""The scale-out engine: PySpark DataFrames group the export by patient, the executors evaluate per partition.

1. Read: `spark.read.text` over the plain NDJSON files (splittable: many tasks per large file, no task per file),
   each line parsed once by `from_json` against a schema of the key elements (`spark_routing`, generated from
   the routing declaration). A file Spark must not read whole (gzip — a truncated one fails the job —, over the
   file cap, a name Hadoop would read as a glob) or that has a line the expressions flag goes through the
   project's Python reader (`source.read_lines` + `routing.route`, one task per such file): its error lines are
   reported with their numbers, exactly as in the local engine.
2. Group: Medications joined to the patients whose orders reference them (a DataFrame join on ids), the lines no
   selected trial reads (`selection`) kept only as a count, then one shuffle by patient key with each partition
   sorted by key.
3. Evaluate: each sorted partition is walked patient by patient in the executors (`screen_patient`, the job built
   once per Python worker: `executor.job_for`); outcomes stream back to the driver into the same outputs.

`local[N]` by default; `--spark-master` for a cluster, whose executors must have this package installed and
see the export directory at the same path (a shared file system): docs/screening.md.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.errors import AdapterError
from adapter.limits import MAX_RESOURCES_PER_PATIENT
from adapter.screening.executor import job_for
from adapter.screening.patient import JobRecipe, PatientLines, PatientScreening, screen_patient
from adapter.screening.progress import Progress
from adapter.screening.routing import READ_TYPES, Problem, Routed, Skipped, problem_line, route, unreadable_claims
from adapter.screening.selection import KEEP_ALL, Selection, selection_for
from adapter.screening.source import ExportFiles, FileProblem, LineProblem, ReadLimits, read_lines
from adapter.screening.spark_routing import route_stages

if TYPE_CHECKING:
    from adapter.screening.outputs import ScreeningOutputs

DRIVER_MEMORY = "2g"
PARTITION_BYTES = 32 << 20  # of input per group partition: a partition's results travel back in one piece


class SparkUnavailable(AdapterError):
    """pyspark is not installed, or Spark (its JVM, the cluster) could not be started."""


# Tagged records of the Python reader's pass: an error line, or a routed row.
_ERROR, _ROW = "E", "R"


def run_spark(files: ExportFiles, recipe: JobRecipe, outputs: ScreeningOutputs, *, workers: int,
              master: str | None, progress: Progress) -> None:
    spark = start_session(master or f"local[{max(1, workers)}]", outputs.scratch_dir / "spark")
    try:
        _run(spark, files, recipe, outputs, workers, progress)
    finally:
        spark.stop()


def start_session(master: str, local_dir: Path | None) -> Any:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable("the Spark engine needs pyspark: pip install 'trial-fhir-adapter[spark]'") from None
    if _java() is None:  # found before PySpark's launcher would print its own errors
        raise SparkUnavailable("the Spark engine needs Java 17 or later: no java in JAVA_HOME or on PATH")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter (local mode)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    loopback = master.startswith(("local", "spark://127.0.0.1:", "spark://localhost:"))
    if loopback:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # servers listen on loopback only
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("trial-adapter screen")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
        # The shuffle by patient must keep its partitions: adaptive execution would merge a small export's into
        # one, and one Python worker would screen every patient while the other cores wait.
        .config("spark.sql.adaptive.coalescePartitions.enabled", "false")
        # In local mode the executors live in the driver's JVM: its heap holds the tasks' results on their way
        # back (the default 1g ran out at 100k patients); partitions are kept small besides (see _partitions).
        .config("spark.driver.memory", DRIVER_MEMORY)
    )
    if local_dir is not None:
        builder = builder.config("spark.local.dir", str(local_dir))
    if loopback:  # the driver is reached on loopback too (a one-machine standalone cluster: the tests)
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

    progress.stage("files read", len(files.files))
    chosen = selection_for(outputs.trials)
    fast, slow = _split(files)
    frames: list[Any] = []
    persisted: list[Any] = []
    if fast:
        frame = spark.read.option("lineSep", "\n").text([str(p) for p in fast]).selectExpr(
            "_metadata.file_path AS file", "value AS line")
        for stage in route_stages(files.limits.max_line_bytes, chosen):
            frame = frame.selectExpr(*stage)
        frame = frame.drop("j") if "j" in frame.columns else frame
        frame = frame.where("problem IS DISTINCT FROM 'blank'").persist(StorageLevel.DISK_ONLY)
        persisted.append(frame)
        flagged = [row["file"] for row in frame.where("problem IS NOT NULL").select("file").distinct().collect()]
        by_path = {str(p.absolute()): p for p in fast}
        slow += sorted(by_path[_local_path(uri)] for uri in flagged)
        frames.append(frame.where("problem IS NULL").where(~_column("file").isin(flagged)))
    progress.advance(len(files.files) - len(slow))
    if slow:
        frames.append(_read_in_python(spark, slow, files.limits, chosen, outputs))
    progress.advance(len(slow))
    if not frames:
        return
    routed = frames[0]
    for other in frames[1:]:
        routed = routed.unionByName(other)
    read = ", ".join(f"'{t}'" for t in sorted(READ_TYPES))
    for row in routed.where(f"rtype NOT IN ({read})").groupBy("rtype").count().orderBy("rtype").collect():
        outputs.skipped(row["rtype"], row["count"])
    usable = routed.where(f"rtype IN ({read}) OR rtype IS NULL")  # NULL: an unreadable line's marker
    refs = usable.where("med_ref IS NOT NULL").selectExpr("key", "med_ref").distinct()
    medications = usable.where("rtype = 'Medication'").selectExpr("med_id", "line AS med_line")
    joined = refs.join(medications, refs["med_ref"] == medications["med_id"]).selectExpr("key", "med_line AS line")
    lines = usable.where("key IS NOT NULL").selectExpr("key", "CASE WHEN wanted THEN line END AS line").unionByName(
        joined)
    partitions = _partitions(files, workers, spark.sparkContext.defaultParallelism)
    ordered = lines.repartition(partitions, "key").sortWithinPartitions("key")
    broadcast = spark.sparkContext.broadcast(recipe)
    cap = MAX_RESOURCES_PER_PATIENT
    screened = ordered.rdd.mapPartitions(lambda rows: screen_partition(broadcast.value, _groups(rows, cap)))
    # Every partition is screened at once (one job, all cores) into the executors' disks; then the outcomes
    # stream to the driver a partition at a time (toLocalIterator alone would run one partition per job).
    screened = screened.persist(StorageLevel.DISK_ONLY)
    persisted.append(screened)
    progress.stage("patients evaluated", None)
    try:
        screened.count()
        for screening in screened.toLocalIterator(prefetchPartitions=True):
            outputs.patient(screening)
            progress.advance(1)
    finally:
        for frame in persisted:
            frame.unpersist()


def _partitions(files: ExportFiles, workers: int, parallelism: int) -> int:
    """Enough partitions that each holds ~PARTITION_BYTES of input (gzip counted at 8×), at least 2 per core."""
    size = 0
    for path in files.files:
        try:
            size += path.stat().st_size * (8 if path.name.endswith(".gz") else 1)
        except OSError:
            continue
    return max(2 * max(1, workers), parallelism, size // PARTITION_BYTES + 1)


def _column(name: str) -> Any:
    from pyspark.sql.functions import col

    return col(name)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9._/+=@%-]+")  # nothing Hadoop reads as a glob or a URI part


def _split(files: ExportFiles) -> tuple[list[Path], list[Path]]:
    """(files Spark reads, files the Python reader takes): gzip, over the file cap, an unusual name."""
    fast: list[Path] = []
    slow: list[Path] = []
    for path in files.files:
        try:
            size = os.stat(path, follow_symlinks=False).st_size
        except OSError:
            size = files.limits.max_file_bytes + 1  # the Python reader says why it cannot be read
        plain = _PLAIN_NAME.fullmatch(str(path.absolute())) and not path.name.endswith(".gz")
        (fast if plain and size <= files.limits.max_file_bytes else slow).append(path)
    return fast, slow


def _local_path(uri: str) -> str:
    """The path of a `file:` URI as Spark gives it (`file:/a/b` or `file:///a/b`); the names it reads are plain
    (`_PLAIN_NAME`), so nothing is percent-encoded."""
    path = uri.removeprefix("file:")
    return "/" + path.lstrip("/") if path.startswith("/") else path


def _read_in_python(spark: Any, paths: list[Path], limits: ReadLimits, chosen: Selection,
                    outputs: ScreeningOutputs) -> Any:
    """The Python reader over `paths`, one task per file: error lines to the outputs, routed rows as a frame."""
    from pyspark import StorageLevel

    sc = spark.sparkContext
    names = [str(p) for p in paths]
    records = sc.parallelize(names, len(names)).flatMap(lambda p: route_file(p, limits, chosen))
    records = records.persist(StorageLevel.DISK_ONLY)
    for record in records.filter(lambda r: r[0] == _ERROR).toLocalIterator():
        outputs.error(record[1])
    rows = records.filter(lambda r: r[0] != _ERROR).map(lambda r: r[1])
    return spark.createDataFrame(rows, _ROW_SCHEMA).persist(StorageLevel.DISK_ONLY)


_ROW_SCHEMA = ("file STRING, line STRING, rtype STRING, key STRING, med_id STRING, med_ref STRING, problem STRING, "
               "wanted BOOLEAN")


def _groups(rows: Iterable[Any], cap: int) -> Iterator[tuple[str, PatientLines]]:
    """(patient key, their lines) from a partition sorted by key; a line of None is one left out (counted); past
    `cap` lines nothing more is kept — the record is reported as too large, not loaded."""
    key: str | None = None
    kept: list[str] = []
    total = 0
    for row in rows:
        row_key, line = row[0], row[1]
        if row_key != key:
            if key is not None:
                yield key, PatientLines(kept if total <= cap else [], total)
            key, kept, total = row_key, [], 0
        total += 1
        if line is not None and total <= cap:
            kept.append(line)
    if key is not None:
        yield key, PatientLines(kept if total <= cap else [], total)


def route_file(path: str, limits: ReadLimits | None = None, chosen: Selection = KEEP_ALL) -> Iterator[tuple[Any, ...]]:
    """The Python reader's routing pass over one file (runs in an executor): (_ERROR, an errors.ndjson line) or
    (_ROW, a row of _ROW_SCHEMA). The same reader and checks as the local engine: a regular file only, lines and
    the file under `limits`; an unreadable line's patients get a marker row (reported, not screened)."""
    for item in read_lines(Path(path), limits):
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
            if routed.kind == "unreadable-line":
                for patient, marker in unreadable_claims(raw, path, number):
                    yield _ROW, (path, marker, None, patient, None, None, None, True)
        elif isinstance(routed, Skipped):
            yield _ROW, (path, None, routed.resource_type, None, None, None, None, False)
        elif isinstance(routed, Routed):
            wanted = routed.resource_type != "Observation" or chosen.keeps_observation(raw)
            yield _ROW, (path, raw.decode("utf-8"), routed.resource_type, routed.key, routed.medication_id,
                         routed.medication_ref, None, wanted)


def screen_partition(recipe: JobRecipe, groups: Iterable[tuple[str, Sequence[str | bytes]]]
                     ) -> Iterator[PatientScreening]:
    job = job_for(recipe)  # an executor's Python worker builds it once (workers are reused)
    for key, lines in groups:
        yield screen_patient(job, key, lines)
