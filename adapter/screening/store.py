"""The screening store (`screen --store DIR`): the grouped population and the last results, in one DuckDB file,
so that a new trial, a changed mapping or another `--as-of` is screened again without a new export.

Tables:
- `lines` (patient, line, ref): every line grouped under a patient — their Patient, what refers to them, the
  Medications their orders reference — as the engines group them; `ref` is the line's `Type/id` (deletions).
- `patients` (id, hash, resources): `hash` is the sha256 of the patient's sorted lines: it decides, with the
  compiled-trial hash (`fingerprint`), whether a stored result still holds.
- `results` (patient, trial, patient_hash, trial_hash, line, detail): the result line and its checklist.
- `patient_errors` (patient, patient_hash, trials_hash, line): a record that could not be screened.
- `load_errors`, `skipped`: what loading reported (replayed into every run's errors.ndjson and report).
- `pending` (patient, reason): patients an update could not re-read: not screened until read again.
- `meta`: the store's format, the server and the transaction time of its last export.

The store identifies patients: its folder is 0700 and the database 0600 (`private`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from adapter.errors import AdapterError
from adapter.limits import MAX_RESOURCES_PER_PATIENT
from adapter.screening.local import patient_groups
from adapter.screening.patient import PatientLines
from adapter.screening.private import FILE_MODE, private_folder
from adapter.screening.progress import Progress
from adapter.screening.routing import sql_literal

if TYPE_CHECKING:
    import duckdb

    from adapter.screening.outputs import ScreeningOutputs
    from adapter.screening.source import ExportFiles

DATABASE = "store.duckdb"
FORMAT = "trial-adapter screening store 1"  # another value: a store made by another version, refused
FETCH_ROWS = 20_000

_SCHEMA = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE patients (id VARCHAR PRIMARY KEY, hash VARCHAR NOT NULL, resources INTEGER NOT NULL,
                       known BOOLEAN NOT NULL);
CREATE TABLE lines (patient VARCHAR NOT NULL, line VARCHAR NOT NULL, ref VARCHAR);
CREATE TABLE results (patient VARCHAR, trial VARCHAR, patient_hash VARCHAR, trial_hash VARCHAR, line VARCHAR,
                      detail VARCHAR);
CREATE TABLE patient_errors (patient VARCHAR, patient_hash VARCHAR, trials_hash VARCHAR, line VARCHAR);
CREATE TABLE load_errors (line VARCHAR);
CREATE TABLE skipped (rtype VARCHAR, count BIGINT);
CREATE TABLE pending (patient VARCHAR PRIMARY KEY, reason VARCHAR);
"""

# The engines' grouping (local.py): each patient's lines, and the Medications their orders reference — every
# line, whichever trials this run selects (`store_load`: a later trial may read what this one does not).
# Tables of the database, not TEMP ones: on disk, under DuckDB's memory limit whatever the population.
_STAGED = """
CREATE OR REPLACE TABLE staged AS
WITH usable AS (SELECT key, line, rtype, med_id, med_ref FROM routed WHERE problem IS NULL),
     refs AS (SELECT DISTINCT key, med_ref FROM usable WHERE med_ref IS NOT NULL)
SELECT patient, line, ref, sha256(line) AS line_hash FROM (
    SELECT key AS patient, line, rtype || '/' || TRY(json_extract_string(line, '$.id')) AS ref
    FROM usable WHERE key IS NOT NULL
    UNION ALL
    SELECT refs.key, m.line, 'Medication/' || m.med_id FROM refs JOIN usable m
    ON m.rtype = 'Medication' AND m.med_id = refs.med_ref)
"""
_HASH_BATCH = 5_000


class StoreError(AdapterError):
    """The store cannot be used (missing, corrupt, made by another version)."""


@dataclass
class LoadCounts:
    """What one load or update did to the store's patients."""

    read: int = 0  # patients in the export (or re-read from the server)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)  # patient ids that left the store
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "new": self.new, "changed": self.changed, "unchanged": self.unchanged,
                "removed": len(self.removed)}


class _LoadRecorder:
    """The loader's sink: what loading reports is kept in the store, and every run (this one too) replays it."""

    def __init__(self, outputs: ScreeningOutputs) -> None:
        self.outputs = outputs  # for its scratch folder
        self.errors: list[dict[str, Any]] = []
        self.skipped_counts: Counter[str] = Counter()

    @property
    def scratch_dir(self) -> Path:
        return self.outputs.scratch_dir

    def error(self, line: dict[str, Any]) -> None:
        self.errors.append(line)

    def skipped(self, resource_type: str, count: int = 1) -> None:
        self.skipped_counts[resource_type] += count


class ScreeningStore:
    """One open store; use as a context manager."""

    def __init__(self, directory: Path, con: duckdb.DuckDBPyConnection) -> None:
        self.directory = directory
        self.con = con

    @classmethod
    def open(cls, directory: Path, *, create: bool, memory_limit: str = "1GB", threads: int = 1) -> ScreeningStore:
        import duckdb

        database = directory / DATABASE
        if not database.exists():
            if not create:
                raise StoreError(f"--store {directory}: no screening store there; load one first with --ndjson DIR "
                                 "or --server URL")
            try:
                private_folder(directory)
            except OSError as exc:
                raise StoreError(f"--store {directory}: cannot write ({exc.strerror})") from None
        elif database.is_symlink() or not database.is_file():
            raise StoreError(f"--store {directory}: {DATABASE} is not a regular file")
        try:
            con = duckdb.connect(str(database))
        except duckdb.Error as exc:
            raise StoreError(f"--store {directory}: {DATABASE} is not a readable screening store "
                             f"({str(exc).splitlines()[0]})") from None
        os.chmod(database, FILE_MODE)
        store = cls(directory, con)
        try:
            store._prepare(memory_limit, threads)
        except BaseException:
            con.close()
            raise
        return store

    def _prepare(self, memory_limit: str, threads: int) -> None:
        import duckdb

        try:
            tables = {t for t, in self.con.execute("SELECT table_name FROM information_schema.tables "
                                                   "WHERE table_schema = 'main'").fetchall()}
            if not tables:
                self.con.execute(_SCHEMA)
                self.set_meta("format", FORMAT)
            found = self.meta("format") if "meta" in tables or not tables else None
        except duckdb.Error as exc:
            raise StoreError(f"--store {self.directory}: not a screening store ({str(exc).splitlines()[0]})") from None
        if found != FORMAT:
            raise StoreError(f"--store {self.directory}: made by another version of trial-adapter "
                             f"({found or 'no format recorded'}); load a new store into another folder")
        if not memory_limit.replace(".", "").replace(" ", "").isalnum():
            raise AdapterError(f"--memory-limit {memory_limit!r} is not a size such as 2GB")
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute(f"SET temp_directory = {sql_literal(str(self.directory / 'duckdb-tmp'))}")
        self.con.execute(f"SET threads = {max(1, threads)}")

    def __enter__(self) -> ScreeningStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # --- meta ---

    def meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return cast("str | None", row[0]) if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        self.con.execute("DELETE FROM meta WHERE key = ?", [key])
        if value is not None:
            self.con.execute("INSERT INTO meta VALUES (?, ?)", [key, value])

    def count(self, table: str) -> int:
        assert table in ("patients", "lines", "results", "pending")
        (n,) = self.con.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
        return int(n)

    # --- loading ---

    def load(self, files: ExportFiles, outputs: ScreeningOutputs, progress: Progress, *,
             replace: bool) -> LoadCounts:
        """Group an export into the store. `replace`: the export is the whole population (patients not in it
        leave the store); else it holds whole records of changed patients, merged in."""
        from adapter.screening.store_load import load_every_line  # the engine's loader, every line kept

        recorder = _LoadRecorder(outputs)
        self.con.execute("DROP TABLE IF EXISTS routed")
        # Not in the transaction: the loader recovers from DuckDB errors (a file it cannot take), which would
        # abort one.
        try:
            load_every_line(self.con, files, cast("ScreeningOutputs", recorder), progress)
        except BaseException:
            self.con.execute("DROP TABLE IF EXISTS routed")
            raise
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(_STAGED)
            self._hash_patients()
            counts = self._merge(replace)
            self._keep_load_report(recorder, replace)
            for table in ("routed", "staged", "staged_patients"):
                self.con.execute(f"DROP TABLE {table}")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            self.con.execute("DROP TABLE IF EXISTS routed")
            raise
        return counts

    def _hash_patients(self) -> None:
        """`staged_patients`: each patient's content hash — the sha256 of their lines' sha256s, sorted (the
        lines' order in the export does not matter) — their line count, and whether their Patient is there.
        Hashed here, over an external sort, rather than by an aggregate holding every patient's lines."""
        import hashlib

        con = self.con
        cursor = con.execute("SELECT patient, line_hash, starts_with(coalesce(ref, ''), 'Patient/') FROM staged "
                             "ORDER BY patient, line_hash")
        rows: list[tuple[str, str, int, bool]] = []  # a short row per patient: kept until the sort is read
        key: str | None = None
        digest = hashlib.sha256()
        count, known = 0, False
        while batch := cursor.fetchmany(FETCH_ROWS):
            for patient, line_hash, is_patient in batch:
                if patient != key:
                    if key is not None:
                        rows.append((key, digest.hexdigest(), count, known))
                    key, digest, count, known = patient, hashlib.sha256(), 0, False
                digest.update(line_hash.encode())
                count += 1
                known = known or is_patient
        if key is not None:
            rows.append((key, digest.hexdigest(), count, known))
        con.execute("CREATE OR REPLACE TABLE staged_patients (id VARCHAR, hash VARCHAR, resources INTEGER, "
                    "known BOOLEAN)")
        for start in range(0, len(rows), _HASH_BATCH):
            columns = [list(c) for c in zip(*rows[start:start + _HASH_BATCH], strict=True)]
            con.execute("INSERT INTO staged_patients SELECT unnest(?), unnest(?), unnest(?), unnest(?)", columns)

    def _merge(self, replace: bool) -> LoadCounts:
        con = self.con
        counts = LoadCounts()
        (counts.read, counts.new, counts.changed) = con.execute(
            "SELECT count(*), count(*) FILTER (p.id IS NULL), count(*) FILTER (p.id IS NOT NULL AND p.hash <> s.hash) "
            "FROM staged_patients s LEFT JOIN patients p ON p.id = s.id").fetchone() or (0, 0, 0)
        counts.unchanged = counts.read - counts.new - counts.changed
        if replace:
            counts.removed = [i for i, in con.execute(
                "SELECT id FROM patients WHERE id NOT IN (SELECT id FROM staged_patients) ORDER BY id").fetchall()]
            self.remove(counts.removed)
        con.execute("CREATE TEMP TABLE replaced AS SELECT s.id FROM staged_patients s LEFT JOIN patients p "
                    "ON p.id = s.id WHERE p.id IS NULL OR p.hash <> s.hash")
        con.execute("DELETE FROM lines WHERE patient IN (SELECT id FROM replaced)")
        con.execute("DELETE FROM patients WHERE id IN (SELECT id FROM replaced)")
        con.execute("INSERT INTO patients SELECT s.* FROM staged_patients s JOIN replaced USING (id)")
        con.execute("INSERT INTO lines SELECT s.patient, s.line, s.ref FROM staged s "
                    "JOIN replaced r ON r.id = s.patient")
        con.execute("DELETE FROM pending WHERE patient IN (SELECT id FROM staged_patients)")
        con.execute("DROP TABLE replaced")
        return counts

    def _keep_load_report(self, recorder: _LoadRecorder, replace: bool) -> None:
        import orjson

        if replace:
            self.con.execute("DELETE FROM load_errors")
            self.con.execute("DELETE FROM skipped")
        for line in recorder.errors:
            self.con.execute("INSERT INTO load_errors VALUES (?)", [orjson.dumps(line).decode()])
        for rtype, n in recorder.skipped_counts.items():
            self.con.execute("INSERT INTO skipped VALUES (?, ?)", [rtype, n])

    def remove(self, patients: Sequence[str]) -> None:
        """Patients leave the store: their lines, their results."""
        if not patients:
            return
        ids = [list(patients)]
        for table, column in (("lines", "patient"), ("patients", "id"), ("results", "patient"),
                              ("patient_errors", "patient"), ("pending", "patient")):
            self.con.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?))", ids)

    def mark_pending(self, reasons: dict[str, str]) -> None:
        """Patients an update could not re-read: out of the store until read again (their old record could
        miss a new exclusion), named in every run's errors until then."""
        self.remove(list(reasons))
        for patient, reason in reasons.items():
            self.con.execute("INSERT INTO pending VALUES (?, ?)", [patient, reason])

    def pending(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT patient, reason FROM pending ORDER BY patient").fetchall())

    def present(self, patients: Iterable[str]) -> list[str]:
        """Those of `patients` the store holds."""
        return [p for p, in self.con.execute("SELECT id FROM patients WHERE id IN (SELECT unnest(?)) ORDER BY id",
                                             [sorted(set(patients))]).fetchall()]

    def patients_of(self, refs: Iterable[str]) -> list[str]:
        """The patients whose stored lines include any of `refs` (`Type/id`); a `Patient/<id>` is that
        patient."""
        wanted = sorted(set(refs))
        if not wanted:
            return []
        found = {p for p, in self.con.execute("SELECT DISTINCT patient FROM lines WHERE ref IN (SELECT unnest(?))",
                                              [wanted]).fetchall()}
        found |= {ref.removeprefix("Patient/") for ref in wanted if ref.startswith("Patient/")}
        return sorted(found)

    # --- replayed into each run ---

    def replay_load_report(self, outputs: ScreeningOutputs) -> None:
        import orjson

        cursor = self.con.execute("SELECT line FROM load_errors")
        while rows := cursor.fetchmany(FETCH_ROWS):
            for (line,) in rows:
                outputs.error(orjson.loads(line))
        for rtype, n in self.con.execute("SELECT rtype, sum(count)::BIGINT FROM skipped GROUP BY rtype "
                                         "ORDER BY rtype").fetchall():
            outputs.skipped(rtype, int(n))

    def groups(self, table: str, observation_pattern: str | None,
               cap: int = MAX_RESOURCES_PER_PATIENT) -> Iterator[tuple[str, PatientLines]]:
        """(patient id, their lines) for the patients listed in the table `table` (column id), by id, as the
        local engine groups them: Observations no trial reads (`observation_pattern`, from `selection`) left out
        but counted, a record over `cap` handed over without its lines (reported, not loaded)."""
        wanted = "TRUE" if observation_pattern is None else (
            f"(NOT p.known OR l.ref IS NULL OR NOT starts_with(l.ref, 'Observation/') "
            f"OR regexp_matches(l.line, {sql_literal(observation_pattern)}))")
        cursor = self.con.cursor().execute(f"""
            SELECT l.patient, l.line, p.resources FROM lines l JOIN {table} t ON t.id = l.patient
            JOIN patients p ON p.id = l.patient WHERE p.resources <= {int(cap)} AND {wanted}
            UNION ALL
            SELECT p.id, NULL, p.resources FROM patients p JOIN {table} t ON t.id = p.id
            WHERE p.resources > {int(cap)}
            ORDER BY 1""")
        yield from patient_groups(cursor)
