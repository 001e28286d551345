"""Service state that must outlive a request: the `jti` replay memory and CDS Hooks feedback.

Two small protocols, three back ends:

* in memory (the default, one process): bounded like the others, never forgets a live `jti`;
* SQLite in `--state-dir` (survives a restart, shared by every worker process on one host);
* Redis (`--redis URL`, replay memory only: shared by every host).

A replay store is bounded by the number of live `jti`s: when full it refuses the new token (`StoreFull`, which
the hook answers with 503 and Retry-After) rather than forget a live one — a forgotten live `jti` could be
replayed. Feedback is bounded by count, by bytes and by age, oldest dropped first; one item larger than
`max_item_bytes` is refused whole (`FeedbackTooLarge`, answered 413).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adapter.service.settings import ServiceSettings

DEFAULT_REPLAY_ENTRIES = 100_000
DEFAULT_FEEDBACK_ITEMS = 1000
DEFAULT_FEEDBACK_BYTES = 16 * 1024 * 1024
DEFAULT_FEEDBACK_ITEM_BYTES = 64 * 1024
DEFAULT_FEEDBACK_AGE = 90 * 86400.0  # seconds


class StateUnavailable(Exception):
    """The state cannot take this request now (503); `retry_after` in whole seconds."""

    def __init__(self, message: str, retry_after: float = 1) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, int(retry_after))


class StoreFull(StateUnavailable):
    """The replay store holds its maximum of live `jti`s; a new token is refused until some expire."""


class Replayed(Exception):
    """This `jti` of this issuer was claimed before and its token is still alive."""


class FeedbackTooLarge(Exception):
    """One feedback item is larger than the store takes (413)."""


class ReplayStore(Protocol):
    def claim(self, iss: str, jti: str, expires_at: float) -> None:
        """Remember (iss, jti) until `expires_at` (epoch seconds); Replayed if it is remembered and live,
        StoreFull (or another StateUnavailable) if it cannot be remembered."""


class FeedbackStore(Protocol):
    def add(self, items: Sequence[dict[str, Any]]) -> None:
        """Keep these items (all or none: FeedbackTooLarge if one is too large)."""

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` items still kept, oldest first."""


@dataclass(frozen=True)
class FeedbackLimits:
    max_items: int = DEFAULT_FEEDBACK_ITEMS
    max_bytes: int = DEFAULT_FEEDBACK_BYTES
    max_item_bytes: int = DEFAULT_FEEDBACK_ITEM_BYTES
    max_age: float = DEFAULT_FEEDBACK_AGE


@dataclass(frozen=True)
class State:
    replay: ReplayStore
    feedback: FeedbackStore


def replay_key(iss: str, jti: str) -> bytes:
    """A fixed-size key: a 16 KB jti costs the store 32 bytes, and no separator can make two pairs collide."""
    return hashlib.sha256(f"{len(iss)}:{iss}\0{jti}".encode()).digest()


def open_state(
    *,
    state_dir: str | None = None,
    redis_url: str | None = None,
    replay_max_entries: int = DEFAULT_REPLAY_ENTRIES,
    feedback: FeedbackLimits | None = None,
) -> State:
    """The stores for these settings: Redis for replays when given, SQLite in `state_dir` for the rest (and for
    replays without Redis), memory otherwise. Raises AdapterError if a store cannot be opened or reached."""
    limits = feedback or FeedbackLimits()
    replay: ReplayStore
    feedback_store: FeedbackStore
    if state_dir is not None:
        from adapter.service.state.sqlite import SqliteFeedbackStore, SqliteReplayStore, SqliteState

        db = SqliteState(state_dir)
        replay = SqliteReplayStore(db, max_entries=replay_max_entries)
        feedback_store = SqliteFeedbackStore(db, limits)
    else:
        from adapter.service.state.memory import MemoryFeedbackStore, MemoryReplayStore

        replay = MemoryReplayStore(max_entries=replay_max_entries)
        feedback_store = MemoryFeedbackStore(limits)
    if redis_url is not None:
        from adapter.service.state.redis_store import RedisReplayStore

        replay = RedisReplayStore(redis_url)
    return State(replay=replay, feedback=feedback_store)


def open_state_for(settings: ServiceSettings) -> State:
    """`open_state` with the service settings' directory, Redis URL and limits."""
    limits = FeedbackLimits(max_items=settings.feedback_limit, max_bytes=settings.feedback_max_bytes,
                            max_item_bytes=settings.feedback_max_item_bytes, max_age=settings.feedback_max_age)
    return open_state(state_dir=settings.state_dir, redis_url=settings.redis_url,
                      replay_max_entries=settings.replay_max_entries, feedback=limits)


__all__ = [
    "FeedbackLimits",
    "FeedbackStore",
    "FeedbackTooLarge",
    "ReplayStore",
    "Replayed",
    "State",
    "StateUnavailable",
    "StoreFull",
    "open_state",
    "open_state_for",
    "replay_key",
]
