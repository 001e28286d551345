"""What a screening writes into OUT, whichever engine ran it: results.ndjson and errors.ndjson as patients are
screened, then worklist.csv, Group-<NCT>.json and report.html at the end.

Memory stays bounded whatever the population: result and error lines go straight to disk, candidates to a
scratch CSV that DuckDB sorts into the worklist, and the report keeps only counts and its first
`report_candidates` candidates per trial (the worklist has them all).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import orjson

from adapter.errors import AdapterError
from adapter.screening.group import candidates_group
from adapter.screening.patient import CANDIDATE_VERDICTS, PatientScreening
from adapter.screening.routing import sql_literal

if TYPE_CHECKING:
    from adapter.catalog import Trial

RESULTS = "results.ndjson"
ERRORS = "errors.ndjson"
WORKLIST = "worklist.csv"
REPORT = "report.html"
SCRATCH = ".screening-scratch"
VERDICTS = ("potentially-eligible", "insufficient-data", "ineligible")
WORKLIST_COLUMNS = ("trial", "patient", "verdict", "pass", "fail", "unknown", "manual", "unknown_criteria",
                    "tests_to_settle")
_RANK = {verdict: rank for rank, verdict in enumerate(CANDIDATE_VERDICTS)}
_TOP = 10


class OutputError(AdapterError):
    """OUT cannot be written."""


@dataclass
class TrialTally:
    """What the report says of one trial, accumulated as patients arrive."""

    counts: Counter[str] = field(default_factory=Counter)
    failing: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    candidates: list[tuple[tuple[int, int, str], dict[str, Any]]] = field(default_factory=list)
    candidates_total: int = 0


@dataclass(frozen=True)
class ScreeningSummary:
    patients: int
    errors: Counter[str]
    skipped: Counter[str]
    tallies: dict[str, TrialTally]
    outputs: tuple[Path, ...]


class ScreeningOutputs:
    """The sink both engines feed: `patient()` and `error()` per record, `skipped()` per type, then `finish()`."""

    def __init__(self, out: Path, trials: Sequence[Trial], as_of: date, *,
                 fhir_version: Literal["R4", "R5"] = "R4", report_candidates: int = 2000) -> None:
        self.out = out
        self.trials = list(trials)
        self.as_of = as_of
        self.fhir_version = fhir_version
        self.report_candidates = report_candidates
        self.patients = 0
        self.error_counts: Counter[str] = Counter()
        self.skipped_counts: Counter[str] = Counter()
        self.tallies = {t.nct_id: TrialTally() for t in self.trials}
        try:
            out.mkdir(parents=True, exist_ok=True)
            self.scratch = out / SCRATCH
            self.scratch.mkdir(exist_ok=True)
            self._results: IO[bytes] = (out / RESULTS).open("wb")
            self._errors: IO[bytes] = (out / ERRORS).open("wb")
            self._candidates_file = (self.scratch / "candidates.csv").open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"--out {out}: cannot write ({exc.strerror})") from None
        self._candidates = csv.writer(self._candidates_file)

    @property
    def scratch_dir(self) -> Path:
        """A folder engines may use for spill files; removed by `finish()`."""
        return self.scratch

    def error(self, line: dict[str, Any]) -> None:
        self.error_counts[line["kind"]] += 1
        self._errors.write(orjson.dumps(line) + b"\n")

    def skipped(self, resource_type: str, count: int = 1) -> None:
        self.skipped_counts[resource_type] += count

    def patient(self, screening: PatientScreening) -> None:
        if screening.error is not None:
            self.error(screening.error)
            return
        self.patients += 1
        for line, detail in zip(screening.results, screening.candidates, strict=True):
            self._results.write(orjson.dumps(line) + b"\n")
            tally = self.tallies[line["trial"]]
            tally.counts[line["verdict"]] += 1
            tally.failing.update(line["failed"])
            tally.unknown.update(line["unknown"])
            if detail is not None:
                self._candidate(tally, line, detail)

    def _candidate(self, tally: TrialTally, line: dict[str, Any], detail: dict[str, Any]) -> None:
        summary = line["summary"]
        rank = _RANK[line["verdict"]]
        self._candidates.writerow([line["trial"], rank, summary["unknown"], line["patient"], line["verdict"],
                                   summary["pass"], summary["fail"], summary["unknown"], summary["manual"],
                                   ";".join(line["unknown"]), "; ".join(line["missing"])])
        tally.candidates_total += 1
        tally.candidates.append(((rank, summary["unknown"], line["patient"]), detail))
        if len(tally.candidates) >= 2 * self.report_candidates:  # keep the first N in worklist order
            tally.candidates.sort(key=lambda item: item[0])
            del tally.candidates[self.report_candidates:]

    def finish(self, meta: dict[str, Any]) -> ScreeningSummary:
        """Close the streams, write the worklist, the Groups and the report; `meta` is the report's header
        (engine, source, generated)."""
        self._results.close()
        self._errors.close()
        self._candidates_file.close()
        written = [self.out / RESULTS, self.out / ERRORS]
        try:
            written += self._sorted_outputs()
            written.append(self._report(meta))
        except OSError as exc:
            raise OutputError(f"--out {self.out}: cannot write ({exc.strerror})") from None
        shutil.rmtree(self.scratch, ignore_errors=True)
        return ScreeningSummary(self.patients, self.error_counts, self.skipped_counts, self.tallies, tuple(written))

    def close(self) -> None:
        """Abandon: close the streams and remove the scratch folder (after an error)."""
        for stream in (self._results, self._errors, self._candidates_file):
            stream.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # --- worklist and Groups: the candidates sorted on disk by DuckDB ---

    def _sorted_outputs(self) -> list[Path]:
        import duckdb

        con = duckdb.connect()
        try:
            con.execute(f"SET temp_directory = {sql_literal(str(self.scratch / 'duckdb-tmp'))}")
            con.execute(
                "CREATE TABLE candidates AS SELECT * FROM read_csv(?, header = false, auto_detect = false, "
                "quote = '\"', escape = '\"', columns = {'trial': 'VARCHAR', 'rank': 'INTEGER', "
                "'n_unknown': 'INTEGER', 'patient': 'VARCHAR', 'verdict': 'VARCHAR', 'pass': 'INTEGER', "
                "'fail': 'INTEGER', 'unknown': 'INTEGER', 'manual': 'INTEGER', 'unknown_criteria': 'VARCHAR', "
                "'tests_to_settle': 'VARCHAR'})",
                [str(self.scratch / "candidates.csv")],
            )
            worklist = self.out / WORKLIST
            order = "ORDER BY trial_rank, rank, n_unknown, patient"
            trial_rank = " ".join(f"WHEN {sql_literal(t.nct_id)} THEN {i}" for i, t in enumerate(self.trials))
            con.execute(f"CREATE VIEW ordered AS SELECT *, CASE trial {trial_rank} END AS trial_rank FROM candidates")
            columns = ", ".join(f'coalesce("{c}"::VARCHAR, \'\') AS "{c}"' for c in WORKLIST_COLUMNS)
            con.execute(f"COPY (SELECT {columns} FROM ordered {order}) TO {sql_literal(str(worklist))} "
                        "(HEADER, DELIMITER ',')")
            written = [worklist]
            for trial in self.trials:
                patients = self._patients(con, trial.nct_id)
                group = candidates_group(trial.nct_id, trial.title, patients, self.as_of, self.fhir_version)
                path = self.out / f"Group-{trial.nct_id}.json"
                path.write_text(json.dumps(group, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                written.append(path)
            return written
        finally:
            con.close()

    @staticmethod
    def _patients(con: Any, nct_id: str) -> Iterator[str]:
        cursor = con.execute("SELECT patient FROM ordered WHERE trial = ? ORDER BY rank, n_unknown, patient",
                             [nct_id])
        while rows := cursor.fetchmany(10_000):
            yield from (row[0] for row in rows)

    # --- the report ---

    def report_data(self, meta: dict[str, Any]) -> dict[str, Any]:
        trials = []
        for trial in self.trials:
            tally = self.tallies[trial.nct_id]
            tally.candidates.sort(key=lambda item: item[0])
            trials.append({
                "nct_id": trial.nct_id,
                "title": trial.title,
                "recruiting": trial.recruiting,
                "draft": trial.draft,
                "counts": {v: tally.counts.get(v, 0) for v in VERDICTS},
                "criteria": {c.id: {"text": c.text, "type": c.type} for c in trial.mapping.criteria},
                "top_failing": [{"id": i, "count": n} for i, n in tally.failing.most_common(_TOP)],
                "top_unknown": [{"id": i, "count": n} for i, n in tally.unknown.most_common(_TOP)],
                "candidates": [detail for _, detail in tally.candidates[: self.report_candidates]],
                "candidates_total": tally.candidates_total,
            })
        return {
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "as_of": self.as_of.isoformat(),
            **meta,
            "patients": self.patients,
            "errors": {"count": sum(self.error_counts.values()), "by_kind": dict(self.error_counts),
                       "file": ERRORS},
            "skipped": dict(self.skipped_counts),
            "trials": trials,
        }

    def _report(self, meta: dict[str, Any]) -> Path:
        from adapter.screening.report_html import render_report

        path = self.out / REPORT
        path.write_text(render_report(self.report_data(meta)), encoding="utf-8")
        return path
