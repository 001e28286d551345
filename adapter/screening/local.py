"""The embedded engine: DuckDB groups the export by patient, spilling to disk, and a process pool evaluates.

1. Load: DuckDB reads every file as raw lines (its parallel CSV reader with a delimiter JSON cannot hold) and
   routes each line in SQL (`routing.route_sql`) into a table on disk. A file DuckDB cannot take whole (a
   truncated gzip, bytes that are not UTF-8), or that has lines the SQL flags, is read by the Python reader
   instead: its error lines are reported with their line numbers, the rest is written to a clean copy that
   DuckDB then loads — so every line is either screened or reported.
2. Group: one ORDER BY patient over the table (an external sort under DuckDB's memory limit), Medications
   joined to the patients whose orders reference them, streamed in chunks.
3. Evaluate: `executor.screen_groups` — batches of patients to worker processes (each builds its job once), a
   few batches in flight so memory does not follow the population.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.errors import AdapterError
from adapter.limits import MAX_RESOURCES_PER_PATIENT
from adapter.screening.executor import screen_groups
from adapter.screening.patient import JobRecipe, PatientLines
from adapter.screening.progress import Progress
from adapter.screening.routing import (
    READ_TYPES,
    Problem,
    Routed,
    Skipped,
    problem_line,
    route,
    route_sql,
    sql_literal,
    unreadable_claims,
)
from adapter.screening.selection import Selection, selection_for
from adapter.screening.source import (
    ExportFiles,
    FileProblem,
    LineProblem,
    ReadLimits,
    inflated_size_exceeds,
    read_lines,
)

if TYPE_CHECKING:
    import duckdb

    from adapter.screening.outputs import ScreeningOutputs

FETCH_ROWS = 20_000
_READ_CSV = ("read_csv({files}, columns = {{'line': 'VARCHAR'}}, delim = '\\x1f', quote = '', escape = '', "
             "header = false, auto_detect = false, filename = true, max_line_size = {max_line}, "
             "compression = 'auto')")
_GLOB = str.maketrans({"*": "[*]", "?": "[?]", "[": "[[]"})
_MAX_DEFLATE_RATIO = 1032  # deflate's ceiling: a gzip file of n bytes inflates to at most ~1032 n


def run_local(files: ExportFiles, recipe: JobRecipe, outputs: ScreeningOutputs, *, workers: int,
              memory_limit: str, progress: Progress) -> None:
    import duckdb

    database = outputs.scratch_dir / "screen.duckdb"
    con = duckdb.connect(str(database))
    try:
        con.execute(f"SET memory_limit = '{_setting(memory_limit)}'")
        con.execute(f"SET temp_directory = {sql_literal(str(outputs.scratch_dir / 'duckdb-tmp'))}")
        con.execute(f"SET threads = {max(1, workers)}")
        con.execute("SET preserve_insertion_order = false")
        # The executor starts its workers (import, build their job) before it asks for the first group: DuckDB
        # loads and sorts meanwhile, neither waits for the other.
        screen_groups(_loaded_groups(con, files, outputs, progress), recipe, outputs, workers=workers,
                      progress=progress)
    finally:
        con.close()
        database.unlink(missing_ok=True)


def _setting(value: str) -> str:
    if not value.replace(".", "").replace(" ", "").isalnum():
        raise AdapterError(f"--memory-limit {value!r} is not a size such as 2GB")
    return value


# --------------------------------------------------------------------------------------------------
# 1. Load
# --------------------------------------------------------------------------------------------------


def load_routed(con: duckdb.DuckDBPyConnection, files: ExportFiles, outputs: ScreeningOutputs,
                progress: Progress, selection: Selection | None = None) -> None:
    """The table `routed` from `files`: DuckDB's fast path, the Python reader for the files it cannot take, every
    bad line reported. `selection` says which lines keep their text (default: what the outputs' trials read; the
    screening store keeps every line, `selection.KEEP_ALL`, since a later run may screen a trial that reads it)."""
    import duckdb

    con.execute("CREATE TABLE routed (file VARCHAR, line VARCHAR, rtype VARCHAR, key VARCHAR, med_id VARCHAR, "
                "med_ref VARCHAR, problem VARCHAR, wanted BOOLEAN)")
    selection = selection if selection is not None else selection_for(outputs.trials)
    progress.stage("files read", len(files.files))
    max_line = files.limits.max_line_bytes
    fallback = _python_only(con, files)
    fast = [p for p in files.files if p not in fallback]
    try:
        if fast:
            _insert(con, [literal_path(p) for p in fast], max_line, selection)
    except duckdb.Error:  # a file DuckDB cannot take: find which, one at a time
        con.execute("DELETE FROM routed")
        for path in fast:
            try:
                _insert(con, [literal_path(path)], max_line, selection)
            except duckdb.Error:
                fallback.append(path)
    # Files with lines the SQL flags go through the Python reader too: it reports them with line numbers.
    fallback += sorted(Path(p) for p, in con.execute(
        "SELECT DISTINCT file FROM routed WHERE problem IS NOT NULL").fetchall())
    if fallback:
        con.execute("DELETE FROM routed WHERE file IN (SELECT unnest(?))", [[str(p) for p in fallback]])
    progress.advance(len(files.files) - len(fallback))
    for n, fallback_path in enumerate(fallback):
        _load_through_python(con, fallback_path, outputs, files.limits, outputs.scratch_dir / f"clean-{n}.ndjson",
                             selection)
        progress.advance(1)
    _report_rows(con, outputs)


def literal_path(path: Path) -> str:
    """`path` as a DuckDB glob that matches only itself: DuckDB expands `*`, `?` and `[…]` in every path it is
    given, so `MedicationStatement[s].ndjson` would read `MedicationStatements.ndjson` instead."""
    return str(path).translate(_GLOB)


def _python_only(con: duckdb.DuckDBPyConnection, files: ExportFiles) -> list[Path]:
    """Files the fast path must not read: a name DuckDB would not take literally, a file over the file cap
    (DuckDB cannot stop part-way; the Python reader stops at the cap and says so)."""
    cap = files.limits.max_file_bytes
    chosen: list[Path] = []
    inflate: list[Path] = []
    for path in files.files:
        found = [f for f, in con.execute("SELECT file FROM glob(?)", [literal_path(path)]).fetchall()]
        try:
            size = os.stat(path, follow_symlinks=False).st_size
        except OSError:
            size = cap + 1  # the Python reader reports why it cannot be read
        if found != [str(path)] or size > cap:
            chosen.append(path)
        elif path.name.endswith(".gz") and size * _MAX_DEFLATE_RATIO > cap:
            inflate.append(path)
    if inflate:  # a gzip file large enough to inflate past the cap is inflated once to count (zlib frees the GIL)
        with ThreadPoolExecutor(min(len(inflate), os.cpu_count() or 1)) as threads:
            over = threads.map(lambda p: inflated_size_exceeds(p, cap), inflate)
            chosen += [p for p, too_big in zip(inflate, over, strict=True) if too_big]
    return chosen


def _insert(con: duckdb.DuckDBPyConnection, paths: list[str], max_line: int, selection: Selection,
            label: str | None = None) -> None:
    source = _READ_CSV.format(files="?", max_line=int(max_line))
    select = route_sql(f"(SELECT {'?' if label else 'filename'} AS file, line FROM {source})", selection)
    params: list[Any] = [label, paths] if label else [paths]
    # Only the lines a patient's screening reads, or an error line shows, are stored: a skipped type or an
    # Observation no trial reads keeps its row (counted) without its text.
    read = ", ".join(sql_literal(t) for t in sorted(READ_TYPES))
    con.execute(f"INSERT INTO routed SELECT file, CASE WHEN problem IS NOT NULL OR (wanted AND rtype IN ({read})) "
                f"THEN line END, rtype, key, med_id, med_ref, problem, wanted FROM ({select})", params)


def _load_through_python(con: duckdb.DuckDBPyConnection, path: Path, outputs: ScreeningOutputs,
                         limits: ReadLimits, clean: Path, selection: Selection) -> None:
    """The Python reader for a file the fast path cannot take: errors with line numbers, the rest loaded."""
    import duckdb

    kept = 0
    with clean.open("wb") as sink:
        for item in read_lines(path, limits):
            if isinstance(item, FileProblem):
                outputs.error({"kind": "unreadable-file", "file": str(path), "line": item.line,
                               "reason": item.reason})
                continue
            if isinstance(item, LineProblem):
                outputs.error(item.error_line(str(path)))
                continue
            number, raw = item
            routed = route(raw)
            if isinstance(routed, Problem):
                outputs.error(problem_line(routed, str(path), number, raw))
                if routed.kind == "unreadable-line":
                    for patient, marker in unreadable_claims(raw, str(path), number):
                        con.execute("INSERT INTO routed VALUES (?, ?, NULL, ?, NULL, NULL, NULL, TRUE)",
                                    [str(path), marker, patient])
            elif isinstance(routed, Routed | Skipped):
                sink.write(raw + b"\n")
                kept += 1
    if kept:
        try:
            _insert(con, [literal_path(clean)], limits.max_line_bytes, selection, label=str(path))
        except duckdb.Error as exc:  # should not happen: the Python reader took every line it kept
            outputs.error({"kind": "unreadable-file", "file": str(path), "reason": f"not loaded ({exc})"})
    clean.unlink(missing_ok=True)


def _report_rows(con: duckdb.DuckDBPyConnection, outputs: ScreeningOutputs) -> None:
    """Lines the SQL still flags (only from clean copies, if ever) are errors; unread types are counted."""
    cursor = con.execute("SELECT file, line, problem FROM routed WHERE problem IS NOT NULL")
    while rows := cursor.fetchmany(FETCH_ROWS):
        for file, line, kind in rows:
            outputs.error(problem_line(Problem(kind, "not readable as a FHIR resource of a patient"), file, None,
                                       line))
    read = ", ".join(f"'{t}'" for t in sorted(READ_TYPES))
    for rtype, count in con.execute(f"SELECT rtype, count(*) FROM routed WHERE problem IS NULL AND rtype NOT IN "
                                    f"({read}) GROUP BY rtype ORDER BY rtype").fetchall():
        outputs.skipped(rtype, count)


# --------------------------------------------------------------------------------------------------
# 2. Group and 3. evaluate
# --------------------------------------------------------------------------------------------------

# Each patient's lines (their own, and the Medications their orders reference) with the count of all of them: a
# line no trial reads (`wanted` false, stored without its text) is counted, not fetched; a record over the cap, or
# with no line stored (no Patient: an "unknown patient"), is one row without a line (reported from its count).
_GROUPED = """
WITH usable AS (SELECT key, line, rtype, med_id, med_ref FROM routed WHERE problem IS NULL),
     refs AS (SELECT DISTINCT key, med_ref FROM usable WHERE med_ref IS NOT NULL),
     lines AS (SELECT key, line FROM usable WHERE key IS NOT NULL
               UNION ALL
               SELECT refs.key, m.line FROM refs JOIN usable m ON m.rtype = 'Medication' AND m.med_id = refs.med_ref),
     counted AS (SELECT key, count(*) AS total, count(line) AS stored FROM lines GROUP BY key)
SELECT l.key, l.line, c.total FROM lines l JOIN counted c ON l.key = c.key
WHERE c.total <= {cap} AND l.line IS NOT NULL
UNION ALL
SELECT key, NULL, total FROM counted WHERE total > {cap} OR stored = 0
ORDER BY 1
"""


def grouped(con: duckdb.DuckDBPyConnection, cap: int = MAX_RESOURCES_PER_PATIENT) -> Iterator[tuple[str, PatientLines]]:
    """(patient id, their lines), one patient at a time, from the routed table."""
    return patient_groups(con.execute(_GROUPED.format(cap=int(cap))))


def patient_groups(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, PatientLines]]:
    """(patient id, their lines) from a cursor over rows (patient, line or NULL, the record's size) ordered by
    patient: one patient at a time, whatever the population's size."""
    key: str | None = None
    lines: list[str] = []
    total = 0
    while rows := cursor.fetchmany(FETCH_ROWS):
        for row_key, line, row_total in rows:
            if row_key != key:
                if key is not None:
                    yield key, PatientLines(lines, total)
                key, lines, total = row_key, [], row_total
            if line is not None:
                lines.append(line)
    if key is not None:
        yield key, PatientLines(lines, total)


def _loaded_groups(con: duckdb.DuckDBPyConnection, files: ExportFiles, outputs: ScreeningOutputs,
                   progress: Progress) -> Iterator[tuple[str, PatientLines]]:
    """Load, then the patients one by one: lazy, so that the load runs when the executor first asks."""
    load_routed(con, files, outputs, progress)
    (patients,) = con.execute("SELECT count(DISTINCT key) FROM routed WHERE problem IS NULL").fetchone() or (0,)
    progress.stage("patients evaluated", patients)
    yield from grouped(con)
