"""A Bulk Data export on disk: which files it has, and reading them line by line without losing any.

Servers write one or more files per resource type — ``Patient.ndjson``, ``Observation.ndjson``,
``Observation.2.ndjson``, … — optionally gzip-compressed (``.ndjson.gz``). The type in a file's name is a hint
only: every line says its own ``resourceType``. A ``manifest.json`` beside them (the Bulk Data manifest the
export client keeps) is optional; when present it must be readable.

The folder is input like any other and may be hostile: only regular files inside it are read. A symbolic link
(wherever it points), a FIFO, a device or a socket is refused and never opened (``lstat`` when listing,
``O_NOFOLLOW | O_NONBLOCK`` and ``fstat`` when opening, so nothing swapped in between is read either). Lines and
files are read under caps (``ReadLimits``), gzip streamed through a bounded reader, so a small file that inflates
to gigabytes costs time, never memory.
"""

from __future__ import annotations

import errno
import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from adapter.errors import AdapterError
from adapter.jsonio import JsonInputError, parse_json

MANIFEST = "manifest.json"
SUFFIXES = (".ndjson", ".ndjson.gz")
MAX_LINE_BYTES = 64 << 20  # one resource; FHIR servers write far smaller ones
MAX_FILE_BYTES = 16 << 30  # one file, after decompression: past it, the rest of the file is not read
MAX_MANIFEST_BYTES = 16 << 20
_READ_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class ExportSourceError(AdapterError):
    """The export directory cannot be screened at all (missing, empty, unreadable manifest)."""


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """How much one line and one file (decompressed) may hold; parameters so tests can make them small."""

    max_line_bytes: int = MAX_LINE_BYTES
    max_file_bytes: int = MAX_FILE_BYTES


@dataclass(frozen=True, slots=True)
class RefusedFile:
    """An entry of the folder that looks like an export file but is not a regular file: never opened."""

    path: Path
    reason: str

    def error_line(self) -> dict[str, Any]:
        return {"kind": "refused-file", "file": str(self.path), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ExportFiles:
    directory: Path
    files: tuple[Path, ...]
    manifest: dict[str, Any] | None = None
    refused: tuple[RefusedFile, ...] = ()
    limits: ReadLimits = field(default_factory=ReadLimits)

    @property
    def transaction_time(self) -> str | None:
        value = (self.manifest or {}).get("transactionTime")
        # Shown in the report: a short printable string only (no lone surrogates, no control characters).
        return value if isinstance(value, str) and len(value) <= 64 and value.isprintable() else None


def export_files(directory: Path, limits: ReadLimits | None = None) -> ExportFiles:
    """The NDJSON files of an export directory, in a stable order, and the entries refused. Raises
    ExportSourceError."""
    if not directory.is_dir():
        raise ExportSourceError(f"--ndjson {directory}: no such directory")
    directory = directory.absolute()
    files: list[Path] = []
    refused: list[RefusedFile] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.name.endswith(SUFFIXES):
                    continue  # not an export file: never opened, never named
                why = not_regular(entry.stat(follow_symlinks=False).st_mode)
                if why:
                    refused.append(RefusedFile(directory / entry.name, f"{why}: refused, not opened"))
                else:
                    files.append(directory / entry.name)
    except OSError as exc:
        raise ExportSourceError(f"--ndjson {directory}: cannot read ({exc.strerror})") from None
    manifest = read_manifest(directory / MANIFEST)
    if not files:
        shown = "; ".join(f"{r.path.name} ({r.reason})" for r in sorted(refused, key=lambda r: r.path)[:3])
        detail = f" ({len(refused)} refused: {shown})" if refused else ""
        raise ExportSourceError(f"--ndjson {directory}: no .ndjson or .ndjson.gz files{detail}")
    return ExportFiles(directory, tuple(sorted(files)), manifest, tuple(sorted(refused, key=lambda r: r.path)),
                       limits or ReadLimits())


def not_regular(mode: int) -> str | None:
    """What an entry is when it is not a regular file ("a symbolic link", "a FIFO", …), else None."""
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a directory"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading if it is a regular file; OSError otherwise (a symlink is never followed, a FIFO
    never waited on)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW on a symlink: ELOOP (EMLINK on FreeBSD)
            raise OSError(exc.errno, "a symbolic link: refused, not opened") from None
        raise
    try:
        why = not_regular(os.fstat(fd).st_mode)
        if why:
            raise OSError(0, f"{why}: refused, not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=_READ_CHUNK)
    except BaseException:
        os.close(fd)
        raise


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest beside the files, read under a cap; None when there is none. Raises ExportSourceError."""
    try:
        with open_regular(path) as stream:
            content = stream.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExportSourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = parse_json(content, str(path), max_bytes=MAX_MANIFEST_BYTES)
    except JsonInputError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise ExportSourceError(f"{path}: not a Bulk Data manifest ({reason})") from None
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise ExportSourceError(f"{path}: not a Bulk Data manifest (no output list)")
    return data


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file stopped being readable at `line` (a truncated gzip stream, a read error, the file cap)."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class LineProblem:
    """One line that was not read (longer than the line cap); the lines after it are."""

    line: int
    reason: str

    def error_line(self, file: str) -> dict[str, Any]:
        return {"kind": "unreadable-line", "file": file, "line": self.line, "reason": self.reason}


def read_lines(path: Path, limits: ReadLimits | None = None) -> Iterator[tuple[int, bytes] | LineProblem | FileProblem]:
    """(line number, bytes) for every non-blank line; a LineProblem for a line over the cap (skipped, not kept
    in memory); a FileProblem where the file stops being readable (what was read before it is kept). Bytes, not
    text: a line that is not UTF-8 is the parser's error, per line."""
    limits = limits or ReadLimits()
    number = 0
    try:
        with open_regular(path) as raw, _decompressed(path, raw) as stream:
            for item in _lines(stream, limits):
                if isinstance(item, FileProblem):
                    yield item
                    return
                number = item[0] if isinstance(item, tuple) else item.line
                yield item
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield FileProblem(number + 1, f"compressed data ends or breaks here ({exc or type(exc).__name__})")
    except OSError as exc:
        yield FileProblem(number + 1, f"cannot read ({exc.strerror or exc})")


def _lines(stream: IO[bytes], limits: ReadLimits) -> Iterator[tuple[int, bytes] | LineProblem | FileProblem]:
    number = total = 0
    while raw := stream.readline(limits.max_line_bytes + 1):  # never more than the cap in memory
        number += 1
        total += len(raw)
        if len(raw) > limits.max_line_bytes and not raw.endswith(b"\n"):
            total += _skip_line(stream)
            if total <= limits.max_file_bytes:
                yield LineProblem(number, f"longer than {limits.max_line_bytes} bytes: not read")
        if total > limits.max_file_bytes:
            yield FileProblem(number, f"the file holds more than {limits.max_file_bytes} bytes (decompressed): "
                                      "this line and the rest are not read")
            return
        if len(raw) <= limits.max_line_bytes and raw.strip():
            yield number, raw.rstrip(b"\r\n")


def _skip_line(stream: IO[bytes]) -> int:
    """Read past the rest of an over-long line; the bytes skipped."""
    skipped = 0
    while chunk := stream.readline(_READ_CHUNK):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _decompressed(path: Path, raw: IO[bytes]) -> Any:
    if path.name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # inflates as read: readline(n) holds at most n bytes
    return _Same(raw)


class _Same:
    """`raw` itself as a context manager (the caller closes it)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw

    def __enter__(self) -> IO[bytes]:
        return self.raw

    def __exit__(self, *exc: object) -> None:
        return None


def inflated_size_exceeds(path: Path, limit: int) -> bool:
    """Whether a gzip file inflates to more than `limit` bytes (counted chunk by chunk, never kept); True if it
    cannot be read (the Python reader then says where it breaks)."""
    size = 0
    try:
        with open_regular(path) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            while chunk := stream.read(_READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    return True
    except (OSError, EOFError, zlib.error):
        return True
    return False
