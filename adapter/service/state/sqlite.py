"""SQLite stores in `--state-dir/state.sqlite3`: they survive a restart and serve every worker on one host.

WAL mode (readers never wait for the writer), `busy_timeout` (a writer waits for another process instead of
failing), one connection per thread and process, and each write in `BEGIN IMMEDIATE` (the write lock is taken
up front, so two processes never deadlock upgrading a read). Per claim: a primary-key lookup and insert, and a
purge of at most `PURGE_BATCH` expired rows found through the expiry index — amortised, never a full scan. Row
counts and feedback bytes are kept by triggers in `counters`, because `COUNT(*)` in SQLite is a scan.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from adapter.errors import AdapterError
from adapter.service.state import (
    DEFAULT_REPLAY_ENTRIES,
    FeedbackLimits,
    Replayed,
    StateUnavailable,
    StoreFull,
    replay_key,
)
from adapter.service.state.memory import encode_feedback

DB_NAME = "state.sqlite3"
BUSY_TIMEOUT_MS = 5000
PURGE_BATCH = 64  # expired rows removed per claim: more than the one a claim adds, so expired rows cannot pile up
Clock = Callable[[], float]

SCHEMA = """
CREATE TABLE IF NOT EXISTS replay (key BLOB PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replay_expiry ON replay (expires_at);
CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL NOT NULL,
                                     body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_received ON feedback (received);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO counters VALUES ('replay', 0), ('feedback_items', 0), ('feedback_bytes', 0);
CREATE TRIGGER IF NOT EXISTS replay_added AFTER INSERT ON replay
    BEGIN UPDATE counters SET value = value + 1 WHERE name = 'replay'; END;
CREATE TRIGGER IF NOT EXISTS replay_removed AFTER DELETE ON replay
    BEGIN UPDATE counters SET value = value - 1 WHERE name = 'replay'; END;
CREATE TRIGGER IF NOT EXISTS feedback_added AFTER INSERT ON feedback BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'feedback_items';
    UPDATE counters SET value = value + length(new.body) WHERE name = 'feedback_bytes'; END;
CREATE TRIGGER IF NOT EXISTS feedback_removed AFTER DELETE ON feedback BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'feedback_items';
    UPDATE counters SET value = value - length(old.body) WHERE name = 'feedback_bytes'; END;
"""


class SqliteState:
    """The database file and its connections (one per thread, reopened after a fork)."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        folder = Path(state_dir)
        self._local = threading.local()
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.path = folder / DB_NAME
            with self.transaction() as db:
                db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        except (OSError, sqlite3.Error) as exc:
            raise AdapterError(f"--state-dir {state_dir}: cannot open the state database ({exc})") from None

    def connection(self) -> sqlite3.Connection:
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                             check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across a process crash, cheap commits
        self._local.held = (os.getpid(), db)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection; with the caller's own BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
        db = self.connection()
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        try:
            with self.transaction() as db:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full, …: retry later
            raise StateUnavailable(f"state database unavailable ({exc})", retry_after=1) from None

    def counter(self, db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0


class SqliteReplayStore:
    def __init__(self, state: SqliteState, *, max_entries: int = DEFAULT_REPLAY_ENTRIES,
                 clock: Clock = time.time) -> None:
        self._state = state
        self._max = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return self._state.counter(self._state.connection(), "replay")

    def claim(self, iss: str, jti: str, expires_at: float) -> None:
        key = replay_key(iss, jti)
        now = self._clock()
        with self._state.write() as db:
            db.execute("DELETE FROM replay WHERE key IN (SELECT key FROM replay WHERE expires_at <= ? LIMIT ?)",
                       (now, PURGE_BATCH))
            row = db.execute("SELECT expires_at FROM replay WHERE key = ?", (key,)).fetchone()
            if row is not None:
                if row[0] > now:
                    raise Replayed
                db.execute("UPDATE replay SET expires_at = ? WHERE key = ?", (expires_at, key))
                return
            if self._state.counter(db, "replay") >= self._max:
                soonest = db.execute("SELECT MIN(expires_at) FROM replay").fetchone()[0]
                raise StoreFull("replay store full", retry_after=(soonest or now) - now + 1)
            db.execute("INSERT INTO replay (key, expires_at) VALUES (?, ?)", (key, expires_at))


class SqliteFeedbackStore:
    def __init__(self, state: SqliteState, limits: FeedbackLimits | None = None, clock: Clock = time.time) -> None:
        self._state = state
        self._limits = limits or FeedbackLimits()
        self._clock = clock

    def add(self, items: Sequence[dict[str, Any]]) -> None:
        now = self._clock()
        encoded = [encode_feedback(item, now, self._limits.max_item_bytes) for item in items]
        with self._state.write() as db:
            db.executemany("INSERT INTO feedback (received, body) VALUES (?, ?)", [(now, b) for b in encoded])
            self._trim(db, now)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        oldest = self._clock() - self._limits.max_age
        rows = self._state.connection().execute(
            "SELECT body FROM feedback WHERE received >= ? ORDER BY id DESC LIMIT ?", (oldest, max(0, limit)),
        ).fetchall()
        return [json.loads(body) for (body,) in reversed(rows)]

    def bytes_kept(self) -> int:
        return self._state.counter(self._state.connection(), "feedback_bytes")

    def _trim(self, db: sqlite3.Connection, now: float) -> None:
        """Oldest first: past the age limit, then while over the item or byte bound."""
        limits = self._limits
        db.execute("DELETE FROM feedback WHERE received < ?", (now - limits.max_age,))
        excess_items = self._state.counter(db, "feedback_items") - limits.max_items
        excess_bytes = self._state.counter(db, "feedback_bytes") - limits.max_bytes
        if excess_items <= 0 and excess_bytes <= 0:
            return
        last = None
        for row_id, size in db.execute("SELECT id, length(body) FROM feedback ORDER BY id"):
            last, excess_items, excess_bytes = row_id, excess_items - 1, excess_bytes - size
            if excess_items <= 0 and excess_bytes <= 0:
                break
        if last is not None:
            db.execute("DELETE FROM feedback WHERE id <= ?", (last,))


def write_feedback_ndjson(state_dir: str | os.PathLike[str], limit: int, out: TextIO) -> None:
    """`trial-adapter feedback`: the newest `limit` items kept in `state_dir`, one JSON object a line, oldest
    first, whatever age limit the service runs with (it trims on its own writes)."""
    if not (Path(state_dir) / DB_NAME).is_file():
        raise AdapterError(f"--state-dir {state_dir}: no {DB_NAME} (not a service state directory)")
    store = SqliteFeedbackStore(SqliteState(state_dir), FeedbackLimits(max_age=float("inf")))
    for item in store.recent(limit):
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
