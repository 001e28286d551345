"""Loading an export into the store's routing table: the local engine's loader (`local._load`: DuckDB's fast
path, the Python reader for the files it cannot take, every bad line reported) with one difference — every line
keeps its text. The engine leaves out the text of Observations no selected trial reads; the store must keep
them, since the next run may screen a trial that reads them.

It calls the engine's own steps so that routing and error lines stay the engine's; when `local` offers its
loader with a `selection` parameter, this module becomes that one call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adapter.screening.selection import KEEP_ALL

if TYPE_CHECKING:
    import duckdb

    from adapter.screening.outputs import ScreeningOutputs
    from adapter.screening.progress import Progress
    from adapter.screening.source import ExportFiles


def load_every_line(con: duckdb.DuckDBPyConnection, files: ExportFiles, outputs: ScreeningOutputs,
                    progress: Progress) -> None:
    """The table `routed` (as `local._load` makes it) from `files`, every usable line with its text."""
    import duckdb

    from adapter.screening.local import (
        _insert,
        _load_through_python,
        _python_only,
        _report_rows,
        literal_path,
    )

    con.execute("CREATE TABLE routed (file VARCHAR, line VARCHAR, rtype VARCHAR, key VARCHAR, med_id VARCHAR, "
                "med_ref VARCHAR, problem VARCHAR, wanted BOOLEAN)")
    progress.stage("files read", len(files.files))
    max_line = files.limits.max_line_bytes
    fallback = _python_only(con, files)
    fast = [p for p in files.files if p not in fallback]
    try:
        if fast:
            _insert(con, [literal_path(p) for p in fast], max_line, KEEP_ALL)
    except duckdb.Error:  # a file DuckDB cannot take: find which, one at a time
        con.execute("DELETE FROM routed")
        for path in fast:
            try:
                _insert(con, [literal_path(path)], max_line, KEEP_ALL)
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
                             KEEP_ALL)
        progress.advance(1)
    _report_rows(con, outputs)
