"""A compact FHIR REST client (JSON, R4/R5) for real servers: read, search, batch, transaction, capabilities.

All HTTP goes through the project's seam (`adapter.http`): one retry policy, a deadline per call, capped bodies,
no redirects. Reads (GET, and `batch` — a Bundle of GET entries, which changes nothing on the server) are retried
on connection errors, timeouts, 429, 502, 503 and 504, waiting `backoff * 2**n` seconds or what `Retry-After`
asks (seconds or an HTTP date, capped at `max_retry_after`).

A transaction may have been applied as soon as the server has read it, so it is retried only when it certainly
was not: the connection could not be made (ConnectError, ConnectTimeout, PoolTimeout), or the server answered
429/503 (refused before processing). A read timeout, a connection dropped after sending, or a 502/504 raise at
once, saying that the outcome is unknown.

Paging (`adapter.fhir.paging`) follows links only under the base URL; answers and OperationOutcomes are read by
`adapter.fhir.outcome`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from adapter.errors import (
    BatchEntryError,
    DeadlineExceeded,
    FetchError,
    FhirServerError,
    FhirTimeout,
    ForeignLinkError,
    ResponseTooLarge,
    TransportError,
)
from adapter.fhir.outcome import (
    MAX_MESSAGE_CHARS,
    clean_text,
    entry_resource,
    parse_resource,
    raise_unexpected,
    server_error,
)
from adapter.fhir.paging import DEFAULT_MAX_PAGES, start_url, walk
from adapter.http import USER_AGENT, RetryPolicy, new_client, require_secure, send
from adapter.http.transport import DEFAULT_DEADLINE, MAX_ERROR_BODY_BYTES, display
from adapter.vocabulary import FHIR_JSON

# Re-exported: these names were importable from here before the split (adapter.fhir, pull, tests, benchmarks).
__all__ = [
    "DEFAULT_MAX_PAGES",
    "FHIR_JSON",
    "MAX_ERROR_BODY_BYTES",
    "MAX_MESSAGE_CHARS",
    "USER_AGENT",
    "BatchEntryError",
    "FetchError",
    "FhirClient",
    "FhirServerError",
    "FhirTimeout",
    "ForeignLinkError",
    "ResponseTooLarge",
    "SearchParams",
    "clean_text",
]

SearchParams = Mapping[str, str | int | Sequence[str]] | Sequence[tuple[str, str]]

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.\-]+)?")


@dataclass(frozen=True, slots=True)
class Connection:
    """A client's HTTP connection and its policies, for protocols that need statuses, headers and streamed
    bodies rather than parsed resources (Bulk Data export): the same auth, retries, timeouts and deadline."""

    http: httpx.Client  # carries the client's auth; owned by the client (closed with it)
    policy: RetryPolicy
    timeout: float
    deadline: Any  # seconds per call, or one Deadline for everything the client does
    sleep: Callable[[float], None]


class FhirClient:
    """A FHIR REST client bound to one base URL; use as a context manager or call `close()`.

    Not thread-safe (one `httpx.Client`, a plain `request_count`); use one client per thread.
    `on_request` is called with every HTTP request actually sent to the FHIR server (retries and an auth
    refresh-and-retry included; requests to a token endpoint are not), and `request_count` counts them.
    `timeout` bounds each wait of one attempt, `deadline` each call as a whole (retries and pauses included).
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
        deadline: float = DEFAULT_DEADLINE,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        self.base_url = _checked_base(base_url)
        if auth is not None:
            require_secure(self.base_url, "credentials for FHIR server")
        self._timeout = timeout
        self._deadline = deadline
        self._policy = RetryPolicy(retries=retries, backoff=backoff, max_retry_after=max_retry_after)
        self._max_bytes = max_response_bytes
        self._sleep = sleep
        self._on_request = on_request
        self.request_count = 0
        self._capabilities: dict[str, Any] | None = None
        self._http = new_client(
            auth=auth,
            transport=transport,
            timeout=timeout,
            headers={"Accept": FHIR_JSON},
            event_hooks={"request": [self._count_request]},
        )

    def connection(self) -> Connection:
        """The connection and policies of this client, for protocol code beside it (`adapter.fhir.bulk`)."""
        return Connection(self._http, self._policy, self._timeout, self._deadline, self._sleep)

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

    def url(self, relative: str) -> str:
        """`relative` (e.g. `Patient/1`, `metadata`, `Observation?code=…`) resolved under the base URL."""
        return f"{self.base_url}/{relative.lstrip('/')}"

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
        return walk(self._get, self.base_url, url, None, max_pages)

    def follow_pages(
        self, bundle: Mapping[str, Any], *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[dict[str, Any]]:
        """The matches of a searchset Bundle already in hand (e.g. from `batch`), then those of its next pages."""
        if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
            raise FhirServerError(None, "follow_pages needs a searchset Bundle")
        return walk(self._get, self.base_url, start_url(self.base_url, bundle), dict(bundle), max_pages)

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
        where = f"POST {display(base_url)} (batch)"
        response = self._send("POST", base_url, body=bundle, replayable=True)
        if response.get("resourceType") != "Bundle" or response.get("type") != "batch-response":
            raise_unexpected(response, "a batch-response Bundle", where)
        entries = response.get("entry") or []
        if not isinstance(entries, list) or len(entries) != len(relatives):
            count = len(entries) if isinstance(entries, list) else "no"
            raise FhirServerError(None, f"sent {len(relatives)} batch entries, got {count} back", where=where)
        return [
            entry_resource(entry, n, relative)
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
            raise_unexpected(response, "a transaction-response Bundle", f"POST {display(base_url)}")
        return response

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _get(self, url: str) -> dict[str, Any]:
        return self._send("GET", url)

    def _send(
        self, method: str, url: str, *, body: Mapping[str, Any] | None = None, replayable: bool = True
    ) -> dict[str, Any]:
        """One call through the seam; the resource of a 2xx answer, else the error the answer amounts to."""
        where = f"{method} {display(url)}"
        content = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
        try:
            reply = send(
                self._http, method, url, content=content,
                headers={"Content-Type": FHIR_JSON} if content is not None else None,
                idempotent=replayable, policy=self._policy, timeout=self._timeout, deadline=self._deadline,
                max_bytes=self._max_bytes, max_error_bytes=MAX_ERROR_BODY_BYTES, sleep=self._sleep,
            )  # fmt: skip
        except TransportError as exc:
            raise self._transport_failure(exc, where) from None
        except DeadlineExceeded as exc:
            if replayable:
                raise
            raise DeadlineExceeded(f"{exc}; {_UNKNOWN}") from None
        if not reply.ok:
            raise server_error(reply, where)
        return parse_resource(reply, where)

    def _transport_failure(self, exc: TransportError, where: str) -> FetchError:
        """The project's error for a failed connection: FhirTimeout for timeouts, else FetchError."""
        if exc.gave_up:
            if exc.timed_out:
                waited = f"no answer within {self._timeout:g}s ({exc.detail})"
                return FhirTimeout(f"{where}: {waited}; gave up after {exc.attempts} attempts")
            return FetchError(f"{where}: {exc.detail}; gave up after {exc.attempts} attempts")
        if exc.transient:
            if exc.timed_out:
                return FhirTimeout(f"{where}: no answer within {self._timeout:g}s ({exc.detail}); {_UNKNOWN}")
            return FetchError(f"{where}: connection lost after sending ({exc.detail}); {_UNKNOWN}")
        return FetchError(f"{where}: request failed: {exc.detail}")


_UNKNOWN = "it may or may not have been applied; check the server before sending it again"


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


def _is_absolute(relative: str) -> bool:
    stripped = relative.strip()
    return stripped.startswith("//") or re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", stripped) is not None


def _check_type(resource_type: str) -> None:
    if not isinstance(resource_type, str) or not _RESOURCE_TYPE.fullmatch(resource_type):
        raise FetchError(f"{resource_type!r} is not a FHIR resource type")
