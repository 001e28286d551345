"""The manifest of a Bulk Data export (complete, or one page of several), and the file names its files are
stored under.

Since STU3 (`organizeOutputBy`) an `output` entry may have no `type`, or a type that does not describe a file
holding whole patients' blocks: such files are named `output.ndjson`, `output.2.ndjson`, …; otherwise
`<Type>.ndjson`, `<Type>.2.ndjson`, … as servers write them. With `allowPartialManifests` a manifest may link
(`link`, relation `next`) to the next one; `deleted` lists files of transaction Bundles of DELETE requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from adapter.fhir.bulk.model import RESOURCE_TYPE, BulkExportError
from adapter.http import clean_text, join_raw

ORGANIZED_STEM = "output"  # files of mixed types (organized by patient, or without a type)


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One manifest entry: its resource type (None: not given), URL, and the file its last block continues in."""

    type: str | None
    url: str
    continues_in: str | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    transaction_time: str | None
    request: str
    requires_access_token: bool
    output: tuple[OutputFile, ...]
    error: tuple[OutputFile, ...]
    deleted: tuple[OutputFile, ...] = ()
    organized_by: str | None = None  # `outputOrganizedBy`, e.g. "Patient"
    next_url: str | None = None  # `link` relation "next": the next page of the manifest


@dataclass
class Namer:
    """File names in arrival order across every page of a manifest: `<stem>.ndjson`, `<stem>.2.ndjson`, …"""

    seen: Counter[str] = field(default_factory=Counter)

    def name(self, stem: str) -> str:
        self.seen[stem] += 1
        return f"{stem}.ndjson" if self.seen[stem] == 1 else f"{stem}.{self.seen[stem]}.ndjson"


def parse_manifest(data: Any, page_url: str, where: str) -> Manifest:
    """The manifest in a status (or linked manifest) body; BulkExportError if it is not one.

    File and link URLs should be absolute; a relative one is resolved against `page_url` (dot segments kept, so
    the URL policy still refuses to send credentials along them).

    The type of each entry may become a file name, so when given it must be a plain resource type name (nothing
    that could point outside the directory).
    """
    if not isinstance(data, Mapping):
        raise BulkExportError(200, "the export manifest is not a JSON object", where=where)
    requires = data.get("requiresAccessToken", False)
    if not isinstance(requires, bool):
        raise BulkExportError(200, "the export manifest's requiresAccessToken is not true or false", where=where)
    when = data.get("transactionTime")
    request = data.get("request")
    organized = data.get("outputOrganizedBy")
    if organized is not None and not (isinstance(organized, str) and RESOURCE_TYPE.fullmatch(organized)):
        raise BulkExportError(200, "the export manifest's outputOrganizedBy is not a resource type", where=where)
    return Manifest(
        transaction_time=when if _text(when, 64) else None,
        request=request if _text(request, 8192) else "",
        requires_access_token=requires,
        output=_entries(data.get("output"), "output", page_url, where),
        error=_entries(data.get("error"), "error", page_url, where),
        deleted=_entries(data.get("deleted"), "deleted", page_url, where),
        organized_by=organized,
        next_url=_next(data.get("link"), page_url, where),
    )


def _entries(value: Any, key: str, page_url: str, where: str) -> tuple[OutputFile, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BulkExportError(200, f"the export manifest's {key!r} is not a list", where=where)
    files = []
    for n, entry in enumerate(value):
        kind = entry.get("type") if isinstance(entry, Mapping) else None
        url = entry.get("url") if isinstance(entry, Mapping) else None
        then = entry.get("continuesInFile") if isinstance(entry, Mapping) else None
        if (kind is not None and not (isinstance(kind, str) and RESOURCE_TYPE.fullmatch(kind))) \
                or not _text(url, 8192) or (then is not None and not _text(then, 8192)):
            shown = clean_text(repr(entry), 120)
            raise BulkExportError(
                200, f"the export manifest's {key}[{n}] needs a resource type and a url, got {shown}", where=where
            )
        files.append(OutputFile(kind, join_raw(page_url, url), join_raw(page_url, then) if then else None))
    return tuple(files)


def _next(value: Any, page_url: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BulkExportError(200, "the export manifest's 'link' is not a list", where=where)
    found = [link.get("url") for link in value if isinstance(link, Mapping) and link.get("relation") == "next"]
    if not found:
        return None
    if len(found) > 1 or not _text(found[0], 8192):
        raise BulkExportError(200, "the export manifest's 'link' needs one next link with a url", where=where)
    return join_raw(page_url, found[0])


def _text(value: Any, limit: int) -> TypeGuard[str]:
    """A non-empty string fit to be shown and sent on: printable (no control characters, no lone surrogates)."""
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()
