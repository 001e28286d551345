"""The attrition of a trial: how many patients each criterion removes, taken in the EvidenceVariable's order.

A patient is *excluded* at the first criterion (in that order) that fails for them; *unknown* counts, at each
criterion, the patients still remaining for whom it is unknown; *remaining* is who is left after it. Computed
from the same `failed` / `unknown` lists results.ndjson carries, so it can be recomputed from that file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ATTRITION_COLUMNS = ("trial", "criterion", "order", "text", "excluded", "unknown", "remaining")


@dataclass
class Attrition:
    """One trial's funnel, accumulated as result lines arrive (bounded: one counter per criterion)."""

    order: list[str]
    screened: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.order = list(dict.fromkeys(self.order))
        self._index = {cid: i for i, cid in enumerate(self.order)}

    def _position(self, cid: str) -> int:
        if cid not in self._index:  # a criterion the order does not name: after every named one
            self._index[cid] = len(self.order)
            self.order.append(cid)
        return self._index[cid]

    def add(self, failed: Iterable[str], unknown: Iterable[str]) -> None:
        self.screened += 1
        first = min((self._position(c) for c in failed), default=None)
        if first is not None:
            cid = self.order[first]
            self.excluded[cid] = self.excluded.get(cid, 0) + 1
        for cid in unknown:
            if first is None or self._position(cid) < first:
                self.unknown[cid] = self.unknown.get(cid, 0) + 1

    def rows(self) -> list[dict[str, Any]]:
        """Per criterion in order: id, order (1-based), excluded, unknown, remaining."""
        remaining = self.screened
        rows = []
        for n, cid in enumerate(self.order, start=1):
            excluded = self.excluded.get(cid, 0)
            remaining -= excluded
            rows.append({"id": cid, "order": n, "excluded": excluded, "unknown": self.unknown.get(cid, 0),
                         "remaining": remaining})
        return rows


def attrition_records(nct_id: str, attrition: Attrition, criteria: Mapping[str, Mapping[str, Any]]
                      ) -> Sequence[tuple[Any, ...]]:
    """The attrition.csv rows of one trial (columns ATTRITION_COLUMNS)."""
    return [(nct_id, row["id"], row["order"], (criteria.get(row["id"]) or {}).get("text") or "", row["excluded"],
             row["unknown"], row["remaining"]) for row in attrition.rows()]
