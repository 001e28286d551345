"""In-memory stores for one process: the default without `--state-dir`, with the same bounds as SQLite.

Replays: a dict of live keys plus a heap ordered by expiry, so that a claim costs O(log n) and purging touches
expired entries only (each at most once). Feedback: compact JSON strings in a deque with a running byte total,
so that the memory kept is about the configured byte bound, whatever the posts held.
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from adapter.service.state import (
    DEFAULT_REPLAY_ENTRIES,
    FeedbackLimits,
    FeedbackTooLarge,
    Replayed,
    StoreFull,
    replay_key,
)

Clock = Callable[[], float]


class MemoryReplayStore:
    def __init__(self, max_entries: int = DEFAULT_REPLAY_ENTRIES, clock: Clock = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._live: dict[bytes, float] = {}
        self._by_expiry: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._live)

    def claim(self, iss: str, jti: str, expires_at: float) -> None:
        key = replay_key(iss, jti)
        now = self._clock()
        with self._lock:
            self._purge(now)
            if key in self._live:
                raise Replayed
            if len(self._live) >= self._max:
                raise StoreFull("replay store full", retry_after=self._by_expiry[0][0] - now + 1)
            self._live[key] = expires_at
            heapq.heappush(self._by_expiry, (expires_at, key))

    def _purge(self, now: float) -> None:
        heap = self._by_expiry
        while heap and heap[0][0] <= now:
            expiry, key = heapq.heappop(heap)
            if self._live.get(key) == expiry:
                del self._live[key]


class MemoryFeedbackStore:
    def __init__(self, limits: FeedbackLimits | None = None, clock: Clock = time.time) -> None:
        self._limits = limits or FeedbackLimits()
        self._clock = clock
        self._items: deque[tuple[float, str]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def bytes_kept(self) -> int:
        return self._bytes

    def add(self, items: Sequence[dict[str, Any]]) -> None:
        now = self._clock()
        encoded = [encode_feedback(item, now, self._limits.max_item_bytes) for item in items]
        with self._lock:
            for body in encoded:
                self._items.append((now, body))
                self._bytes += len(body)
            self._trim(now)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            self._trim(self._clock())
            kept = list(self._items)[-limit:] if limit > 0 else []
        return [json.loads(body) for _, body in kept]

    def _trim(self, now: float) -> None:
        limits, items = self._limits, self._items
        oldest = now - limits.max_age
        while items and (len(items) > limits.max_items or self._bytes > limits.max_bytes or items[0][0] < oldest):
            _, body = items.popleft()
            self._bytes -= len(body)


def encode_feedback(item: dict[str, Any], received: float, max_item_bytes: int) -> str:
    """The item as compact JSON with its `received` time; FeedbackTooLarge over `max_item_bytes`."""
    body = json.dumps({**item, "received": received}, separators=(",", ":"))  # ASCII: len() is bytes
    if len(body) > max_item_bytes:
        raise FeedbackTooLarge(f"a feedback item is larger than {max_item_bytes} bytes")
    return body
