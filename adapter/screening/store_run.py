"""A screening run with a store: load or update it from the export (when there is one), apply what the server
says was deleted, then screen from the store (`store_screen`) — the run record says what each step did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapter.screening.store_screen import screen_store

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.screening.outputs import ScreeningOutputs
    from adapter.screening.progress import Progress
    from adapter.screening.run import ScreenRequest
    from adapter.screening.run_record import RunRecord
    from adapter.screening.source import ExportFiles
    from adapter.screening.store import ScreeningStore


def screen_with_store(store: ScreeningStore, files: ExportFiles | None, request: ScreenRequest, trials: list[Trial],
                      outputs: ScreeningOutputs, record: RunRecord, progress: Progress) -> None:
    update = request.update
    if files is None and store.meta("loaded") is None:
        from adapter.screening.store import StoreError

        raise StoreError(f"--store {store.directory}: nothing was ever loaded into it (an earlier load failed?); "
                         "load it with --ndjson DIR or --server URL")
    if files is not None:
        with record.phase("load"):
            counts = store.load(files, outputs, progress, replace=update.replace)
            present = store.present(update.gone)
            store.remove(update.gone)
            store.mark_pending(dict(update.unread))
            store.set_meta("transaction_time", files.transaction_time or request.transaction_time)
            store.set_meta("server", update.server)
            store.set_meta("group", update.group)
            store.set_meta("loaded", datetime.now(UTC).isoformat(timespec="seconds"))
        record.counts["store"] = {
            **counts.as_dict(),
            "removed_patients": len(counts.removed) + len(present),
            "deleted_resources": len(update.deleted),
            "unread_patients": len(update.unread),
        }
        for patient in counts.removed:
            record.notes.append(f"Patient/{patient} is not in this export (a whole population): it left the store "
                                "and the results")
        for patient in sorted(present):
            record.notes.append(f"Patient/{patient} was deleted on the server since {update.since}: it left the "
                                "store and the results")
    record.inputs["transaction_time"] = store.meta("transaction_time")
    record.inputs["store_server"] = store.meta("server")
    record.counts["store_patients"] = store.count("patients")
    store.replay_load_report(outputs)
    with record.phase("screen"):
        record.counts.update(screen_store(store, trials, request.recipe, outputs, workers=request.workers,
                                          progress=progress))
