"""The complete-status manifest of a Bulk Data export, and the file names its outputs are stored under."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from adapter.fhir.bulk.model import RESOURCE_TYPE, BulkExportError
from adapter.http import clean_text, join_raw


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One manifest entry and the name it is saved under (`<Type>.ndjson`, `<Type>.2.ndjson`, …)."""

    type: str
    url: str
    name: str


@dataclass(frozen=True, slots=True)
class Manifest:
    transaction_time: str | None
    request: str
    requires_access_token: bool
    output: tuple[OutputFile, ...]
    error: tuple[OutputFile, ...]


def parse_manifest(data: Any, status_url: str, where: str) -> Manifest:
    """The manifest in a complete-status body; BulkExportError if it is not one.

    File URLs should be absolute; a relative one is resolved against `status_url` (dot segments kept, so the
    URL policy still refuses to send credentials along them).

    The type of each entry becomes a file name, so it must be a plain resource type name (nothing that could
    point outside the directory).
    """
    if not isinstance(data, Mapping):
        raise BulkExportError(200, "the export manifest is not a JSON object", where=where)
    requires = data.get("requiresAccessToken", False)
    if not isinstance(requires, bool):
        raise BulkExportError(200, "the export manifest's requiresAccessToken is not true or false", where=where)
    when = data.get("transactionTime")
    request = data.get("request")
    return Manifest(
        transaction_time=when if _text(when, 64) else None,
        request=request if _text(request, 8192) else "",
        requires_access_token=requires,
        output=_entries(data.get("output"), "output", status_url, where),
        error=_entries(data.get("error"), "error", status_url, where),
    )


def _entries(value: Any, key: str, status_url: str, where: str) -> tuple[OutputFile, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BulkExportError(200, f"the export manifest's {key!r} is not a list", where=where)
    seen: Counter[str] = Counter()
    files = []
    for n, entry in enumerate(value):
        kind = entry.get("type") if isinstance(entry, Mapping) else None
        url = entry.get("url") if isinstance(entry, Mapping) else None
        if not isinstance(kind, str) or not RESOURCE_TYPE.fullmatch(kind) or not _text(url, 8192):
            shown = clean_text(repr(entry), 120)
            raise BulkExportError(
                200, f"the export manifest's {key}[{n}] needs a resource type and a url, got {shown}", where=where
            )
        seen[kind] += 1
        name = f"{kind}.ndjson" if seen[kind] == 1 else f"{kind}.{seen[kind]}.ndjson"
        files.append(OutputFile(kind, join_raw(status_url, url), name))
    return tuple(files)


def _text(value: Any, limit: int) -> TypeGuard[str]:
    """A non-empty string fit to be shown and sent on: printable (no control characters, no lone surrogates)."""
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()
