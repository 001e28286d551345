"""The replay store in Redis (`--redis URL`), shared by every host: one `SET key 1 NX PXAT <expiry>` per claim.

Redis expires the keys itself. Its bound is its memory: run it with `maxmemory-policy noeviction`, so that a
full Redis refuses the write (an OOM error → StoreFull → 503) instead of evicting live `jti`s — every key here
has a TTL, so even the `volatile-*` policies would forget live ones. A Redis that cannot be reached is a 503
too: a token whose `jti` cannot be recorded is not accepted.
"""

from __future__ import annotations

import logging
import math

import redis
import redis.exceptions

from adapter.errors import AdapterError
from adapter.service.state import Replayed, StateUnavailable, StoreFull, replay_key

log = logging.getLogger("adapter.service.state")
KEY_PREFIX = "trial-adapter:jti:"
SOCKET_TIMEOUT = 2.0


class RedisReplayStore:
    def __init__(self, url: str, *, client: redis.Redis | None = None) -> None:
        try:
            self._redis = client or redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT,
                                                         socket_connect_timeout=SOCKET_TIMEOUT)
            self._redis.ping()
        except (ValueError, redis.exceptions.RedisError) as exc:
            raise AdapterError(f"--redis {_safe(url)}: cannot use it ({type(exc).__name__}: {exc})") from None
        self._warn_on_eviction()

    def claim(self, iss: str, jti: str, expires_at: float) -> None:
        key = KEY_PREFIX + replay_key(iss, jti).hex()
        try:
            created = self._redis.set(key, b"1", nx=True, pxat=math.ceil(expires_at * 1000))
        except redis.exceptions.ResponseError as exc:
            if isinstance(exc, redis.exceptions.OutOfMemoryError) or str(exc).startswith("OOM"):
                raise StoreFull("replay store (Redis) full", retry_after=30) from None
            raise StateUnavailable(f"replay store (Redis) error: {type(exc).__name__}") from None
        except redis.exceptions.RedisError as exc:
            raise StateUnavailable(f"replay store (Redis) unavailable: {type(exc).__name__}") from None
        if not created:
            raise Replayed

    def _warn_on_eviction(self) -> None:
        try:
            policy = self._redis.config_get("maxmemory-policy").get("maxmemory-policy")
        except redis.exceptions.RedisError:  # CONFIG is often disabled on managed Redis: nothing to check
            return
        if policy not in (None, "noeviction"):
            log.warning("Redis maxmemory-policy is %s: when Redis fills up it may evict live jtis, which could "
                        "then be replayed; set maxmemory-policy noeviction", policy)


def _safe(url: str) -> str:
    """The URL without a password, for an error message."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if "@" in rest else url
