"""`trial-adapter evaluate` and `demo`: a patient's FHIR data against the trials, in the format asked for.

`evaluate --format`: `json` (always a list, one report per trial: docs/report.schema.json), `text` (a checklist
for people), `summary` (one line per trial) or `fhir` (one FHIR R5 `collection` Bundle holding, per trial, the
ResearchSubject and the Parameters of adapter.render.fhir). Parsed and run like the others in `adapter.cli`,
whose helpers it shares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.cli.options import (
    as_of_date,
    fhir_client,
    load_trial_catalog,
    reference_ranges_option,
    server_options,
    terminology_from_args,
    terminology_options,
    trial_options,
    write_json,
)
from adapter.errors import AdapterError

if TYPE_CHECKING:
    from adapter.evaluation import TrialEvaluation

FORMATS = ("json", "text", "summary", "fhir")
SAMPLES = "samples"  # the sample patients shipped inside the package (adapter/samples links to fixtures/patients)


def read_bundle(source: str) -> Any:
    """The parsed JSON of a file (or stdin for `-`); XML and NDJSON are named, with what to do instead."""
    from adapter.patients import read_json_file

    return read_json_file(source)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from adapter.core import Eligibility
    from adapter.patients import pull_patient_record, read_patient_file

    if (args.bundle is None) == (args.server is None):
        raise AdapterError("give either --bundle FILE (- for stdin) or --server URL --patient ID")
    if args.server is not None and not args.patient:
        raise AdapterError("--server needs --patient ID")
    with Eligibility(load_trial_catalog(args), terminology=terminology_from_args(args)) as eligibility:
        trials = eligibility.trials(getattr(args, "trial", None))
        as_of = as_of_date(args.as_of)
        if args.server is not None:
            with fhir_client(args, one_deadline=True) as client:  # the whole pull within --timeout
                # The server must answer about the patient asked for; anything else is an input error (exit 2).
                record = pull_patient_record(client, args.patient, trials)
        else:
            record = read_patient_file(args.bundle)
        results = list(eligibility.evaluate(record, trials, as_of))
    write_results(results, args.format, verbose=args.verbose)
    return 0


def summary_line(result: TrialEvaluation) -> str:
    """`NCT03320629  potentially-eligible  pass 14 · fail 0 · unknown 0 · manual 22`."""
    counts = result.summary
    tally = " · ".join(f"{kind} {counts[kind]}" for kind in ("pass", "fail", "unknown", "manual"))
    return f"{result.nct_id}  {result.verdict:<20}  {tally}"


def fhir_collection(results: list[TrialEvaluation]) -> dict[str, Any]:
    """Per trial, the ResearchSubject and its Parameters (adapter.render.fhir), together in one collection Bundle."""
    from adapter.render.fhir import evaluation_bundle

    entries = [entry for result in results for entry in evaluation_bundle(result)["entry"]]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def write_results(results: list[TrialEvaluation], fmt: str, *, verbose: bool = False) -> None:
    if fmt == "text":
        from adapter.render.text import report_text

        colour = sys.stdout.isatty()
        sys.stdout.write("\n".join(report_text(r, colour=colour, verbose=verbose) for r in results))
    elif fmt == "summary":
        sys.stdout.write("".join(summary_line(r) + "\n" for r in results))
    elif fmt == "fhir":
        write_json(fhir_collection(results), None, "")
    else:
        from adapter.render.report import report_json

        write_json([report_json(r) for r in results], None, "")  # always a list, even for one trial


def sample_patients() -> Path:
    """The sample patients shipped inside the package (what `demo` evaluates by default, from any directory)."""
    from importlib.resources import files

    folder = files("adapter") / SAMPLES
    if not isinstance(folder, Path) or not folder.is_dir():
        raise AdapterError("the packaged sample patients are missing; give --patients DIR")
    return folder


def cmd_demo(args: argparse.Namespace) -> int:
    from adapter.demo import format_table, run_demo

    patients = args.patients if args.patients is not None else sample_patients()
    rows = run_demo(load_trial_catalog(args), args.out, as_of_date(args.as_of), patients)
    sys.stdout.write(format_table(rows))
    print(f"FHIR resources and reports written under {args.out}/", file=sys.stderr)
    return 0


def add_evaluate_commands(commands: Any) -> None:
    evaluate = commands.add_parser("evaluate", help="evaluate a patient's FHIR data against trials")
    trial_options(evaluate)
    evaluate.add_argument("--bundle", metavar="FILE", help="patient Bundle (FHIR JSON, R4 or R5); - reads stdin")
    evaluate.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today)")
    evaluate.add_argument("--format", choices=FORMATS, default="json",
                          help="json: a list of reports, one per trial (docs/report.schema.json); text: a checklist; "
                               "summary: one line per trial; fhir: a collection Bundle of ResearchSubject + "
                               "Parameters per trial (default: json)")
    evaluate.add_argument("--verbose", action="store_true",
                          help="text: every criterion, also for an ineligible patient (by default their checklist "
                               "shows the criteria that failed and counts the others)")
    evaluate.add_argument("--server", metavar="URL", help="FHIR server base URL to pull the patient's data from")
    evaluate.add_argument("--patient", metavar="ID", help="Patient id on --server")
    reference_ranges_option(evaluate)
    terminology_options(evaluate)
    server_options(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    demo = commands.add_parser("demo", help="map every trial and evaluate the sample patients (local files only)")
    demo.add_argument(
        "--as-of", metavar="YYYY-MM-DD", default="2026-11-01", help="evaluation date (default: 2026-11-01)"
    )
    demo.add_argument("--out", type=Path, default=Path("out"), metavar="DIR")
    demo.add_argument("--patients", type=Path, metavar="DIR",
                      help="folder of patient Bundles (default: the sample patients shipped with the package, "
                           "as in fixtures/patients)")
    trial_options(demo, select=False)
    reference_ranges_option(demo)
    demo.set_defaults(run=cmd_demo)
