"""Progress of a screening on stderr: a bar per stage (files read, patients evaluated) with rate and ETA when
stderr is a terminal (rich), nothing otherwise; the engines only call `stage` and `advance`."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Protocol


class Progress(Protocol):
    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...


class NoProgress:
    """For pipes, logs and tests: the engines report, nobody draws."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


class TerminalProgress:
    """rich's progress bars on stderr; use as a context manager."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._progress = RichProgress(
            TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self._task: Any = None

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._progress.stop()

    def stage(self, name: str, total: int | None) -> None:
        self._task = self._progress.add_task(name, total=total, rate="")

    def advance(self, count: int) -> None:
        if self._task is None:
            return
        self._progress.advance(self._task, count)
        speed = self._progress.tasks[self._task].speed
        self._progress.update(self._task, rate=f"{speed:,.0f}/s" if speed else "")


def progress_for_stderr() -> TerminalProgress | NoProgress:
    return TerminalProgress() if sys.stderr.isatty() else NoProgress()
