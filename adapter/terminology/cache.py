"""The terminology answers cache: in memory (bounded, least recently used first out, with a TTL), optionally
kept on disk between CLI runs as one JSON file under the cache folder (`TRIAL_ADAPTER_CACHE_DIR`, else
`$XDG_CACHE_HOME/trial-fhir-adapter`, else `~/.cache/trial-fhir-adapter`), as the units cache is.

Values are plain JSON (what `adapter.terminology.client` reads out of an answer, before it is typed), so the
file holds nothing but what a server said. A file that does not check (format, a SHA-256 of its content,
entry shapes) is ignored as a whole; expired entries are dropped on load. Writing is atomic (a temporary file
renamed over the old one), so a concurrent reader never sees half a file; a cache that cannot be read or
written only costs time, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = "trial-fhir-adapter/terminology-cache/1"
CACHE_FILE = "terminology-cache.json"
ENV_CACHE_DIR = "TRIAL_ADAPTER_CACHE_DIR"
DEFAULT_TTL = 24 * 3600.0  # a day: a site reloads SNOMED or its maps a few times a year, not hourly
DEFAULT_MAX_ENTRIES = 20_000
MAX_FILE_BYTES = 32 * 1024 * 1024


def default_cache_path() -> Path:
    """Where the CLI keeps the file (the same folder as the units cache, see `adapter.cli`)."""
    folder = os.environ.get(ENV_CACHE_DIR) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
        "trial-fhir-adapter")
    return Path(folder) / CACHE_FILE


class TerminologyCache:
    """key → JSON value, at most `max_entries`, each for `ttl` seconds. Thread-safe.

    `path`: load from it now (`load`) and write to it on `save`; None keeps the cache in memory only.
    Time is wall-clock (`clock`, default `time.time`) because entries outlive the process on disk.
    """

    def __init__(self, *, path: Path | None = None, max_entries: int = DEFAULT_MAX_ENTRIES, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.time) -> None:
        if max_entries <= 0 or ttl <= 0:
            raise ValueError("a terminology cache needs a positive size and TTL")
        self.path = path
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._dirty = False
        self.hits = 0
        self.misses = 0
        if path is not None:
            self.load()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Any | None:
        """The value stored under `key` if it has not expired, else None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or self._clock() - found[0] > self.ttl:
                if found is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: str, value: Any) -> Any:
        """Store `value` (JSON, not None) under `key`; returns it, so a caller can cache and use in one step."""
        if value is None:
            raise ValueError("None means 'not cached'; store a value")
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            self._dirty = True
        return value

    # -- disk ------------------------------------------------------------------------------------------------

    def load(self) -> bool:
        """Add the live entries of `path`; False (nothing added) when it is missing, foreign or damaged."""
        if self.path is None:
            return False
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                return False
            document = json.loads(self.path.read_text(encoding="utf-8"))
            entries = _checked(document)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return False
        now = self._clock()
        with self._lock:
            for key, stored_at, value in sorted(entries, key=lambda e: e[1])[-self.max_entries:]:
                if now - stored_at <= self.ttl and key not in self._entries:
                    self._entries[key] = (stored_at, value)
        return True

    def save(self) -> bool:
        """Write the live entries to `path` if anything changed; False when there is no path or it failed."""
        if self.path is None or not self._dirty:
            return False
        now = self._clock()
        with self._lock:
            entries = [[k, t, v] for k, (t, v) in self._entries.items() if now - t <= self.ttl]
            self._dirty = False
        document = {"format": FORMAT, "checksum": _checksum(entries), "entries": entries}
        try:
            from adapter.atomic import write_atomic

            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(document, ensure_ascii=False, separators=(",", ":")))
        except (OSError, UnicodeEncodeError):
            return False
        return True


def _checksum(entries: Any) -> str:
    canonical = json.dumps([FORMAT, entries], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _checked(document: Any) -> list[tuple[str, float, Any]]:
    """The entries of a document written by `save`; ValueError for anything else."""
    if not isinstance(document, dict) or set(document) != {"format", "checksum", "entries"}:
        raise ValueError("not a terminology cache")
    if document["format"] != FORMAT or document["checksum"] != _checksum(document["entries"]):
        raise ValueError("another format, or changed")
    entries = document["entries"]
    if not isinstance(entries, list):
        raise ValueError("malformed")
    found = []
    for entry in entries:
        if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                or not isinstance(entry[1], int | float) or isinstance(entry[1], bool) or entry[2] is None):
            raise ValueError("malformed entry")
        found.append((entry[0], float(entry[1]), entry[2]))
    return found
