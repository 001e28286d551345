"""Results read on demand: with `reads`, an Observation a criterion may read is indexed by its codes and date at
extraction, and becomes `ObservationFact`s (itself and its components, all at once) only when asked for.

A criterion judges the newest usable result of its codes, so most older results are never built. What is built,
and in which order it is seen, is exactly what eager extraction gives: a bucket is newest first, undated last,
equal dates in record order (`model.sort_newest_first`); several codes are merged as `observations_for` merges.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapter.eligibility.facts.model import ObservationFact
from adapter.eligibility.facts.observations import observation_context, observation_facts
from adapter.eligibility.facts.readers import Memo, codes_of, parse_datetime

if TYPE_CHECKING:
    from adapter.units import UnitTable

_MIN = datetime.min.replace(tzinfo=UTC)  # undated results last


class Source:
    """One Observation resource: its facts (itself, then each component) once built."""

    __slots__ = ("effective", "facts", "reference", "res")

    def __init__(self, res: dict[str, Any], reference: str, effective: datetime | None) -> None:
        self.res = res
        self.reference = reference
        self.effective = effective  # the resource's date: its components share it
        self.facts: list[ObservationFact] | None = None


Entry = tuple[Source, int]  # (the resource, which of its facts: 0 itself, then its components that are objects)


class LazyResults(Mapping[str, tuple[ObservationFact, ...]]):
    """system|code -> the results with that code, newest first; facts built on first use."""

    def __init__(self, entries: dict[str, list[Entry]], units: UnitTable, memo: Memo) -> None:
        self._entries = {code: _newest_first(found) for code, found in entries.items()}
        self._units = units
        self._memo = memo
        self._lock = threading.Lock()

    def __getitem__(self, code: str) -> tuple[ObservationFact, ...]:
        return tuple(self._fact(entry) for entry in self._entries[code])

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def newest(self, codes: Iterable[str]) -> Iterator[ObservationFact]:
        """The results of any of `codes`, once each, newest first — built as they are reached."""
        buckets = [found for found in map(self._entries.get, codes) if found]
        if len(buckets) == 1:
            yield from map(self._fact, buckets[0])
            return
        seen: set[tuple[int, int]] = set()
        merged: list[Entry] = []
        for bucket in buckets:
            for entry in bucket:
                key = (id(entry[0]), entry[1])
                if key not in seen:
                    seen.add(key)
                    merged.append(entry)
        merged.sort(key=_entry_key, reverse=True)
        yield from map(self._fact, merged)

    def _fact(self, entry: Entry) -> ObservationFact:
        source, index = entry
        facts = source.facts
        if facts is None:
            with self._lock:
                if source.facts is None:
                    source.facts = observation_facts(source.res, source.reference, self._units, self._memo)
                facts = source.facts
        return facts[index]


def _entry_key(entry: Entry) -> datetime:
    return entry[0].effective or _MIN


def _newest_first(entries: list[Entry]) -> list[Entry]:
    """As `model.sort_newest_first`: dated newest first (stable), then the undated in record order."""
    if len(entries) < 2:
        return entries
    dated = [e for e in entries if e[0].effective is not None]
    dated.sort(key=_entry_key, reverse=True)
    dated.extend(e for e in entries if e[0].effective is None)
    return dated


def add_source(entries: dict[str, list[Entry]], res: dict[str, Any], reference: str, memo: Memo) -> None:
    """Index an Observation by the codes of the facts it will give (itself, its components that are objects)."""
    raw = res.get("effectiveDateTime")
    effective = parse_datetime(raw, memo)[0] if raw else None  # nearly every result; else as the fact will read it
    source = Source(res, reference, effective if effective is not None else observation_context(res, memo).effective)
    for code in codes_of(res.get("code"), memo):
        entries.setdefault(code, []).append((source, 0))
    components = res.get("component")
    if components and isinstance(components, list):
        index = 0
        for component in components:
            if type(component) is dict:
                index += 1
                for code in codes_of(component.get("code"), memo):
                    entries.setdefault(code, []).append((source, index))
