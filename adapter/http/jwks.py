"""Loading a JSON Web Key Set — the public keys a service trusts — from an https URL or a file.

The keys decide whom the service believes, so they are fetched like credentials are sent: https only (plain
http only to a loopback host), through the HTTP seam with its retries, a deadline and a size cap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from adapter.errors import AdapterError, FetchError, TransportError
from adapter.http.body import NotJson, decode_json
from adapter.http.retry import RetryPolicy
from adapter.http.transport import new_client, send
from adapter.http.urls import require_secure

log = logging.getLogger("adapter.http.jwks")
MAX_JWKS_BYTES = 1024 * 1024
DEFAULT_JWKS_TIMEOUT = 10.0


def load_jwks(
    source: str,
    *,
    timeout: float = DEFAULT_JWKS_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """A JWKS from a file or an http(s) URL; it must be a JSON object with a non-empty `keys` list.

    `timeout` bounds the whole fetch of a URL, retries included. Anything unusable is an AdapterError naming
    the source (a FetchError when the URL could not be fetched).
    """
    if source.strip().lower().startswith(("http://", "https://")):
        body = _fetch(source.strip(), timeout, transport, sleep)
    else:
        body = _read_file(source)
    try:
        jwks = decode_json(body)
    except NotJson as exc:
        raise AdapterError(f"JWKS {source}: {exc}") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise AdapterError(f"JWKS {source}: not a JWK Set (a JSON object with a non-empty 'keys' list)")
    return jwks


def _fetch(url: str, timeout: float, transport: httpx.BaseTransport | None, sleep: Callable[[float], None]) -> bytes:
    require_secure(url, "JWKS")
    policy = RetryPolicy(retries=2, backoff=0.5, max_retry_after=timeout / 2)
    with new_client(transport=transport, timeout=timeout) as client:
        try:
            reply = send(
                client, "GET", url, max_bytes=MAX_JWKS_BYTES, policy=policy, timeout=timeout, deadline=timeout,
                headers={"Accept": "application/json"}, sleep=sleep,
            )  # fmt: skip
        except TransportError as exc:
            raise FetchError(f"JWKS {url}: cannot fetch ({exc.detail}; {exc.attempts} attempts)") from None
    if reply.status != 200:
        raise FetchError(f"JWKS {url}: HTTP {reply.status}")
    return reply.body


def _read_file(source: str) -> bytes:
    try:
        with Path(source).open("rb") as handle:
            body = handle.read(MAX_JWKS_BYTES + 1)  # the same cap as for a URL; a JWKS is small
    except OSError as exc:
        raise AdapterError(f"JWKS {source}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(body) > MAX_JWKS_BYTES:
        raise AdapterError(f"JWKS {source}: larger than {MAX_JWKS_BYTES} bytes")
    return body


class JwksRefresher:
    """Fetches one issuer's JWKS URL again when a token names a `kid` the service does not know (key rotation).

    At most one fetch per `min_interval` seconds, failed ones included, so that tokens with made-up kids cannot
    make the service hammer the EHR; a failed fetch returns None and the caller keeps the keys it has.
    The first refresh after start-up is allowed at once (the keys may have rotated just after the start).
    """

    def __init__(
        self,
        url: str,
        *,
        min_interval: float = 60.0,
        timeout: float = DEFAULT_JWKS_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._min_interval = min_interval
        self._timeout = timeout
        self._clock = clock
        self._transport = transport
        self._last: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def refresh(self) -> dict[str, Any] | None:
        """The JWKS as fetched now, or None: too soon after the last fetch, or the fetch failed."""
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self._min_interval:
                return None
            self._last = now
            self.fetches += 1
        try:
            return load_jwks(self.url, timeout=self._timeout, transport=self._transport)
        except AdapterError as exc:
            log.warning("JWKS refresh failed, keeping the old keys: %s", exc)
            return None
