"""A compact FHIR REST client (JSON, R4/R5) for real servers: bounded retries, capped bodies, same-origin paging.

Retry policy
------------
Reads (GET, and `batch` — a Bundle of GET entries, which changes nothing on the server) are retried up to
`retries` times on connection errors, timeouts, 429, 502, 503 and 504, waiting `backoff * 2**n` seconds or what
a 429/503 `Retry-After` asks (seconds or an HTTP date, capped at `max_retry_after`).

A transaction may have been applied as soon as the server has read it, so it is retried only when it certainly
was not: the connection could not be made (ConnectError, ConnectTimeout, PoolTimeout), or the server answered
429/503 (refused before processing). A read timeout, a connection dropped after sending, or a 502/504 raise at
once, saying that the outcome is unknown.

Redirects are not followed: a redirect could lead credentials to another host. Paging links are followed only
when they stay under the base URL (same scheme, host, port, and base path); otherwise `ForeignLinkError`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import httpx

from adapter import __version__
from adapter.errors import (
    BatchEntryError,
    FetchError,
    FhirServerError,
    FhirTimeout,
    ForeignLinkError,
    ResponseTooLarge,
)
from adapter.http import read_capped, retry_after_seconds

FHIR_JSON = "application/fhir+json"
USER_AGENT = f"trial-fhir-adapter/{__version__}"
DEFAULT_MAX_PAGES = 1000
# Error bodies are only read for their OperationOutcome; more than this is not worth reading.
MAX_ERROR_BODY_BYTES = 1024 * 1024
MAX_MESSAGE_CHARS = 500

SearchParams = Mapping[str, str | int | Sequence[str]] | Sequence[tuple[str, str]]

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.\-]+)?")
_JSON_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# The request certainly never reached the server: safe to send again, whatever it is.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have reached the server: send again only if it changes nothing.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _Retry(Exception):
    """One failed attempt that may succeed if tried again; `error(attempts)` is what to raise when giving up."""

    def __init__(self, error: Callable[[int], FetchError], delay: float | None = None) -> None:
        super().__init__("retryable failure")
        self.error = error
        self.delay = delay


class FhirClient:
    """A FHIR REST client bound to one base URL; use as a context manager or call `close()`.

    Not thread-safe (one `httpx.Client`, a plain `request_count`); use one client per thread.
    `on_request` is called with every HTTP request actually sent to the FHIR server (retries and an auth
    refresh-and-retry included; requests to a token endpoint are not), and `request_count` counts them.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        max_response_bytes: int = 50 * 1024 * 1024,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        self.base_url = _checked_base(base_url)
        self._base = httpx.URL(self.base_url)
        self._base_path = self._base.path.rstrip("/")
        if auth is not None and self._base.scheme == "http" and self._base.host not in _LOCAL_HOSTS:
            raise FetchError(f"{self.base_url}: refusing to send credentials over plain http; use https")
        self._timeout = timeout
        self._retries = max(int(retries), 0)
        self._backoff = backoff
        self._max_retry_after = max_retry_after
        self._max_bytes = max_response_bytes
        self._sleep = sleep
        self._on_request = on_request
        self.request_count = 0
        self._capabilities: dict[str, Any] | None = None
        self._http = httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"Accept": FHIR_JSON, "User-Agent": USER_AGENT},
            event_hooks={"request": [self._count_request]},
        )

    # -- lifecycle -------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r})"

    def _count_request(self, request: httpx.Request) -> None:
        self.request_count += 1
        if self._on_request is not None:
            self._on_request(request)

    # -- URLs ------------------------------------------------------------------------------------------------

    def url(self, relative: str) -> str:
        """`relative` (e.g. `Patient/1`, `metadata`, `Observation?code=…`) resolved under the base URL."""
        return f"{self.base_url}/{relative.lstrip('/')}"

    def _within_base(self, url: httpx.URL) -> bool:
        base = self._base
        if url.scheme != base.scheme or url.host != base.host or _port(url) != _port(base) or url.userinfo:
            return False
        path = url.path
        if any(segment in (".", "..") for segment in path.split("/")):
            return False
        return path == self._base_path or path.startswith(self._base_path + "/") or not self._base_path

    def _checked_link(self, link: Any, page_url: str, where: str) -> str:
        if not isinstance(link, str) or not link.strip():
            raise FhirServerError(None, f"unusable next-page link {link!r}", where=where)
        link = link.strip()
        # FHIR reads relative URLs as relative to the service base; only a bare query belongs to the current page.
        try:
            url = httpx.URL(page_url if link.startswith("?") else self.base_url + "/").join(link)
        except (httpx.InvalidURL, ValueError):
            raise FhirServerError(None, f"unusable next-page link {link!r}", where=where) from None
        if not self._within_base(url):
            raise ForeignLinkError(
                f"{where}: the next-page link {_display(url)} is outside the base URL {self.base_url}; "
                "not following it (credentials are only ever sent under the base URL)"
            )
        return str(url)

    # -- capabilities ----------------------------------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """The server's CapabilityStatement (GET `metadata`), fetched once per client. Do not modify it."""
        if self._capabilities is None:
            url = self.url("metadata")
            body = self._send("GET", url)
            if body.get("resourceType") != "CapabilityStatement":
                raise FhirServerError(
                    None, f"expected a CapabilityStatement, got {body.get('resourceType')!r}", where=f"GET {url}"
                )
            self._capabilities = body
        return self._capabilities

    def fhir_version(self) -> Literal["R4", "R5"]:
        """R4 for fhirVersion 4.0.x and 4.3.x (R4B reads as R4), R5 for 5.0.x; anything else is refused."""
        declared = self.capabilities().get("fhirVersion")
        match = _VERSION.fullmatch(declared.strip()) if isinstance(declared, str) else None
        if match is not None:
            major_minor = (int(match[1]), int(match[2]))
            if major_minor in ((4, 0), (4, 3)):
                return "R4"
            if major_minor == (5, 0):
                return "R5"
        raise FhirServerError(
            None,
            f"the server declares FHIR version {declared!r}; supported are 4.0.x (R4), 4.3.x (R4B, read as R4) "
            "and 5.0.x (R5)",
            where=f"GET {self.url('metadata')}",
        )

    def supports_batch(self) -> bool:
        """True if the CapabilityStatement's server `rest` declares the system interaction `batch` or `transaction`.

        `transaction` counts as a hint: servers implement batch and transaction with the same Bundle processing at
        the base URL, and several that support both only declare `transaction`. A server that turns a batch down
        anyway answers with a 4xx/5xx, which `batch()` raises as FhirServerError; callers may then fall back to
        single requests.
        """
        for rest in self.capabilities().get("rest") or ():
            if not isinstance(rest, dict) or rest.get("mode", "server") != "server":
                continue
            codes = {item.get("code") for item in rest.get("interaction") or () if isinstance(item, dict)}
            if codes & {"batch", "transaction"}:
                return True
        return False

    # -- reading ---------------------------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """GET `{base}/{resource_type}/{resource_id}`; the resource, checked to be of that type."""
        _check_type(resource_type)
        if not isinstance(resource_id, str) or not _FHIR_ID.fullmatch(resource_id):
            raise FetchError(f"{resource_id!r} is not a FHIR id (1-64 letters, digits, '-' or '.')")
        url = self.url(f"{resource_type}/{resource_id}")
        resource = self._send("GET", url)
        if resource.get("resourceType") != resource_type:
            raise FhirServerError(
                None, f"asked for a {resource_type}, got {resource.get('resourceType')!r}", where=f"GET {url}"
            )
        return resource

    def search(
        self, resource_type: str, params: SearchParams | None = None, *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[dict[str, Any]]:
        """GET `{base}/{resource_type}?{params}`; yields the matches (entries with search.mode `match` or no mode).

        Follows `next` links page by page (lazily), only under the base URL. Repeated parameters may be given as a
        list of values or as (name, value) pairs. A paging loop or more than `max_pages` pages raise FhirServerError:
        a silently truncated result would look complete.
        """
        _check_type(resource_type)
        url = str(httpx.URL(self.url(resource_type), params=params or None))
        return self._walk(url, None, max_pages)

    def follow_pages(
        self, bundle: Mapping[str, Any], *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[dict[str, Any]]:
        """The matches of a searchset Bundle already in hand (e.g. from `batch`), then those of its next pages."""
        if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
            raise FhirServerError(None, "follow_pages needs a searchset Bundle")
        page_url = self.base_url + "/"
        self_link = _link(bundle, "self")
        if isinstance(self_link, str):
            try:
                joined = httpx.URL(page_url).join(self_link.strip())
            except (httpx.InvalidURL, ValueError):
                joined = None
            if joined is not None and self._within_base(joined):
                page_url = str(joined)
        return self._walk(page_url, dict(bundle), max_pages)

    def _walk(self, url: str, bundle: dict[str, Any] | None, max_pages: int) -> Iterator[dict[str, Any]]:
        visited = {url}
        pages = 0
        while True:
            where = f"GET {_display(httpx.URL(url))}"
            if bundle is None:
                bundle = self._send("GET", url)
            pages += 1
            _check_searchset(bundle, where)
            yield from _matches(bundle)
            link = _link(bundle, "next")
            if link is None:
                return
            next_url = self._checked_link(link, url, where)
            if next_url in visited:
                raise FhirServerError(None, f"paging loop: the next-page link {next_url} was already read", where=where)
            if pages >= max_pages:
                raise FhirServerError(None, f"more than {max_pages} pages of results; stopped", where=where)
            visited.add(next_url)
            url, bundle = next_url, None

    def batch(self, urls: Sequence[str]) -> list[dict[str, Any]]:
        """POST a `batch` Bundle of GET entries (URLs relative to the base) in one round trip.

        Returns each entry's resource in order (a searchset Bundle for a search, else the resource); an entry whose
        status is not 2xx raises BatchEntryError (a FhirServerError) with its OperationOutcome message. A batch of
        GETs changes nothing, so it is retried like a GET.
        """
        urls = list(urls)
        for relative in urls:
            if not isinstance(relative, str) or not relative.strip() or _is_absolute(relative):
                raise FetchError(f"batch entries must be URLs relative to the FHIR base, not {relative!r}")
        if not urls:
            return []
        relatives = [relative.strip().lstrip("/") for relative in urls]
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": relative}} for relative in relatives],
        }
        base_url = self.base_url + "/"
        where = f"POST {_display(httpx.URL(base_url))} (batch)"
        response = self._send("POST", base_url, body=bundle, replayable=True)
        if response.get("resourceType") != "Bundle" or response.get("type") != "batch-response":
            _raise_unexpected(response, "a batch-response Bundle", where)
        entries = response.get("entry") or []
        if not isinstance(entries, list) or len(entries) != len(relatives):
            count = len(entries) if isinstance(entries, list) else "no"
            raise FhirServerError(None, f"sent {len(relatives)} batch entries, got {count} back", where=where)
        return [
            _entry_resource(entry, n, relative)
            for n, (entry, relative) in enumerate(zip(entries, relatives, strict=True))
        ]

    # -- writing ---------------------------------------------------------------------------------------------

    def transaction(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """POST a `transaction` Bundle to the base URL; returns the transaction-response Bundle.

        Retried only when the server certainly did not process it (see the module docstring); a read timeout
        raises FhirTimeout at once, since the transaction may have been applied.
        """
        if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
            raise FetchError("transaction() needs a Bundle")
        if bundle.get("type") != "transaction":
            raise FetchError(f"transaction() needs a Bundle of type 'transaction', not {bundle.get('type')!r}")
        base_url = self.base_url + "/"
        response = self._send("POST", base_url, body=bundle, replayable=False)
        if response.get("resourceType") != "Bundle" or response.get("type") != "transaction-response":
            _raise_unexpected(response, "a transaction-response Bundle", f"POST {_display(httpx.URL(base_url))}")
        return response

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, *, body: Mapping[str, Any] | None = None, replayable: bool = True
    ) -> dict[str, Any]:
        where = f"{method} {_display(httpx.URL(url))}"
        content = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
        attempts = self._retries + 1
        for attempt in range(attempts):
            try:
                return self._attempt(method, url, content, replayable, where)
            except _Retry as retry:
                if attempt + 1 == attempts:
                    raise retry.error(attempts) from None
                self._sleep(retry.delay if retry.delay is not None else self._backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, method: str, url: str, content: bytes | None, replayable: bool, where: str) -> dict[str, Any]:
        headers = {"Content-Type": FHIR_JSON} if content is not None else None
        request = self._http.build_request(method, url, content=content, headers=headers)
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_failure(exc, replayable, where) from None
        try:
            return self._handle(response, replayable, where)
        except httpx.HTTPError as exc:  # while reading the body
            raise self._transport_failure(exc, replayable, where) from None
        finally:
            response.close()

    def _transport_failure(self, exc: httpx.HTTPError, replayable: bool, where: str) -> Exception:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        is_timeout = isinstance(exc, httpx.TimeoutException)

        def given_up(attempts: int) -> FetchError:
            if is_timeout:
                return FhirTimeout(
                    f"{where}: no answer within {self._timeout:g}s ({detail}); gave up after {attempts} attempts"
                )
            return FetchError(f"{where}: {detail}; gave up after {attempts} attempts")

        if isinstance(exc, _NOT_SENT) or (replayable and isinstance(exc, _TRANSIENT)):
            return _Retry(given_up)
        if isinstance(exc, _TRANSIENT):
            unknown = "it may or may not have been applied; check the server before sending it again"
            if is_timeout:
                return FhirTimeout(f"{where}: no answer within {self._timeout:g}s ({detail}); {unknown}")
            return FetchError(f"{where}: connection lost after sending ({detail}); {unknown}")
        return FetchError(f"{where}: request failed: {detail}")

    def _handle(self, response: httpx.Response, replayable: bool, where: str) -> dict[str, Any]:
        status = response.status_code
        if 200 <= status < 300:
            return _parse_resource(self._read(response, where), response, where)
        outcome = self._error_outcome(response)
        message = _outcome_text(outcome) or response.reason_phrase or "error"
        if 300 <= status < 400:
            location = response.headers.get("Location")
            message = f"redirected to {location!r}; redirects are not followed (use the final URL as the base URL)"

        def given_up(attempts: int) -> FetchError:
            return FhirServerError(status, f"{message} (gave up after {attempts} attempts)", outcome, where=where)

        if status in (429, 503):
            raise _Retry(given_up, retry_after_seconds(response.headers.get("Retry-After"), self._max_retry_after))
        if status in (502, 504) and replayable:
            raise _Retry(given_up)
        raise FhirServerError(status, message, outcome, where=where)

    def _read(self, response: httpx.Response, where: str) -> bytes:
        body = read_capped(response, self._max_bytes)
        if body is None:
            raise ResponseTooLarge(f"{where}: response larger than {self._max_bytes} bytes; stopped reading it")
        return body

    def _error_outcome(self, response: httpx.Response) -> dict[str, Any] | None:
        """The OperationOutcome of an error response, if it has one; best effort, never raises."""
        try:
            body = read_capped(response, min(self._max_bytes, MAX_ERROR_BODY_BYTES))
            data = json.loads(body.decode("utf-8-sig")) if body else None
        except (httpx.HTTPError, UnicodeDecodeError, ValueError, RecursionError):
            return None
        if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
            return data
        return None


# -- helpers (also used by adapter.fhir.auth) ---------------------------------------------------------------


def clean_text(text: Any, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Server-supplied text made safe for one terminal line: no control characters, whitespace collapsed."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _checked_base(base_url: str) -> str:
    """The base URL without trailing slashes, checked to be a plain http(s) URL."""
    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, AttributeError, TypeError):
        raise FetchError(f"{base_url!r} is not a usable FHIR base URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(f"{base_url!r} is not a usable FHIR base URL (expected http(s)://host/path)")
    if url.userinfo:
        raise FetchError("the FHIR base URL must not contain credentials; pass them as auth")
    if url.query or url.fragment:
        raise FetchError(f"{base_url!r}: a FHIR base URL has no query or fragment")
    path = url.raw_path.decode("ascii").rstrip("/")
    return f"{url.scheme}://{url.netloc.decode('ascii')}{path}"


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)


def _display(url: httpx.URL) -> str:
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


def _is_absolute(relative: str) -> bool:
    stripped = relative.strip()
    return stripped.startswith("//") or re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", stripped) is not None


def _check_type(resource_type: str) -> None:
    if not isinstance(resource_type, str) or not _RESOURCE_TYPE.fullmatch(resource_type):
        raise FetchError(f"{resource_type!r} is not a FHIR resource type")


def _parse_resource(body: bytes, response: httpx.Response, where: str) -> dict[str, Any]:
    status = response.status_code
    content_type = response.headers.get("Content-Type", "")
    mime = content_type.split(";")[0].strip().lower()
    if mime and mime not in _JSON_TYPES:
        raise FhirServerError(
            status, f"expected FHIR JSON, got Content-Type {clean_text(content_type, 80)!r}", where=where
        )
    if not body.strip():
        raise FhirServerError(status, "empty response; expected FHIR JSON", where=where)
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        snippet = clean_text(body[:60].decode("utf-8", "replace"), 60)
        raise FhirServerError(status, f"response is not valid JSON (starts {snippet!r})", where=where) from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirServerError(status, "response is JSON but not a FHIR resource (no resourceType)", where=where)
    return data


def _outcome_text(outcome: Mapping[str, Any] | None) -> str:
    """The diagnostics (or details text) of an OperationOutcome's errors, else of all its issues."""
    if not isinstance(outcome, Mapping):
        return ""
    issues = [issue for issue in outcome.get("issue") or () if isinstance(issue, dict)]
    serious = [issue for issue in issues if issue.get("severity") in ("fatal", "error")] or issues
    texts: list[str] = []
    for issue in serious:
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        codings = [c for c in details.get("coding") or () if isinstance(c, dict)]
        text = issue.get("diagnostics") or details.get("text")
        if not text and codings:
            text = codings[0].get("display") or codings[0].get("code")
        text = clean_text(text) if text else ""
        if text and text not in texts:
            texts.append(text)
    return clean_text("; ".join(texts))


def _raise_unexpected(resource: Mapping[str, Any], expected: str, where: str) -> None:
    if resource.get("resourceType") == "OperationOutcome":
        raise FhirServerError(None, _outcome_text(resource) or f"expected {expected}", dict(resource), where=where)
    got = f"{resource.get('resourceType')} of type {resource.get('type')!r}"
    raise FhirServerError(None, f"expected {expected}, got a {got}", where=where)


def _check_searchset(bundle: Mapping[str, Any], where: str) -> None:
    if bundle.get("resourceType") != "Bundle" or bundle.get("type", "searchset") != "searchset":
        _raise_unexpected(bundle, "a searchset Bundle", where)


def _link(bundle: Mapping[str, Any], relation: str) -> Any:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == relation:
            return link.get("url")
    return None


def _matches(bundle: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in bundle.get("entry") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        search = entry.get("search") if isinstance(entry.get("search"), dict) else {}
        if search.get("mode", "match") == "match":
            yield entry["resource"]


def _entry_resource(entry: Any, index: int, relative: str) -> dict[str, Any]:
    where = f"batch entry {index + 1} (GET {relative})"
    if not isinstance(entry, dict):
        raise FhirServerError(None, "malformed batch-response entry", where=where)
    response = entry.get("response") if isinstance(entry.get("response"), dict) else {}
    status_text = response.get("status")
    match = re.match(r"\s*(\d{3})\b", status_text) if isinstance(status_text, str) else None
    status = int(match[1]) if match else None
    resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else None
    if status is None or not 200 <= status < 300:
        outcome = response.get("outcome")
        if not (isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome"):
            outcome = resource if resource is not None and resource.get("resourceType") == "OperationOutcome" else None
        fallback = clean_text(status_text) if status_text else "no response.status"
        raise BatchEntryError(status, _outcome_text(outcome) or fallback, outcome, where=where)
    if resource is None:
        raise FhirServerError(status, "batch entry has no resource", where=where)
    return resource
