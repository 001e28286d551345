"""What was deleted on a server since an instant: the Bulk Data manifest's `deleted` entries where the server
gives them, and the server's history (`GET [base]/_history?_since=…`, whose DELETE entries name each deleted
resource) — HAPI's `_since` export lists no deletions at all, so a patient whose only change is a deleted
Condition would otherwise never be screened again, and the exclusion it held would stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from adapter.errors import AdapterError
from adapter.fhir.paging import checked_link

if TYPE_CHECKING:
    from adapter.fhir.client import FhirClient

_MAX_PAGES = 10_000
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def deleted_since(client: FhirClient, since: str, types: Iterable[str]) -> list[str]:
    """`Type/id` of each resource of `types` deleted after `since`, from the server's history. A server
    without a system history raises AdapterError: deletions that cannot be seen must not pass silently."""
    wanted = set(types)
    found: set[str] = set()
    for entry in _history_entries(client, since):
        request: dict[str, Any] = entry["request"] if isinstance(entry.get("request"), dict) else {}
        if str(request.get("method", "")).upper() != "DELETE":
            continue
        ref = reference_of(str(request.get("url") or "")) or reference_of(str(entry.get("fullUrl") or ""))
        if ref is not None and ref.split("/")[0] in wanted:
            found.add(ref)
    return sorted(found)


def reference_of(url: str) -> str | None:
    """`Type/id` from a history entry's request URL or fullUrl (relative or absolute, `/_history/n` allowed)."""
    match = _REFERENCE.search(url.split("?")[0].rstrip("/"))
    return f"{match[1]}/{match[2]}" if match else None


def _history_entries(client: FhirClient, since: str) -> Iterator[dict[str, Any]]:
    url = str(httpx.URL(client.url("_history"), params={"_since": since, "_count": "1000"}))
    visited = {url}
    for _ in range(_MAX_PAGES):
        where = f"GET {url}"
        try:
            bundle = client._get(url)  # a history Bundle, not a searchset: not `walk`
        except AdapterError as exc:
            raise AdapterError(f"deletions since {since} cannot be read from the server's history ({exc}); "
                               "screen without --since (a full export) instead") from None
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "history":
            raise AdapterError(f"{where}: expected a history Bundle, got {bundle.get('resourceType')!r}")
        for entry in bundle.get("entry") or ():
            if isinstance(entry, dict):
                yield entry
        next_link = next((link.get("url") for link in bundle.get("link") or ()
                          if isinstance(link, dict) and link.get("relation") == "next"), None)
        if next_link is None:
            return
        url = checked_link(client.base_url, next_link, url, where)
        if url in visited:
            raise AdapterError(f"{where}: paging loop in the server's history")
        visited.add(url)
    raise AdapterError(f"more than {_MAX_PAGES} pages of history since {since}; screen without --since instead")
