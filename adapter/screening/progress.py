"""Progress of a screening on stderr: a bar per stage (files read, patients evaluated) with its rate in the
stage's own unit (patients/s) and the time left when the total is known, when stderr is a terminal (rich);
nothing otherwise. The engines only call `stage` and `advance`."""

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
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._progress = RichProgress(
            TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("{task.fields[left]}"),
            console=Console(stderr=True), transient=False,
        )
        self._task: Any = None
        self._unit = "items"

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._progress.stop()

    def stage(self, name: str, total: int | None) -> None:
        self._task = self._progress.add_task(name, total=total, rate="", left="")
        self._unit = name.split()[0]

    def advance(self, count: int) -> None:
        if self._task is None:
            return
        self._progress.advance(self._task, count)
        task = self._progress.tasks[self._task]
        rate, left = rate_and_time_left(task.completed, task.total, task.elapsed or 0.0, self._unit)
        self._progress.update(self._task, rate=rate, left=left)


def rate_and_time_left(done: float, total: float | None, elapsed_s: float, unit: str) -> tuple[str, str]:
    """("1,234 patients/s", "2:05 left") from the count so far, the stage's total (None: unknown, no time
    left is guessed) and the seconds since the stage began; empty strings until there is a rate."""
    if done <= 0 or elapsed_s <= 0:
        return "", ""
    speed = done / elapsed_s
    rate = f"{speed:,.1f} {unit}/s" if speed < 10 else f"{speed:,.0f} {unit}/s"
    if total is None or total <= 0:
        return rate, ""
    seconds = max(0, round((total - done) / speed))
    hours, rest = divmod(seconds, 3600)
    clock = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
    return rate, f"{clock} left"


def progress_for_stderr() -> TerminalProgress | NoProgress:
    return TerminalProgress() if sys.stderr.isatty() else NoProgress()
