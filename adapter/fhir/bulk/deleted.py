"""The manifest's `deleted` files: which resources were deleted since `_since`.

Each line of such a file is a transaction Bundle whose entries have `request.method` DELETE and `request.url`
`Type/id` (Bulk Data IG v2 and later). The references are collected in order, each once. Anything else — a line
that is not JSON or not a Bundle, an entry that is not a DELETE, a URL that is not `Type/id` — is one error line,
never a crash; the other lines are still read. More than MAX_DELETED references fail the export: a deletion
dropped silently would keep a removed resource in a patient's record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeGuard

from adapter.fhir.bulk.model import FHIR_ID, RESOURCE_TYPE, BulkExportError
from adapter.http import clean_text
from adapter.jsonio import JsonInputError, parse_json

MAX_DELETED_LINE_BYTES = 64 << 20  # one Bundle line (a server may put many deletions in one Bundle)
MAX_DELETED = 5_000_000  # references kept in memory (a few hundred MB at most)
MAX_DELETED_ERRORS = 100  # error lines kept; the files stay on disk


def read_deleted(files: Iterable[Path]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The `Type/id` references deleted (in order, each once) and the error lines, from the `deleted` files."""
    found: dict[str, None] = {}
    errors: list[str] = []
    for path in files:
        with path.open("rb") as stream:
            for number, line in _lines(stream):
                where = f"deleted/{path.name} line {number}"
                for reference, error in _references(line, where):
                    if error is not None:
                        if len(errors) < MAX_DELETED_ERRORS:
                            errors.append(error)
                        continue
                    found[reference] = None
                    if len(found) > MAX_DELETED:
                        raise BulkExportError(None, f"more than {MAX_DELETED} deleted resources in the manifest's "
                                                    "deleted files; not read")
    return tuple(found), tuple(errors)


def _references(line: bytes | None, where: str) -> Iterator[tuple[str, str | None]]:
    """(reference, None) per DELETE entry of the Bundle on `line`; ("", error) for what is not one."""
    if line is None:
        yield "", f"{where}: a line longer than {MAX_DELETED_LINE_BYTES} bytes (not read)"
        return
    try:
        bundle = parse_json(line, where, max_bytes=MAX_DELETED_LINE_BYTES)
    except JsonInputError as exc:
        yield "", clean_text(str(exc), 200)
        return
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        yield "", f"{where}: not a Bundle"
        return
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        yield "", f"{where}: a Bundle without entries"
        return
    for n, entry in enumerate(entries):
        request: Any = entry.get("request") if isinstance(entry, dict) else None
        method = request.get("method") if isinstance(request, dict) else None
        url = request.get("url") if isinstance(request, dict) else None
        if method != "DELETE":
            yield "", f"{where} entry {n}: request.method is {clean_text(repr(method), 40)}, not DELETE"
        elif not _is_reference(url):
            yield "", f"{where} entry {n}: request.url {clean_text(repr(url), 80)} is not Type/id"
        else:
            yield url, None


def _is_reference(url: Any) -> TypeGuard[str]:
    if not isinstance(url, str):
        return False
    kind, slash, ident = url.partition("/")
    return bool(slash) and RESOURCE_TYPE.fullmatch(kind) is not None and FHIR_ID.fullmatch(ident) is not None


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Non-blank lines with their numbers; None for a line over MAX_DELETED_LINE_BYTES (skipped, never held)."""
    number = 0
    while raw := stream.readline(MAX_DELETED_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_DELETED_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(MAX_DELETED_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        elif raw.strip():
            yield number, raw
