"""What a screening writes into OUT, whichever engine ran it: results.ndjson and errors.ndjson as patients are
screened, then worklist.csv, attrition.csv, Group-<NCT>.json and report.html at the end.

Memory stays bounded whatever the population: result and error lines go straight to disk, worklist rows to a
scratch CSV that DuckDB sorts into the worklist, and the report keeps only counts and its first
`report_candidates` patients per trial in worklist order (the worklist has them all).

Every output but the scratch folder identifies patients (names, MRNs, birth dates, or patient ids): OUT is made
0700 and each file is created 0600 (`private`).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import orjson

from adapter.eligibility.engine import DECEASED_ID
from adapter.errors import AdapterError
from adapter.screening.attrition import ATTRITION_COLUMNS, Attrition, attrition_records
from adapter.screening.group import candidates_group
from adapter.screening.patient import PatientScreening
from adapter.screening.private import private_folder, private_open, private_write_text
from adapter.screening.routing import sql_literal

if TYPE_CHECKING:
    from adapter.catalog import Trial

RESULTS = "results.ndjson"
ERRORS = "errors.ndjson"
WORKLIST = "worklist.csv"
REPORT = "report.html"
ATTRITION = "attrition.csv"
SCRATCH = ".screening-scratch"
VERDICTS = ("potentially-eligible", "insufficient-data", "ineligible")
WORKLIST_COLUMNS = ("trial", "draft", "patient", "name", "mrn", "mrn_system", "birth_date", "age", "sex", "verdict",
                    "pass", "fail", "unknown", "manual", "last_data", "failed_criteria", "unknown_criteria",
                    "tests_to_settle")
# Columns of text (from mappings and the export: names, identifiers, concept displays, ids): a spreadsheet would
# run a cell starting with one of FORMULA_STARTS as a formula (`=HYPERLINK(…)`), so such cells get a leading '
# (OWASP CSV injection). The count columns and the age are integers and are written as they are.
NUMBER_COLUMNS = frozenset({"pass", "fail", "unknown", "manual", "age"})
TEXT_COLUMNS = frozenset(WORKLIST_COLUMNS) - NUMBER_COLUMNS
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The scratch CSV DuckDB sorts: the worklist's columns plus the sort keys.
_SCRATCH_COLUMNS = {"rank": "INTEGER", "n_unknown": "INTEGER", **{c: "INTEGER" if c in NUMBER_COLUMNS else "VARCHAR"
                                                                  for c in WORKLIST_COLUMNS}}
# For action: potentially eligible, insufficient data, ineligible; fewest open criteria, freshest data first.
_ORDER = "rank, n_unknown, last_data DESC NULLS LAST, patient"
_RANK = {verdict: rank for rank, verdict in enumerate(VERDICTS)}
_CANDIDATE_RANKS = 2  # ranks below this are the Group's candidates
_TOP = 10


def neutralised(value: Any) -> Any:
    """A text cell as a spreadsheet must read it: a leading ' when it would start a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _worklist_cell(column: str) -> str:
    """The SQL of one worklist column: text neutralised against formula injection, numbers untouched."""
    value = f'coalesce("{column}"::VARCHAR, \'\')'
    if column not in TEXT_COLUMNS:
        return f'{value} AS "{column}"'
    starts = ", ".join(sql_literal(c) for c in FORMULA_STARTS)
    return f'CASE WHEN left({value}, 1) IN ({starts}) THEN \'\'\'\' || {value} ELSE {value} END AS "{column}"'


class OutputError(AdapterError):
    """OUT cannot be written."""


@dataclass
class TrialTally:
    """What the report says of one trial, accumulated as patients arrive."""

    counts: Counter[str] = field(default_factory=Counter)
    failing: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    # The report's patients in worklist order: candidates first, then the ineligible (failing criteria only).
    candidates: list[tuple[tuple[int, int, tuple[int, int], str], dict[str, Any]]] = field(default_factory=list)
    candidates_total: int = 0
    attrition: Attrition = field(default_factory=lambda: Attrition([]))


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
        self.criteria = {t.nct_id: _criteria_of(t) for t in self.trials}
        self.tallies = {t.nct_id: TrialTally(attrition=Attrition(list(self.criteria[t.nct_id])))
                        for t in self.trials}
        try:
            private_folder(out)
            self.scratch = out / SCRATCH
            self.scratch.mkdir(exist_ok=True, mode=0o700)
            self._results: IO[bytes] = private_open(out / RESULTS)
            self._errors: IO[bytes] = private_open(out / ERRORS)
            self._candidates_file = private_open(self.scratch / "candidates.csv", "w", newline="", encoding="utf-8")
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
            tally.attrition.add(line["failed"], line["unknown"])
            self._worklist_row(tally, line, detail or line)

    def _worklist_row(self, tally: TrialTally, line: dict[str, Any], detail: dict[str, Any]) -> None:
        summary = line["summary"]
        rank = _RANK.get(line["verdict"], len(VERDICTS))
        cells = {**line, **summary, "draft": "yes" if line.get("draft") else "no",
                 "failed_criteria": ";".join(line["failed"]), "unknown_criteria": ";".join(line["unknown"]),
                 "tests_to_settle": "; ".join(line["missing"])}
        self._candidates.writerow([rank, summary["unknown"], *(cells.get(c) for c in WORKLIST_COLUMNS)])
        tally.candidates_total += 1
        tally.candidates.append(((rank, summary["unknown"], _newest_first(line.get("last_data")), line["patient"]),
                                 detail))
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
            written.append(self._attrition())
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
            columns_sql = ", ".join(f"{sql_literal(c)}: {sql_literal(t)}" for c, t in _SCRATCH_COLUMNS.items())
            con.execute(
                "CREATE TABLE candidates AS SELECT * FROM read_csv(?, header = false, auto_detect = false, "
                f"quote = '\"', escape = '\"', columns = {{{columns_sql}}})",
                [str(self.scratch / "candidates.csv")],
            )
            worklist = self.out / WORKLIST
            order = f"ORDER BY trial_rank, {_ORDER}"
            trial_rank = " ".join(f"WHEN {sql_literal(t.nct_id)} THEN {i}" for i, t in enumerate(self.trials))
            con.execute(f"CREATE VIEW ordered AS SELECT *, CASE trial {trial_rank} END AS trial_rank FROM candidates")
            columns = ", ".join(_worklist_cell(c) for c in WORKLIST_COLUMNS)
            private_open(worklist).close()  # 0600 before DuckDB writes into it
            con.execute(f"COPY (SELECT {columns} FROM ordered {order}) TO {sql_literal(str(worklist))} "
                        "(HEADER, DELIMITER ',')")
            os.chmod(worklist, 0o600)
            written = [worklist]
            for trial in self.trials:
                patients = self._patients(con, trial.nct_id)
                group = candidates_group(trial.nct_id, trial.title, patients, self.as_of, self.fhir_version)
                path = self.out / f"Group-{trial.nct_id}.json"
                private_write_text(path, json.dumps(group, indent=2, ensure_ascii=False) + "\n")
                written.append(path)
            return written
        finally:
            con.close()

    @staticmethod
    def _patients(con: Any, nct_id: str) -> Iterator[str]:
        cursor = con.execute(f"SELECT patient FROM ordered WHERE trial = ? AND rank < {_CANDIDATE_RANKS} "
                             f"ORDER BY {_ORDER}", [nct_id])
        while rows := cursor.fetchmany(10_000):
            yield from (row[0] for row in rows)

    def _attrition(self) -> Path:
        path = self.out / ATTRITION
        with private_open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(ATTRITION_COLUMNS)
            for trial in self.trials:
                records = attrition_records(trial.nct_id, self.tallies[trial.nct_id].attrition,
                                            self.criteria[trial.nct_id])
                writer.writerows([neutralised(cell) for cell in row] for row in records)
        return path

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
                "criteria": self.criteria[trial.nct_id],
                "screened": tally.attrition.screened,
                "attrition": tally.attrition.rows(),
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
        private_write_text(path, render_report(self.report_data(meta)))
        return path


def _newest_first(day: str | None) -> tuple[int, int]:
    """A sort key putting the newest YYYY-MM-DD first and no date last (DuckDB's DESC NULLS LAST)."""
    if not day:
        return (1, 0)
    return (0, -date.fromisoformat(day).toordinal())


def _criteria_of(trial: Trial) -> dict[str, dict[str, str]]:
    """Every criterion a result can name: the record's gates and the mapping's (the EvidenceVariable's top
    level), and the deceased gate every trial has."""
    found = {DECEASED_ID: {"text": "The patient is recorded as deceased (Patient.deceased[x]).", "type": "exclusion"}}
    for c in trial.evidence_variable["characteristic"]:
        if c.get("linkId"):
            kind = "exclusion" if c.get("exclude") else "inclusion"
            found[c["linkId"]] = {"text": c.get("description") or "", "type": kind}
    return found
