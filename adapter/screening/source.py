"""A Bulk Data export on disk: which files it has, and reading them line by line without losing any.

Servers write one or more files per resource type — ``Patient.ndjson``, ``Observation.ndjson``,
``Observation.2.ndjson``, … — optionally gzip-compressed (``.ndjson.gz``). The type in a file's name is a hint
only: every line says its own ``resourceType``. A ``manifest.json`` beside them (the Bulk Data manifest the
export client keeps) is optional; when present it must be readable.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from adapter.errors import AdapterError

MANIFEST = "manifest.json"
SUFFIXES = (".ndjson", ".ndjson.gz")
_READ_CHUNK = 1 << 20


class ExportSourceError(AdapterError):
    """The export directory cannot be screened at all (missing, empty, unreadable manifest)."""


@dataclass(frozen=True, slots=True)
class ExportFiles:
    directory: Path
    files: tuple[Path, ...]
    manifest: dict[str, Any] | None = None

    @property
    def transaction_time(self) -> str | None:
        value = (self.manifest or {}).get("transactionTime")
        return value if isinstance(value, str) else None


def export_files(directory: Path) -> ExportFiles:
    """The NDJSON files of an export directory, in a stable order. Raises ExportSourceError."""
    if not directory.is_dir():
        raise ExportSourceError(f"--ndjson {directory}: no such directory")
    try:
        names = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
    except OSError as exc:
        raise ExportSourceError(f"--ndjson {directory}: cannot read ({exc.strerror})") from None
    manifest = _manifest(directory / MANIFEST)
    if not names:
        raise ExportSourceError(f"--ndjson {directory}: no .ndjson or .ndjson.gz files")
    return ExportFiles(directory, tuple(names), manifest)


def _manifest(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ExportSourceError(f"{path}: cannot read ({exc.strerror})") from None
    except orjson.JSONDecodeError as exc:
        raise ExportSourceError(f"{path}: not a Bulk Data manifest (not JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise ExportSourceError(f"{path}: not a Bulk Data manifest (no output list)")
    return data


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file stopped being readable at `line` (a truncated gzip stream, a read error)."""

    line: int
    reason: str


def read_lines(path: Path) -> Iterator[tuple[int, bytes] | FileProblem]:
    """(line number, bytes) for every non-blank line; a FileProblem where the file stops being readable (what
    was read before it is kept). Bytes, not text: a line that is not UTF-8 is the parser's error, per line."""
    number = 0
    try:
        with _open(path) as stream:
            for number, raw in enumerate(stream, 1):
                if raw.strip():
                    yield number, raw.rstrip(b"\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield FileProblem(number + 1, f"compressed data ends or breaks here ({exc or type(exc).__name__})")
    except OSError as exc:
        yield FileProblem(number + 1, f"cannot read ({exc.strerror or exc})")


def _open(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb", buffering=_READ_CHUNK)
