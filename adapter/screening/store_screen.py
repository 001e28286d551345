"""Screening from the store: only what changed is evaluated, then every patient's outcome goes to the outputs.

1. Plan: per patient, the run's trials without a stored result for the patient's current content hash and the
   trial's current compiled hash (`fingerprint`); a stored error for this hash and this set of trials stands.
2. Evaluate: patients grouped by the trials they need, each group through `executor.screen_groups` with a
   recipe of those trials only; the outcomes are kept in the store.
3. Emit: every patient by id, their result lines in the run's trial order (or their error) — the same lines a
   fresh screen writes (results.ndjson in patient order, as the local engine with one worker writes it).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

import orjson

from adapter.errors import AdapterError
from adapter.screening.executor import screen_groups
from adapter.screening.fingerprint import trial_hashes, trial_set_hash
from adapter.screening.patient import JobRecipe, PatientScreening
from adapter.screening.progress import Progress
from adapter.screening.selection import selection_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from adapter.catalog import Trial
    from adapter.screening.outputs import ScreeningOutputs
    from adapter.screening.store import ScreeningStore

FLUSH_ROWS = 2_000
IN_PROCESS_UP_TO = 64  # patients to evaluate; more go to the worker pool


class _Kept:
    """The executor's sink for a store run: outcomes into temp tables of the store, in batches."""

    def __init__(self, store: ScreeningStore) -> None:
        self.con = store.con
        self.results: list[tuple[str, str, str, str]] = []
        self.errors: list[tuple[str, str]] = []
        self.patients = 0
        self.pairs = 0
        self.con.execute("CREATE OR REPLACE TEMP TABLE fresh (patient VARCHAR, trial VARCHAR, line VARCHAR, "
                         "detail VARCHAR)")
        self.con.execute("CREATE OR REPLACE TEMP TABLE fresh_errors (patient VARCHAR, line VARCHAR)")

    def patient(self, screening: PatientScreening) -> None:
        self.patients += 1
        patient_id = screening.patient.removeprefix("Patient/")
        if screening.error is not None:
            self.errors.append((patient_id, orjson.dumps(screening.error).decode()))
        for line, detail in zip(screening.results, screening.candidates, strict=True):
            self.pairs += 1
            self.results.append((patient_id, line["trial"], orjson.dumps(line).decode(),
                                 orjson.dumps(detail).decode()))
        if len(self.results) >= FLUSH_ROWS or len(self.errors) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.results:
            columns = [list(c) for c in zip(*self.results, strict=True)]
            self.con.execute("INSERT INTO fresh SELECT unnest(?), unnest(?), unnest(?), unnest(?)", columns)
            self.results = []
        if self.errors:
            columns = [list(c) for c in zip(*self.errors, strict=True)]
            self.con.execute("INSERT INTO fresh_errors SELECT unnest(?), unnest(?)", columns)
            self.errors = []


def screen_store(store: ScreeningStore, trials: Sequence[Trial], recipe: JobRecipe, outputs: ScreeningOutputs,
                 *, workers: int, progress: Progress) -> dict[str, int]:
    """Screen the store's population against `trials` into `outputs`; the counts for the run record."""
    con = store.con
    hashes = trial_hashes(trials, recipe)
    set_hash = trial_set_hash(hashes)
    con.execute("CREATE OR REPLACE TEMP TABLE run_trials (trial VARCHAR, hash VARCHAR, ord INTEGER)")
    con.execute("INSERT INTO run_trials SELECT unnest(?), unnest(?), unnest(?)",
                [list(hashes), list(hashes.values()), list(range(len(hashes)))])
    needs = _plan(store, set_hash)
    kept = _Kept(store)
    total = sum(len(ids) for ids in needs.values())
    if total <= IN_PROCESS_UP_TO:  # a few changed patients: starting worker processes would take longer
        workers = 1
    progress.stage("patients evaluated", total)
    for trial_ids, patient_ids in needs.items():
        # a table of the database, not TEMP: the groups are read on a cursor of their own (another connection)
        con.execute("CREATE OR REPLACE TABLE to_screen AS SELECT unnest(?) AS id", [patient_ids])
        subset = dataclasses.replace(recipe, trial_ids=trial_ids)
        pattern = selection_for([t for t in trials if t.nct_id in trial_ids]).observation_pattern()
        # The executor only calls `patient()` on its sink.
        screen_groups(store.groups("to_screen", pattern), subset, cast("ScreeningOutputs", kept), workers=workers,
                      progress=progress)
        kept.flush()
    con.execute("DROP TABLE IF EXISTS to_screen")
    _keep(store, set_hash)
    emitted = _emit(store, outputs, len(hashes))
    for patient, reason in store.pending().items():
        outputs.error({"kind": "export-error", "patient": f"Patient/{patient}", "reason": reason})
    reused = emitted - kept.patients
    return {"patients": emitted, "patients_evaluated": kept.patients, "patients_reused": reused,
            "results_evaluated": kept.pairs, "pending": len(store.pending())}


def _plan(store: ScreeningStore, set_hash: str) -> dict[tuple[str, ...], list[str]]:
    """{the trials to evaluate (run order): the patients who need exactly those}."""
    store.con.execute(
        "CREATE OR REPLACE TEMP TABLE current_errors AS SELECT e.patient, e.line FROM patient_errors e "
        "JOIN patients p ON p.id = e.patient AND p.hash = e.patient_hash WHERE e.trials_hash = ?", [set_hash])
    rows = store.con.execute("""
        SELECT p.id, list(t.trial ORDER BY t.ord) FROM patients p CROSS JOIN run_trials t
        LEFT JOIN results r ON r.patient = p.id AND r.trial = t.trial AND r.patient_hash = p.hash
                           AND r.trial_hash = t.hash
        WHERE r.patient IS NULL AND p.id NOT IN (SELECT patient FROM current_errors)
        GROUP BY p.id ORDER BY p.id""").fetchall()
    needs: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for patient_id, trial_ids in rows:
        needs[tuple(trial_ids)].append(patient_id)
    return dict(needs)


def _keep(store: ScreeningStore, set_hash: str) -> None:
    """The fresh outcomes replace the stored ones, with the hashes they were computed for."""
    con = store.con
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM results WHERE (patient, trial) IN (SELECT (patient, trial) FROM fresh)")
        con.execute("INSERT INTO results SELECT f.patient, f.trial, p.hash, t.hash, f.line, f.detail FROM fresh f "
                    "JOIN patients p ON p.id = f.patient JOIN run_trials t ON t.trial = f.trial")
        con.execute("DELETE FROM patient_errors WHERE patient IN (SELECT patient FROM fresh_errors) "
                    "OR patient IN (SELECT patient FROM fresh)")
        con.execute("INSERT INTO patient_errors SELECT f.patient, p.hash, ?, f.line FROM fresh_errors f "
                    "JOIN patients p ON p.id = f.patient", [set_hash])
        con.execute("DROP TABLE fresh")
        con.execute("DROP TABLE fresh_errors")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("CREATE OR REPLACE TEMP TABLE current_errors AS SELECT e.patient, e.line FROM patient_errors e "
                "JOIN patients p ON p.id = e.patient AND p.hash = e.patient_hash WHERE e.trials_hash = ?",
                [set_hash])


_EMIT = """
SELECT p.id, e.line, r.line, r.detail FROM patients p
LEFT JOIN current_errors e ON e.patient = p.id
LEFT JOIN (SELECT r.patient, r.line, r.detail, t.ord FROM results r
           JOIN run_trials t ON t.trial = r.trial AND t.hash = r.trial_hash
           JOIN patients q ON q.id = r.patient AND q.hash = r.patient_hash) r
       ON r.patient = p.id AND e.line IS NULL
ORDER BY p.id, r.ord
"""


def _emit(store: ScreeningStore, outputs: ScreeningOutputs, trials: int) -> int:
    cursor = store.con.execute(_EMIT)
    patients = 0
    current: str | None = None
    error: str | None = None
    rows: list[tuple[str, str]] = []

    def send() -> None:
        assert current is not None
        patient = f"Patient/{current}"
        if error is not None:
            outputs.patient(PatientScreening(patient, error=orjson.loads(error)))
            return
        if len(rows) != trials:  # a bug, never a silent gap in the results
            raise AdapterError(f"the store holds {len(rows)} of {trials} results for {patient}; "
                               "run again with --ndjson or --server to reload it")
        lines: list[dict[str, Any]] = [orjson.loads(line) for line, _ in rows]
        details: list[dict[str, Any] | None] = [orjson.loads(detail) for _, detail in rows]
        outputs.patient(PatientScreening(patient, results=tuple(lines), candidates=tuple(details)))

    while batch := cursor.fetchmany(FLUSH_ROWS):
        for patient_id, error_line, line, detail in batch:
            if patient_id != current:
                if current is not None:
                    send()
                    patients += 1
                current, error, rows = patient_id, error_line, []
            if line is not None:
                rows.append((line, detail))
    if current is not None:
        send()
        patients += 1
    return patients
