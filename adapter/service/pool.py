"""A bounded pool for request work that must not run on the event loop: at most `size` jobs at once, in threads
of its own (an anyio CapacityLimiter), and a full pool refused at once (503 + Retry-After) — a queue behind
slow requests would only grow. Used from the event loop only: the count needs no lock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("adapter.service")
T = TypeVar("T")



class PoolFull(Exception):
    """Every worker of the pool is busy; retry after `retry_after` seconds."""

    def __init__(self, name: str, size: int, retry_after: int) -> None:
        super().__init__(f"all {size} {name} workers are busy")
        self.retry_after = retry_after


class WorkPool:
    def __init__(self, size: int, retry_after: int = 5, name: str = "request") -> None:
        import anyio

        if size < 1:
            raise ValueError(f"the {name} pool needs at least one worker")
        self.size = size
        self.retry_after = retry_after
        self.name = name
        self.busy = 0
        self._limiter = anyio.CapacityLimiter(size)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        import anyio.to_thread

        if self.busy >= self.size:
            log.warning("%s refused with 503: all %d workers are busy", self.name, self.size)
            raise PoolFull(self.name, self.size, self.retry_after)
        self.busy += 1
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)
        finally:
            self.busy -= 1


__all__ = ["PoolFull", "WorkPool"]
