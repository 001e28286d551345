"""Search results page by page: the matches of a searchset Bundle, and its next links, followed only under the base.

A next link is resolved without removing dot segments and then checked with `adapter.http.is_under`, the one URL
policy: a link leaving the base URL (another host, port, scheme or path, `..` in any spelling) is not followed,
so credentials never go anywhere else. A paging loop or too many pages are errors: a silently truncated result
would look complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from adapter.errors import FhirServerError, ForeignLinkError
from adapter.fhir.outcome import raise_unexpected
from adapter.http import is_under, join_raw
from adapter.http.transport import display

DEFAULT_MAX_PAGES = 1000

Fetch = Callable[[str], dict[str, Any]]


def walk(
    fetch: Fetch, base_url: str, url: str, bundle: dict[str, Any] | None, max_pages: int
) -> Iterator[dict[str, Any]]:
    """The matches of the page at `url` (`bundle` when already in hand), then of each next page, lazily."""
    visited = {url}
    pages = 0
    while True:
        where = f"GET {display(url)}"
        if bundle is None:
            bundle = fetch(url)
        pages += 1
        check_searchset(bundle, where)
        yield from matches(bundle)
        next_link = link(bundle, "next")
        if next_link is None:
            return
        next_url = checked_link(base_url, next_link, url, where)
        if next_url in visited:
            raise FhirServerError(None, f"paging loop: the next-page link {next_url} was already read", where=where)
        if pages >= max_pages:
            raise FhirServerError(None, f"more than {max_pages} pages of results; stopped", where=where)
        visited.add(next_url)
        url, bundle = next_url, None


def checked_link(base_url: str, value: Any, page_url: str, where: str) -> str:
    """The absolute URL of a next-page link, refused (ForeignLinkError) unless it is under `base_url`."""
    if not isinstance(value, str) or not value.strip():
        raise FhirServerError(None, f"unusable next-page link {value!r}", where=where)
    value = value.strip()
    # FHIR reads relative URLs as relative to the service base; only a bare query belongs to the current page.
    url = join_raw(page_url if value.startswith("?") else base_url + "/", value)
    if not is_under(base_url, url):
        raise ForeignLinkError(
            f"{where}: the next-page link {display(url)} is outside the base URL {base_url}; "
            "not following it (credentials are only ever sent under the base URL)"
        )
    return url


def start_url(base_url: str, bundle: Mapping[str, Any]) -> str:
    """Where a Bundle in hand came from (its self link, when under the base), for resolving `?query` links."""
    self_link = link(bundle, "self")
    if isinstance(self_link, str) and self_link.strip():
        url = join_raw(base_url + "/", self_link.strip())
        if is_under(base_url, url):
            return url
    return base_url + "/"


def check_searchset(bundle: Mapping[str, Any], where: str) -> None:
    if bundle.get("resourceType") != "Bundle" or bundle.get("type", "searchset") != "searchset":
        raise_unexpected(bundle, "a searchset Bundle", where)


def link(bundle: Mapping[str, Any], relation: str) -> Any:
    """The URL of the Bundle's link with that relation, or None."""
    for item in bundle.get("link") or ():
        if isinstance(item, dict) and item.get("relation") == relation:
            return item.get("url")
    return None


def matches(bundle: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The entries' resources whose search mode is `match` (or not given): not includes, not outcomes."""
    for entry in bundle.get("entry") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        search: dict[str, Any] = entry["search"] if isinstance(entry.get("search"), dict) else {}
        if search.get("mode", "match") == "match":
            yield entry["resource"]
