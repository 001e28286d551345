"""The one way this project talks HTTP: `new_client()` makes the httpx client, `send()` runs a call under the
retry policy and the deadline and hands back a `Reply` (status, headers, body bytes, read under a cap).

Redirects are never followed: a redirect could carry credentials to another host, so a 3xx is handed back
like any other answer and the caller decides what to say about it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from adapter import __version__
from adapter.errors import ResponseTooLarge, TransportError
from adapter.http.body import BodyTooLarge, decode_json, read_body
from adapter.http.retry import NOT_SENT_ERRORS, TRANSIENT_ERRORS, Deadline, RetryPolicy, is_idempotent

USER_AGENT = f"trial-fhir-adapter/{__version__}"
DEFAULT_TIMEOUT = 30.0  # seconds one attempt may wait for any one thing (connect, a write, a read)
DEFAULT_DEADLINE = 120.0  # seconds one call may take in all, retries and pauses included
# Error bodies are read only for their message; more than this is not worth reading.
MAX_ERROR_BODY_BYTES = 1024 * 1024

Form = Mapping[str, str] | Callable[[], Mapping[str, str]]
Params = Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP answer. `gave_up`: the status was retryable but the attempts ran out on it."""

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    url: str
    attempts: int = 1
    gave_up: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON; `adapter.http.body.NotJson` if it is not."""
        return decode_json(self.body)


def new_client(
    *,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
) -> httpx.Client:
    """An httpx client with the project's User-Agent that never follows redirects."""
    return httpx.Client(
        auth=auth,
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        event_hooks=dict(event_hooks or {}),
    )


def display(url: str) -> str:
    """A URL fit for messages: userinfo (a password, perhaps) taken out."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return repr(url)
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else str(parsed)


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int,
    policy: RetryPolicy | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    deadline: Deadline | float = DEFAULT_DEADLINE,
    idempotent: bool | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params = None,
    content: bytes | None = None,
    form: Form | None = None,
    max_error_bytes: int = MAX_ERROR_BODY_BYTES,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """Send one request under `policy` within `deadline`, and return the answer with its body read.

    A 2xx body larger than `max_bytes` raises ResponseTooLarge; other bodies are read on a best-effort basis
    (at most `max_error_bytes`, empty when larger or unreadable) since they only explain the status.
    `timeout` bounds every single wait of an attempt (and is cut to what remains of the deadline).
    `form` may be a callable, called anew for each attempt (e.g. to sign a fresh assertion each time).
    Raises TransportError when the connection fails and may not (or no longer) be retried, and
    DeadlineExceeded (a FhirTimeout) when the deadline runs out first.
    """
    policy = policy or RetryPolicy()
    deadline = deadline if isinstance(deadline, Deadline) else Deadline(deadline)
    where = f"{method} {display(url)}"
    replayable = is_idempotent(method, idempotent)
    call = _Call(client, where, max_bytes, max_error_bytes, deadline)
    for attempt in range(policy.attempts):
        deadline.check(where)
        last = attempt + 1 == policy.attempts
        request = client.build_request(
            method, url, params=params, headers=headers, content=content,
            data=dict(form() if callable(form) else form) if form is not None else None,
            timeout=deadline.timeout(timeout),
        )  # fmt: skip
        try:
            answer = call.attempt(request, frozenset() if last else policy.retry_statuses(replayable))
        except httpx.HTTPError as exc:
            if deadline.expired:  # the timeout that fired was the deadline's
                raise deadline.exceeded(where) from exc
            allowed = policy.retries_error(exc, replayable)
            if last or not allowed:
                raise _transport_error(exc, where, attempt + 1, gave_up=allowed) from None
            delay = policy.backoff_delay(attempt)
        else:
            if isinstance(answer, Reply):
                return _final(answer, attempt + 1, policy.retries_status(answer.status, replayable))
            delay = policy.delay(attempt, answer.retry_after)
        if delay > deadline.remaining():
            raise deadline.exceeded(where, f" (the next attempt would have had to wait {delay:g}s)")
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class _Again:
    """An answer whose status is going to be retried (its body is not read)."""

    retry_after: str | None


@dataclass(frozen=True, slots=True)
class _Call:
    """What stays the same across the attempts of one call."""

    client: httpx.Client
    where: str
    max_bytes: int
    max_error_bytes: int
    deadline: Deadline

    def attempt(self, request: httpx.Request, retry_statuses: frozenset[int]) -> Reply | _Again:
        """One round trip; the body is read unless the status is among `retry_statuses`."""
        response = self.client.send(request, stream=True)
        try:
            status = response.status_code
            if status in retry_statuses:
                return _Again(response.headers.get("Retry-After"))
            body = self._read_ok(response) if 200 <= status < 300 else self._read_error(response)
            return Reply(status, response.reason_phrase, response.headers, body, str(response.url))
        finally:
            response.close()

    def _read_ok(self, response: httpx.Response) -> bytes:
        try:
            return read_body(response, self.max_bytes, deadline=self.deadline, where=self.where)
        except BodyTooLarge:
            raise ResponseTooLarge(
                f"{self.where}: response larger than {self.max_bytes} bytes; stopped reading it"
            ) from None

    def _read_error(self, response: httpx.Response) -> bytes:
        try:
            cap = min(self.max_bytes, self.max_error_bytes)
            return read_body(response, cap, deadline=self.deadline, where=self.where)
        except (BodyTooLarge, httpx.HTTPError):
            self.deadline.check(self.where)  # a read cut short by the deadline is still the deadline's
            return b""


def _final(reply: Reply, attempts: int, retryable: bool) -> Reply:
    return Reply(reply.status, reply.reason, reply.headers, reply.body, reply.url, attempts, retryable)


def _transport_error(exc: httpx.HTTPError, where: str, attempts: int, *, gave_up: bool) -> TransportError:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    transient = isinstance(exc, TRANSIENT_ERRORS)
    if gave_up:
        message = f"{where}: {detail}; gave up after {attempts} attempts"
    elif transient:
        message = f"{where}: {detail}; the request may have reached the server, so it was not sent again"
    else:
        message = f"{where}: request failed: {detail}"
    return TransportError(
        message,
        detail=detail,
        attempts=attempts,
        gave_up=gave_up,
        transient=transient,
        timed_out=isinstance(exc, httpx.TimeoutException),
        may_have_arrived=not isinstance(exc, NOT_SENT_ERRORS),
    )
