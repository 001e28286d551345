"""The one retry policy for every remote call, and the wall-clock deadline that bounds a call as a whole.

A call is retried on a retryable status (429, 502, 503, 504) or a transport failure, up to `retries` more times,
waiting `backoff * 2**n` seconds (at most `max_backoff`) or what a 429/503 `Retry-After` asks (at most
`max_retry_after`). Whether it may be sent again depends on whether it could have changed anything:

* a failure that proves nothing was sent (ConnectError, ConnectTimeout, PoolTimeout) may always be retried;
* a status that proves the server refused before processing (429, 503) may always be retried;
* anything else that may have reached the server (a read timeout, a dropped connection, 502, 504) is retried only
  for an idempotent request: GET, HEAD, PUT, DELETE, OPTIONS, or one the caller marks idempotent.

A `Deadline` caps the whole call: each attempt's timeouts and each pause are bounded by what remains of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from adapter.errors import DeadlineExceeded

_MAX_EXPONENT = 32
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# The request certainly never reached the server: safe to send again, whatever it is.
NOT_SENT_ERRORS: tuple[type[httpx.HTTPError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures that may pass if tried again; the request may have reached the server.
TRANSIENT_ERRORS: tuple[type[httpx.HTTPError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one call is tried; the same rules for every remote source."""

    retries: int = 3  # attempts after the first
    backoff: float = 0.5  # first pause; doubled after each failed attempt
    max_backoff: float = 30.0
    max_retry_after: float = 30.0  # a longer Retry-After is treated as this long
    retryable_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    # The server refused before processing: retrying is safe even for a request that changes things.
    refused_statuses: frozenset[int] = frozenset({429, 503})

    def __post_init__(self) -> None:
        object.__setattr__(self, "retries", max(int(self.retries), 0))

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def backoff_delay(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (0-based) when the server did not say how long."""
        # The exponent is capped: 2**1024 does not fit a float (a long poll would raise OverflowError).
        return min(self.backoff * 2 ** min(max(attempt, 0), _MAX_EXPONENT), self.max_backoff)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """The pause after failed attempt `attempt`: the server's usable Retry-After, else the backoff."""
        asked = retry_after_seconds(retry_after, self.max_retry_after)
        return asked if asked is not None else self.backoff_delay(attempt)

    def retries_status(self, status: int, idempotent: bool) -> bool:
        """Whether an answer with `status` may be followed by another attempt (attempts left aside)."""
        return status in self.retry_statuses(idempotent)

    def retry_statuses(self, idempotent: bool) -> frozenset[int]:
        """The statuses after which a request (idempotent or not) may be sent again."""
        return self.retryable_statuses if idempotent else self.retryable_statuses & self.refused_statuses

    def retries_error(self, error: httpx.HTTPError, idempotent: bool) -> bool:
        """Whether a transport failure may be followed by another attempt (attempts left aside)."""
        if isinstance(error, NOT_SENT_ERRORS):
            return True
        return idempotent and isinstance(error, TRANSIENT_ERRORS)


def is_idempotent(method: str, marked: bool | None = None) -> bool:
    """`marked` when the caller says so (e.g. a POSTed batch of reads), else whether the method is idempotent."""
    return marked if marked is not None else method.upper() in IDEMPOTENT_METHODS


@dataclass(slots=True)
class Deadline:
    """A point in (monotonic) time after which a call must not go on; `Deadline(seconds)` starts now."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    _ends: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"a deadline must be a positive number of seconds, not {self.seconds!r}")
        self._ends = self.clock() + self.seconds

    def remaining(self) -> float:
        return max(self._ends - self.clock(), 0.0)

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def bound(self, seconds: float | None) -> float:
        """`seconds` (None: no limit of its own) cut down to what remains of the deadline."""
        remaining = self.remaining()
        return remaining if seconds is None else min(seconds, remaining)

    def timeout(self, seconds: float | None) -> httpx.Timeout:
        """httpx timeouts for one attempt: none longer than what remains, so no single wait outlasts the call."""
        return httpx.Timeout(self.bound(seconds))

    def check(self, where: str) -> None:
        """Raise DeadlineExceeded if the deadline has passed."""
        if self.expired:
            raise self.exceeded(where)

    def exceeded(self, where: str, why: str = "") -> DeadlineExceeded:
        return DeadlineExceeded(f"{where}: no complete answer within the {self.seconds:g}s deadline{why}")


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), within [0, cap]; None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)
