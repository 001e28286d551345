"""`trial-adapter` command line. A thin edge: parse arguments, load the catalog, call the core, print, exit code.

Errors a user can act on (AdapterError) become one line on stderr and exit status 2. Each command imports
only what it uses, so that `--help` and small commands start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter import __version__
from adapter.errors import AdapterError

if TYPE_CHECKING:
    from adapter.catalog import Trial, TrialCatalog
    from adapter.fhir.client import FhirClient
    from adapter.terminology import Terminology

EXIT_USAGE = 2
ENV_MAPPINGS = "TRIAL_ADAPTER_MAPPINGS"
ENV_CACHE_DIR = "TRIAL_ADAPTER_CACHE_DIR"
UNITS_CACHE = "units-cache.json"


def _write_json(data: Any, out: Path | None, name: str) -> None:
    import json

    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        target = out / name
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AdapterError(f"{out}: cannot write ({exc.strerror})") from None
    print(f"wrote {target}", file=sys.stderr)


def load_trial_catalog(args: argparse.Namespace) -> TrialCatalog:
    """The bundled trials, overlaid by TRIAL_ADAPTER_MAPPINGS (os.pathsep-separated) and then --mappings."""
    from adapter.catalog import load_catalog

    folders = [p for p in os.environ.get(ENV_MAPPINGS, "").split(os.pathsep) if p.strip()]
    folders += [str(p) for p in getattr(args, "mappings", None) or ()]
    return load_catalog(folders, cache_dir=_cache_file().parent)


def _trials(args: argparse.Namespace, catalog: TrialCatalog) -> list[Trial]:
    return catalog.select(getattr(args, "trial", None))


def _as_of(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AdapterError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


def cmd_map(args: argparse.Namespace) -> int:
    from adapter.fhir_build import build_bundle

    catalog = load_trial_catalog(args)
    bundles = [build_bundle(trial, args.fhir_version) for trial in _trials(args, catalog)]
    if args.out is None and len(bundles) > 1:
        collection = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": b} for b in bundles]}
        _write_json(collection, None, "")
        return 0
    for bundle in bundles:
        _write_json(bundle, args.out, f"{bundle['id']}.json")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from adapter.ctgov.fetch import fetch_record, save_record

    data = fetch_record(args.nct_id, timeout=args.timeout)
    if args.out is None:
        _write_json(data, None, "")
    else:
        print(f"wrote {save_record(data, args.out)}", file=sys.stderr)
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    """A draft mapping (and the record beside it) for a trial, from a record file or the live API."""
    from adapter.drafting.cli import run_draft

    return run_draft(args, load_trial_catalog(args))


def _read_bundle(source: str) -> Any:
    from adapter.errors import PatientDataError
    from adapter.jsonio import parse_json

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PatientDataError(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise PatientDataError(f"{source}: cannot read (not UTF-8 text)") from None
    except OSError as exc:
        raise PatientDataError(f"{source}: cannot read ({exc.strerror or exc})") from None
    return parse_json(text, source)


def _client(args: argparse.Namespace, *, one_deadline: bool = False) -> FhirClient:
    """A FhirClient for --server, with bearer or SMART Backend Services auth when asked. `one_deadline`: --timeout
    bounds everything the client does from now on (all requests, retries, pauses and pages together), not each
    wait."""
    import httpx

    from adapter.fhir.auth import BearerToken, SmartBackendAuth
    from adapter.fhir.client import FhirClient

    auth: httpx.Auth | None = None
    token = args.bearer_token or os.environ.get("TRIAL_ADAPTER_FHIR_TOKEN")
    if args.smart_client_id:
        if not (args.smart_key and args.smart_kid and args.smart_token_url):
            raise AdapterError("SMART Backend Services needs --smart-key, --smart-kid and --smart-token-url")
        try:
            key = Path(args.smart_key).read_text(encoding="utf-8")
        except OSError as exc:
            raise AdapterError(f"--smart-key {args.smart_key}: cannot read ({exc.strerror})") from None
        auth = SmartBackendAuth(args.smart_token_url, args.smart_client_id, key, kid=args.smart_kid,
                                algorithm=args.smart_alg)
    elif token:
        auth = BearerToken(token)
    if one_deadline:
        from adapter.http.retry import Deadline

        if not args.timeout > 0:
            raise AdapterError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
        deadline = Deadline(args.timeout)  # one object: every call of the client counts down the same deadline
        return FhirClient(args.server, auth=auth, timeout=args.timeout, deadline=deadline)  # type: ignore[arg-type]
    return FhirClient(args.server, auth=auth, timeout=args.timeout)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from adapter.eligibility.facts import facts_from_bundle
    from adapter.evaluation import evaluate_trial

    if (args.bundle is None) == (args.server is None):
        raise AdapterError("give either --bundle FILE (- for stdin) or --server URL --patient ID")
    if args.server is not None and not args.patient:
        raise AdapterError("--server needs --patient ID")
    catalog = load_trial_catalog(args)
    terminology = _terminology(args)
    if terminology is not None:  # at the edge: the engine sees a widened library, then facts with more codes
        catalog = terminology.augment_catalog(catalog)
    trials = _trials(args, catalog)
    as_of = _as_of(args.as_of)
    if args.server is not None:
        from adapter.eligibility.facts import extract_facts
        from adapter.evaluation import observation_codes
        from adapter.fhir.pull import plan_for, pull_patient

        with _client(args, one_deadline=True) as client:  # the whole pull within --timeout
            resources = pull_patient(client, args.patient, plan_for(observation_codes(trials)))
        # The server must answer about the patient asked for; anything else is an input error (exit 2).
        facts = extract_facts(resources, units=catalog.units, patient_id=args.patient)
    else:
        facts = facts_from_bundle(_read_bundle(args.bundle), catalog.units)
    if terminology is not None:
        facts = terminology.recognize(facts, catalog.concepts)
        terminology.close()  # keeps the answers in the cache file
    results = [evaluate_trial(trial, facts, as_of) for trial in trials]
    if terminology is not None:  # the report says when the server could not be used
        results = [terminology.annotate(result, facts) for result in results]
    if args.format == "text":
        from adapter.render.text import report_text

        colour = sys.stdout.isatty()
        sys.stdout.write("\n".join(report_text(r, colour=colour) for r in results))
    else:
        from adapter.render.report import report_json

        reports = [report_json(r) for r in results]
        _write_json(reports[0] if len(reports) == 1 else reports, None, "")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from adapter.fhir.push import push_bundle
    from adapter.fhir_build import build_bundle

    if args.max_bundle_entries is not None and args.max_bundle_entries < 1:
        raise AdapterError(f"--max-bundle-entries must be at least 1, not {args.max_bundle_entries}")
    resources = [_read_resource(path) for path in args.resource or ()]
    trials = _trials(args, load_trial_catalog(args)) if not resources or args.trial else []
    with _client(args) as client:
        server_version = client.fhir_version()
        version = args.fhir_version or server_version
        if version != server_version:
            raise AdapterError(f"{args.server} speaks {server_version}; pushing {version} resources to it would fail")
        bundles = [(t.nct_id, build_bundle(t, version)) for t in trials]
        if resources:  # e.g. the Groups of a screening: conditional updates on their identifiers
            from adapter.fhir_build.bundle import transaction_bundle

            bundles.append(("resources", transaction_bundle(resources, bundle_key="resources")))
        for label, bundle in bundles:
            report = push_bundle(client, bundle, max_entries=args.max_bundle_entries)
            print(f"{label}  mode {report.mode}: {report.reason}")
            for r in report:
                print(f"{label}  {r.outcome:<9}  {r.resource_type}/{r.id}  ({r.identifier})")
    return 0


def _read_resource(path: Path) -> dict[str, Any]:
    """A resource file for `push --resource`: one FHIR resource with a business identifier."""
    from adapter.fhir_build.bundle import conditional_url

    resource = _read_bundle(str(path))
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str) or "id" not in resource:
        raise AdapterError(f"--resource {path}: not a FHIR resource with an id")
    try:
        conditional_url(resource)
    except ValueError as exc:
        raise AdapterError(f"--resource {path}: {exc} (needed to push it idempotently)") from None
    return resource


def cmd_demo(args: argparse.Namespace) -> int:
    from adapter.demo import format_table, run_demo

    rows = run_demo(load_trial_catalog(args), args.out, _as_of(args.as_of), args.patients)
    sys.stdout.write(format_table(rows))
    print(f"FHIR resources and reports written under {args.out}/", file=sys.stderr)
    return 0


def _trial_options(parser: argparse.ArgumentParser, *, select: bool = True) -> None:
    if select:
        parser.add_argument("--trial", action="append", metavar="NCT", help="trial id (repeatable; default: all)")
    parser.add_argument("--mappings", action="append", type=Path, metavar="DIR",
                        help=f"a folder of site mappings (NCT….yaml + NCT….json) adding to or overriding the "
                             f"bundled trials (repeatable; or env {ENV_MAPPINGS})")


def _terminology_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--terminology-server", metavar="URL",
                        help="FHIR R4 terminology server: value sets widened by $expand (is-a) and $translate, "
                             "record codes recognised by $subsumes (docs/terminology.md)")


def _terminology(args: argparse.Namespace) -> Terminology | None:
    if not getattr(args, "terminology_server", None):
        return None
    from adapter.terminology import open_terminology

    return open_terminology(args.terminology_server)


def _server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("FHIR server access")
    group.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    group.add_argument("--bearer-token", metavar="TOKEN", help="or env TRIAL_ADAPTER_FHIR_TOKEN")
    group.add_argument("--smart-client-id", metavar="ID", help="SMART Backend Services client id")
    group.add_argument("--smart-key", metavar="PEM_FILE", help="private key that signs the client assertion")
    group.add_argument("--smart-kid", metavar="KID", help="key id published in the client's JWKS")
    group.add_argument("--smart-token-url", metavar="URL")
    group.add_argument("--smart-alg", choices=["RS384", "ES384"], default="RS384")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trial-adapter",
        description="ClinicalTrials.gov trials as FHIR, and patient eligibility explained criterion by criterion.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    map_ = commands.add_parser("map", help="write each trial as a FHIR transaction Bundle")
    _trial_options(map_)
    map_.add_argument("--fhir-version", choices=["R5", "R4"], default="R5")
    map_.add_argument("--out", type=Path, metavar="DIR", help="directory for one JSON file per trial (default: stdout)")
    map_.set_defaults(run=cmd_map)

    fetch = commands.add_parser("fetch", help="download a record from the ClinicalTrials.gov API v2")
    fetch.add_argument("nct_id", metavar="NCT")
    fetch.add_argument("--out", type=Path, metavar="DIR")
    fetch.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS")
    fetch.set_defaults(run=cmd_fetch)

    draft = commands.add_parser("draft", help="draft a mapping (draft: true) from a ClinicalTrials.gov record")
    draft.add_argument("nct_id", metavar="NCT", nargs="?", help="fetch the record live (as `fetch` does)")
    draft.add_argument("--record", type=Path, metavar="FILE", help="an API v2 record file instead")
    draft.add_argument("--out", type=Path, metavar="DIR", default=Path("."),
                       help="folder for NCT….yaml + NCT….json (default: .)")
    draft.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS")
    _trial_options(draft, select=False)
    draft.set_defaults(run=cmd_draft)

    evaluate = commands.add_parser("evaluate", help="evaluate a patient's FHIR data against trials")
    _trial_options(evaluate)
    evaluate.add_argument("--bundle", metavar="FILE", help="patient Bundle (JSON); - reads stdin")
    evaluate.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today)")
    evaluate.add_argument("--format", choices=["json", "text"], default="json")
    evaluate.add_argument("--server", metavar="URL", help="FHIR server base URL to pull the patient's data from")
    evaluate.add_argument("--patient", metavar="ID", help="Patient id on --server")
    _terminology_options(evaluate)
    _server_options(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    push = commands.add_parser("push", help="send each trial's transaction Bundle to a FHIR server (idempotent)")
    push.add_argument("--server", metavar="URL", required=True, help="FHIR server base URL")
    push.add_argument("--fhir-version", choices=["R5", "R4"], help="default: the server's own version")
    push.add_argument("--resource", action="append", type=Path, metavar="FILE",
                      help="push this resource file instead of the trials (e.g. a screening's Group-NCT….json; "
                           "repeatable; with --trial, both)")
    push.add_argument("--max-bundle-entries", type=int, metavar="N",
                      help="at most N entries per transaction (dependency-ordered chunks); default: what it takes")
    _trial_options(push)
    _server_options(push)
    push.set_defaults(run=cmd_push)

    demo = commands.add_parser("demo", help="map both trials and evaluate every fixture patient (local files only)")
    demo.add_argument(
        "--as-of", metavar="YYYY-MM-DD", default="2026-11-01", help="evaluation date (default: 2026-11-01)"
    )
    demo.add_argument("--out", type=Path, default=Path("out"), metavar="DIR")
    demo.add_argument("--patients", type=Path, default=Path("fixtures/patients"), metavar="DIR",
                      help="folder of patient Bundles (default: fixtures/patients)")
    _trial_options(demo, select=False)
    demo.set_defaults(run=cmd_demo)

    from adapter.cli_service import add_service_commands  # the service's commands live beside this module

    add_service_commands(commands)
    from adapter.cli_screen import add_screen_command

    add_screen_command(commands)
    return parser


def _cache_file() -> Path:
    folder = os.environ.get(ENV_CACHE_DIR) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
        "trial-fhir-adapter")
    return Path(folder) / UNITS_CACHE


def _run_with_units_cache(args: argparse.Namespace) -> int:
    """Run the command with UCUM parses and conversion factors of earlier runs (a verified cache; see
    adapter.units.cache): it spares a process the ~0.5 s of building the UCUM parser for known units."""
    from adapter.units import conversion_cache_snapshot, seed_conversion_cache

    path = _cache_file()
    try:
        loaded = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        loaded = ""
    seed_conversion_cache(loaded)  # False means ignored (absent, corrupt, other versions): never an error
    try:
        return int(args.run(args))
    finally:
        text = conversion_cache_snapshot()
        if text and text != loaded:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(f".{os.getpid()}.tmp")
                partial.write_text(text, encoding="utf-8")
                os.replace(partial, path)  # atomic: a concurrent reader never sees half a file
            except OSError:
                pass  # a cache that cannot be written only costs time


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import logging

    for noisy in ("httpx", "httpcore"):  # they log every request URL (patient ids) at INFO / DEBUG
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command in ("evaluate", "demo", "serve", "screen"):
            return _run_with_units_cache(args)
        return int(args.run(args))
    except AdapterError as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message held
        print(f"trial-adapter: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("trial-adapter: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
