"""`trial-adapter screen`: population pre-screening of a Bulk Data export (a directory, or a server's
`$export`) against the trials, with the local (DuckDB) or the Spark engine. Parsed and run like the others in
`adapter.cli`, whose helpers it shares; the work is `adapter.screening`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.cli.options import (
    ENV_MAPPINGS,
    as_of_date,
    cache_file,
    fhir_client,
    load_trial_catalog,
    reference_ranges_option,
    server_options,
    terminology_options,
    trial_options,
)
from adapter.errors import AdapterError

if TYPE_CHECKING:
    from adapter.screening.outputs import ScreeningSummary
    from adapter.screening.server import ServerPopulation
    from adapter.screening.store import ScreeningStore

EXPORT_FOLDER = "export"


def cmd_screen(args: argparse.Namespace) -> int:
    from adapter.screening.patient import JobRecipe

    if args.store is None and (args.ndjson is None) == (args.server is None):
        raise AdapterError("give either --ndjson DIR (a Bulk Data export on disk) or --server URL")
    if args.ndjson is not None and args.server is not None:
        raise AdapterError("give either --ndjson DIR (a Bulk Data export on disk) or --server URL, not both")
    if args.server is None and (args.group or args.since):
        raise AdapterError("--group and --since need --server")
    if args.ndjson is not None and args.ndjson.is_file():  # Patient.ndjson itself, not the export's folder
        raise AdapterError(f"--ndjson {args.ndjson} is a file: pass the folder that holds the export's files "
                           f"(--ndjson {args.ndjson.parent})")
    if args.store is not None and args.engine != "local":
        raise AdapterError("--store screens with the local engine: leave out --engine spark")
    catalog = load_trial_catalog(args)
    trials = catalog.select(args.trial)
    mapping_dirs = [p for p in os.environ.get(ENV_MAPPINGS, "").split(os.pathsep) if p.strip()]
    mapping_dirs += [str(p.resolve()) for p in args.mappings or ()]
    recipe = JobRecipe(tuple(mapping_dirs), tuple(t.nct_id for t in trials), as_of_date(args.as_of),
                       str(cache_file().parent), reference_ranges=catalog.reference_ranges,
                       mrn_system=args.mrn_system, terminology_server=args.terminology_server)
    if args.store is not None:
        from adapter.screening.store import ScreeningStore

        with ScreeningStore.open(args.store, create=args.ndjson is not None or args.server is not None,
                                 memory_limit=args.memory_limit, threads=args.workers) as store:
            summary = _screen(args, trials, recipe, store)
    else:
        summary = _screen(args, trials, recipe, None)
    _print_summary(summary, args.out)
    return 0


def _screen(args: argparse.Namespace, trials: list[Any], recipe: Any, store: ScreeningStore | None,
            ) -> ScreeningSummary:
    from adapter.screening.progress import progress_for_stderr
    from adapter.screening.run import ScreenRequest, StoreUpdate, screen

    source, label, transaction_time = args.ndjson, None, None
    server_errors: tuple[str, ...] = ()
    update = StoreUpdate()
    if args.server is not None:
        since = args.since
        if since is None and store is not None and store.meta("server") == args.server \
                and store.meta("group") == args.group and store.count("patients"):
            since = store.meta("transaction_time")  # the store follows this server: only what changed since
        exported = _export(args, trials, since, store)
        source, label = exported.directory, args.server
        server_errors, transaction_time = exported.errors, exported.transaction_time
        update = StoreUpdate(replace=since is None, since=since, server=args.server, group=args.group,
                             deleted=exported.deleted, gone=exported.gone, unread=exported.unread)
    request = ScreenRequest(source=source, out=args.out, recipe=recipe, engine=args.engine,
                            workers=args.workers, spark_master=args.spark_master, fhir_version=args.fhir_version,
                            memory_limit=args.memory_limit, report_candidates=args.report_candidates,
                            source_label=label, source_errors=server_errors, transaction_time=transaction_time,
                            store=args.store, update=update)
    with progress_for_stderr() as progress:
        summary = screen(request, trials, progress, store)
    for note in json.loads((args.out / "run.json").read_text()).get("notes", ()):
        print(f"note: {note}", file=sys.stderr)
    return summary


def _export(args: argparse.Namespace, trials: list[Any], since: str | None,
            store: ScreeningStore | None) -> ServerPopulation:
    """Run the server's Bulk Data export into OUT/export (a new one each run); with a store, `since` applies
    what was deleted on the server to the store's patients too."""
    from adapter.fhir.bulk import DownloadLimits
    from adapter.screening.private import private_folder
    from adapter.screening.server import export_population

    directory = args.out / EXPORT_FOLDER
    try:  # the export holds patients' records: into a folder only its owner can read, before the download
        private_folder(args.out)
    except OSError as exc:
        raise AdapterError(f"--out {args.out}: cannot write ({exc.strerror})") from None
    _clear_previous_export(directory)
    on_progress = (lambda message: print(f"export: {message}", file=sys.stderr)) if sys.stderr.isatty() else None
    caps = {"max_file_bytes": args.export_max_file_bytes, "max_total_bytes": args.export_max_total_bytes}
    limits = DownloadLimits(**{name: value for name, value in caps.items() if value is not None})
    with fhir_client(args) as client:
        return export_population(client, trials, directory, group=args.group, since=since,
                                 timeout_s=args.export_timeout, allowed_origins=args.allow_file_origin or (),
                                 limits=limits, on_progress=on_progress,
                                 patients_of=store.patients_of if store is not None else None)


def _clear_previous_export(directory: Path) -> None:
    """An earlier run's OUT/export is replaced — but only when it holds nothing but what an export writes."""
    import shutil

    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):  # files would land elsewhere
        raise AdapterError(f"{directory} is a symbolic link or not a folder; remove it or choose another --out")
    if not directory.is_dir():
        return
    entries = list(directory.iterdir())
    ours = all(e.name.endswith((".ndjson", ".ndjson.gz")) or (e.name in ("error", "since") and e.is_dir())
               for e in entries)
    if entries and not ours:
        raise AdapterError(f"{directory} holds files that are not an export's; move them or choose another --out")
    shutil.rmtree(directory)


def _print_summary(summary: ScreeningSummary, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Screened {summary.patients:,} patients", title_justify="left")
    for column in ("trial", "potentially eligible", "insufficient data", "ineligible", "top unknown"):
        table.add_column(column, justify="left" if column in ("trial", "top unknown") else "right")
    for nct_id, tally in summary.tallies.items():
        top = ", ".join(f"{i} ({n:,})" for i, n in tally.unknown.most_common(3))
        table.add_row(nct_id, *(f"{tally.counts.get(v, 0):,}" for v in
                                ("potentially-eligible", "insufficient-data", "ineligible")), top)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    console.print(table)
    errors = sum(summary.errors.values())
    if errors:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(summary.errors.items()))
        records = "record" if errors == 1 else "records"
        console.print(f"{errors:,} {records} not screened ({kinds}): see {out / 'errors.ndjson'}")
    if summary.skipped:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(summary.skipped.items()))
        console.print(f"not read by these trials (counted, skipped): {kinds}")
    console.print("wrote " + ", ".join(p.name for p in summary.outputs) + f" in {out}")


def add_screen_command(commands: Any) -> None:
    screen = commands.add_parser("screen", help="pre-screen a population (a Bulk Data export) against trials")
    trial_options(screen)
    reference_ranges_option(screen)
    terminology_options(screen)
    source = screen.add_argument_group("the population")
    source.add_argument("--ndjson", type=Path, metavar="DIR", help="a Bulk Data export on disk (NDJSON, .gz)")
    source.add_argument("--server", metavar="URL", help="a FHIR server to run Patient/$export on")
    source.add_argument("--group", metavar="ID", help="Group/[id]/$export instead of Patient/$export")
    source.add_argument("--since", metavar="INSTANT",
                        help="_since: only resources changed after it (with --store: default, the store's last "
                             "export from this server)")
    source.add_argument("--store", type=Path, metavar="DIR",
                        help="a screening store: --ndjson/--server load or update it; without them, screen again "
                             "from it (only changed patients and trials are evaluated)")
    source.add_argument("--export-timeout", type=float, default=3600.0, metavar="SECONDS",
                        help="how long the server's export may take: kick-off, polling, downloads (default: 3600)")
    source.add_argument("--allow-file-origin", action="append", metavar="ORIGIN",
                        help="fetch export files from this origin too (repeatable; default: the server's only)")
    source.add_argument("--export-max-file-bytes", type=int, metavar="N",
                        help="largest export file downloaded (default: 2 GiB)")
    source.add_argument("--export-max-total-bytes", type=int, metavar="N",
                        help="all export files together (default: 64 GiB)")
    screen.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today)")
    screen.add_argument("--engine", choices=["local", "spark"], default="local")
    screen.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="processes (local) or local Spark cores (default: all cores)")
    screen.add_argument("--spark-master", metavar="URL", help="a Spark cluster (default: local[N])")
    screen.add_argument("--memory-limit", default="1GB", metavar="SIZE",
                        help="DuckDB's memory before it spills to disk (local engine; default: 1GB)")
    screen.add_argument("--fhir-version", choices=["R4", "R5"], default="R4", help="of the Group files")
    screen.add_argument("--report-candidates", type=int, default=2000, metavar="N",
                        help="candidates per trial listed in report.html (all are in worklist.csv)")
    screen.add_argument("--mrn-system", metavar="URI",
                        help="the identifier system of the site's MRN (default: the identifier typed MR, else the "
                             "first)")
    screen.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output folder, made 0700; its files identify patients and are created 0600")
    server_options(screen)
    screen.set_defaults(run=cmd_screen)
