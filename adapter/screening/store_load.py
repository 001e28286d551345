"""Loading an export into the store's routing table: the local engine's loader (`local._load`: DuckDB's fast
path, the Python reader for the files it cannot take, every bad line reported) with one difference — every line
keeps its text. The engine leaves out the text of Observations no selected trial reads; the store must keep
them, since the next run may screen a trial that reads them.

It calls the engine's own loader so that routing and error lines stay the engine's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapter.screening.selection import KEEP_ALL

if TYPE_CHECKING:
    import duckdb

    from adapter.screening.outputs import ScreeningOutputs
    from adapter.screening.progress import Progress
    from adapter.screening.source import ExportFiles


def load_every_line(con: duckdb.DuckDBPyConnection, files: ExportFiles, outputs: ScreeningOutputs,
                    progress: Progress) -> None:
    """The table `routed` (as the local engine makes it) from `files`, every usable line with its text."""
    from adapter.screening.local import load_routed

    load_routed(con, files, outputs, progress, KEEP_ALL)
