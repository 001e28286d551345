"""Files that identify patients, created readable by their owner only: the output folder 0700, each file 0600
from the moment it exists (os.open with the mode, then fchmod in case it existed with another mode)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from adapter.atomic import write_atomic

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> None:
    """Create `path` (and parents) with the folder made 0700; an existing folder is narrowed to 0700 too."""
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)


def private_open(path: Path, mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """`open(path, mode)` for writing, created 0600 (truncated if it exists)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def private_write_text(path: Path, text: str) -> None:
    """The whole file at once, 0600, atomically (a crash or an encoding error leaves no half-written report)."""
    write_atomic(path, text, mode=FILE_MODE)
