"""uvicorn's h11 protocol with a deadline for a request's head.

uvicorn times out an idle keep-alive connection but not one that never finishes sending a request line and
headers: a client that opens connections and trickles bytes keeps each one forever (slowloris). Here every
connection must deliver a complete request head within `HEADER_TIMEOUT_S` of opening, and again after each
response; a request in progress (a slow hook) is never cut by it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0


class HeaderDeadlineProtocol(H11Protocol):
    header_timeout_s: float = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request's head is due within the deadline too

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        waiting = self.cycle is None or self.cycle.response_complete  # no request in progress
        if waiting and not self.transport.is_closing():
            self.transport.close()


# What `serve` hands uvicorn (one worker or several; https://www.uvicorn.org/settings/): h11 (the header-size cap
# is an h11 setting) with the head deadline above.
UVICORN_LIMITS: dict[str, Any] = {
    "http": HeaderDeadlineProtocol,
    "timeout_keep_alive": 5,  # seconds an idle keep-alive connection is kept
    "h11_max_incomplete_event_size": 16 * 1024,  # request line + headers; larger is refused (400)
    "limit_concurrency": 512,  # connections and tasks at once; more are answered 503
    "timeout_graceful_shutdown": 15,  # seconds in-flight requests get on shutdown
}

__all__ = ["HEADER_TIMEOUT_S", "UVICORN_LIMITS", "HeaderDeadlineProtocol"]
