"""Replay and feedback stores (memory, SQLite, a real Redis): bounds, expiry, never forgetting a live jti, 503/413."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from adapter.errors import AdapterError
from adapter.service import create_app, load_settings
from adapter.service.state import FeedbackLimits, FeedbackTooLarge, Replayed, ReplayStore, StoreFull, open_state
from adapter.service.state.memory import MemoryFeedbackStore, MemoryReplayStore
from adapter.service.state.redis_store import RedisReplayStore
from adapter.service.state.sqlite import DB_NAME, PURGE_BATCH, SqliteFeedbackStore, SqliteReplayStore, SqliteState
from tests.service import ISS, SERVICE_PATH, Signer, fixture_prefetch, hook_body, write_jwks
from tests.support.redis import RedisServer
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

ES = Signer("ES384", "es-state")
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:  # a failure to start is an error of the test, never a skip
        yield server


def _memory(clock: Clock, tmp: Path, max_entries: int) -> ReplayStore:
    return MemoryReplayStore(max_entries, clock=clock)


def _sqlite(clock: Clock, tmp: Path, max_entries: int) -> ReplayStore:
    return SqliteReplayStore(SqliteState(tmp), max_entries=max_entries, clock=clock)


BOUNDED = {"memory": _memory, "sqlite": _sqlite}


@pytest.mark.parametrize("make", BOUNDED.values(), ids=BOUNDED.keys())
def test_a_live_jti_is_refused_and_an_expired_one_is_forgotten(make: Callable[..., ReplayStore],
                                                                tmp_path: Path) -> None:
    clock = Clock()
    store = make(clock, tmp_path, 10)
    store.claim(ISS, "a", T0 + 60)
    store.claim("https://other.example", "a", T0 + 60)  # the same jti from another issuer is another token
    with pytest.raises(Replayed):
        store.claim(ISS, "a", T0 + 60)
    clock.now = T0 + 61
    store.claim(ISS, "a", T0 + 120)  # expired: its token is refused by `exp` anyway, the jti may come back
    with pytest.raises(Replayed):
        store.claim(ISS, "a", T0 + 120)


@pytest.mark.parametrize("make", BOUNDED.values(), ids=BOUNDED.keys())
def test_a_full_store_refuses_new_tokens_and_never_forgets_a_live_one(make: Callable[..., ReplayStore],
                                                                      tmp_path: Path) -> None:
    clock = Clock()
    store = make(clock, tmp_path, 3)
    for n in range(3):
        store.claim(ISS, f"jti-{n}", T0 + 100 + n)
    with pytest.raises(StoreFull) as full:
        store.claim(ISS, "jti-new", T0 + 300)
    assert 100 <= full.value.retry_after <= 102  # until the soonest live entry expires
    for n in range(3):  # item 8: the oldest live jti is still refused, not evicted and accepted again
        with pytest.raises(Replayed):
            store.claim(ISS, f"jti-{n}", T0 + 300)
    clock.now = T0 + 100.5  # jti-0 has expired: room for one
    store.claim(ISS, "jti-new", T0 + 300)
    with pytest.raises(StoreFull):
        store.claim(ISS, "jti-newer", T0 + 300)


def test_sqlite_purges_a_batch_of_expired_rows_per_claim_not_the_table(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteReplayStore(SqliteState(tmp_path), max_entries=10_000, clock=clock)
    for n in range(500):
        store.claim(ISS, f"old-{n}", T0 + 1)
    clock.now = T0 + 10
    store.claim(ISS, "new", T0 + 60)
    assert len(store) == 500 - PURGE_BATCH + 1
    for n in range(10):
        store.claim(ISS, f"more-{n}", T0 + 60)
    assert len(store) == 11  # the rest went in later claims' batches: expired rows cannot pile up


def test_sqlite_replay_memory_is_shared_and_survives_reopening(tmp_path: Path) -> None:
    first = SqliteReplayStore(SqliteState(tmp_path))
    first.claim(ISS, "shared", 4_000_000_000.0)
    second = SqliteReplayStore(SqliteState(tmp_path))  # another process, or the same one after a restart
    with pytest.raises(Replayed):
        second.claim(ISS, "shared", 4_000_000_000.0)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_state_dir_that_cannot_be_used_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(AdapterError, match="state-dir"):
        open_state(state_dir=str(tmp_path / "file"))


# -- Redis ---------------------------------------------------------------------------------------------------------


def test_redis_replay_store_refuses_a_live_jti_and_forgets_an_expired_one(redis_server: RedisServer) -> None:
    import time

    store = RedisReplayStore(redis_server.url)
    jti = f"r-{time.time_ns()}"
    store.claim(ISS, jti, time.time() + 0.3)
    with pytest.raises(Replayed):
        RedisReplayStore(redis_server.url).claim(ISS, jti, time.time() + 60)  # another host, same Redis
    time.sleep(0.5)
    store.claim(ISS, jti, time.time() + 60)  # Redis expired the key at PXAT


def test_a_full_redis_is_store_full_not_eviction(redis_server: RedisServer) -> None:
    import time

    admin = redis.Redis.from_url(redis_server.url)
    store = RedisReplayStore(redis_server.url)
    store.claim(ISS, "kept", time.time() + 60)
    admin.config_set("maxmemory", "1")  # noeviction (the harness's setting): every write is an OOM error
    try:
        with pytest.raises(StoreFull):
            store.claim(ISS, "refused", time.time() + 60)
        with pytest.raises(StoreFull):  # a full Redis refuses every SET, a replay too: never accepted
            store.claim(ISS, "kept", time.time() + 60)
    finally:
        admin.config_set("maxmemory", "0")
    with pytest.raises(Replayed):  # and nothing was evicted
        store.claim(ISS, "kept", time.time() + 60)
    store.claim(ISS, "refused", time.time() + 60)  # the refused one was never recorded
    admin.close()


def test_an_unreachable_redis_is_an_error_at_start() -> None:
    from tests.support.hapi import free_port

    with pytest.raises(AdapterError, match="--redis"):
        RedisReplayStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(AdapterError, match="--redis"):
        RedisReplayStore("http://not-redis.example")


# -- feedback ------------------------------------------------------------------------------------------------------


def _memory_feedback(clock: Clock, tmp: Path, limits: FeedbackLimits) -> Any:
    return MemoryFeedbackStore(limits, clock=clock)


def _sqlite_feedback(clock: Clock, tmp: Path, limits: FeedbackLimits) -> Any:
    return SqliteFeedbackStore(SqliteState(tmp), limits, clock=clock)


FEEDBACK = {"memory": _memory_feedback, "sqlite": _sqlite_feedback}


def _item(n: int, size: int = 0) -> dict[str, Any]:
    return {"card": f"card-{n}", "outcome": "accepted", "note": "x" * size}


@pytest.mark.parametrize("make", FEEDBACK.values(), ids=FEEDBACK.keys())
def test_feedback_is_bounded_by_bytes_count_and_age_oldest_first(make: Callable[..., Any], tmp_path: Path) -> None:
    clock = Clock()
    store = make(clock, tmp_path, FeedbackLimits(max_items=50, max_bytes=10_000, max_item_bytes=2000,
                                                 max_age=3600))
    for n in range(30):
        store.add([_item(n, 900)])  # ~1 KB each: the byte bound keeps the newest 9 or so
    kept = store.recent(100)
    assert [i["card"] for i in kept] == [f"card-{n}" for n in range(30 - len(kept), 30)]
    assert 8 <= len(kept) <= 10
    assert 8000 < store.bytes_kept() <= 10_000
    store.add([_item(100 + n) for n in range(60)])  # small ones: the count bound
    assert len(store.recent(1000)) == 50 and store.recent(1)[0]["card"] == "card-159"
    assert store.recent(1)[0]["received"] == T0
    clock.now = T0 + 3601
    assert store.recent(1000) == []  # past the age bound
    with pytest.raises(FeedbackTooLarge):
        store.add([_item(200), _item(201, 5000)])
    assert store.recent(1000) == []  # all or none


def test_feedback_in_sqlite_survives_reopening(tmp_path: Path) -> None:
    SqliteFeedbackStore(SqliteState(tmp_path)).add([_item(1), _item(2)])
    assert [i["card"] for i in SqliteFeedbackStore(SqliteState(tmp_path)).recent(10)] == ["card-1", "card-2"]


# -- through the service -------------------------------------------------------------------------------------------


@pytest.fixture
def small_client(tmp_path: Path) -> Iterator[TestClient]:
    jwks = write_jwks(tmp_path / "jwks.json", ES)
    settings = load_settings(trusted_clients=[f"{ISS}={jwks}"], include_closed_trials=True, as_of=date(2026, 11, 1),
                             environ={}, state_dir=str(tmp_path / "state"), replay_max_entries=2,
                             feedback_max_item_bytes=1000)
    with TestClient(create_app(settings, CATALOG, warm=False)) as client:
        yield client


def test_a_full_replay_store_answers_503_with_retry_after(small_client: TestClient) -> None:
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    body = hook_body(pid, prefetch)
    assert small_client.post(SERVICE_PATH, json=body, headers=ES.headers()).status_code == 200
    assert small_client.post(SERVICE_PATH, json=body, headers=ES.headers()).status_code == 200
    third = small_client.post(SERVICE_PATH, json=body, headers=ES.headers())
    assert third.status_code == 503, third.text
    assert 250 <= int(third.headers["retry-after"]) <= 340  # the tokens live 300 s (+30 s leeway)
    assert third.json() == {"error": "service busy, retry later"}


def test_an_oversized_feedback_item_is_413_and_nothing_is_kept(small_client: TestClient) -> None:
    url = SERVICE_PATH + "/feedback"
    small = {"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-11-01T10:00:00Z"}
    large = {**small, "card": "c2", "acceptedSuggestions": [{"id": "s" * 2000}]}
    answer = small_client.post(url, json={"feedback": [small, large]}, headers=ES.headers())
    assert answer.status_code == 413 and "larger than 1000 bytes" in answer.json()["error"]
    assert small_client.app.state.feedback.recent(10) == []  # type: ignore[attr-defined]
    assert small_client.post(url, json={"feedback": [small]}, headers=ES.headers()).status_code == 200
    assert [i["card"] for i in small_client.app.state.feedback.recent(10)] == ["c1"]  # type: ignore[attr-defined]
