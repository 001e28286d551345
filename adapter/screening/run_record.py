"""OUT/run.json: what one screening run read, against which trials (and their compiled hashes), what it counted
and how long each phase took — for audit, written 0600 beside the outputs (it names the store and the source,
never a patient)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.screening.private import private_write_text

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.screening.outputs import ScreeningSummary
    from adapter.screening.patient import JobRecipe

RUN_RECORD = "run.json"
FORMAT = 1


@dataclass
class RunRecord:
    inputs: dict[str, Any]
    trials: list[dict[str, Any]]
    as_of: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    durations: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _clock: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, inputs: dict[str, Any], trials: list[Trial], recipe: JobRecipe) -> RunRecord:
        from adapter.screening.fingerprint import trial_hashes

        hashes = trial_hashes(trials, recipe)
        listed = [{"nct_id": t.nct_id, "hash": hashes[t.nct_id], "draft": t.draft, "mapping": t.source}
                  for t in trials]
        return cls(inputs, listed, recipe.as_of.isoformat())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase (load, screen, outputs); a phase run twice adds up."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.durations[name] = round(self.durations.get(name, 0.0) + time.perf_counter() - started, 3)

    def write(self, out: Path, summary: ScreeningSummary) -> Path:
        from adapter import __version__
        from adapter.screening.fingerprint import engine_fingerprint

        record = {
            "format": FORMAT,
            "tool": "trial-adapter screen",
            "version": __version__,
            "engine_fingerprint": engine_fingerprint(),
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": self.inputs,
            "as_of": self.as_of,
            "trials": self.trials,
            "counts": {
                "patients_screened": summary.patients,
                "errors": sum(summary.errors.values()),
                "errors_by_kind": dict(sorted(summary.errors.items())),
                "skipped_by_type": dict(sorted(summary.skipped.items())),
                "verdicts": {nct: dict(sorted(tally.counts.items())) for nct, tally in summary.tallies.items()},
                **self.counts,
            },
            "durations_s": {**self.durations, "total": round(time.perf_counter() - self._clock, 3)},
            "notes": self.notes,
            "outputs": [p.name for p in summary.outputs],
        }
        path = out / RUN_RECORD
        private_write_text(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        return path
