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
from typing import TYPE_CHECKING, Any, NoReturn

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

    from adapter.atomic import write_atomic

    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        target = write_atomic(out / name, text)  # a failed run leaves the earlier file, not half a new one
    except OSError as exc:
        raise AdapterError(f"{out}: cannot write ({exc.strerror})") from None
    print(f"wrote {target}", file=sys.stderr)


def load_trial_catalog(args: argparse.Namespace) -> TrialCatalog:
    """The bundled trials, overlaid by TRIAL_ADAPTER_MAPPINGS (os.pathsep-separated) and then --mappings."""
    from adapter.catalog import load_catalog

    folders = [p for p in os.environ.get(ENV_MAPPINGS, "").split(os.pathsep) if p.strip()]
    folders += [str(p) for p in getattr(args, "mappings", None) or ()]
    table = None
    if getattr(args, "reference_ranges", None):  # evaluate, demo, screen, serve: the site's default ranges
        from adapter.eligibility.reference_ranges import load_reference_ranges

        table = load_reference_ranges(args.reference_ranges)
    return load_catalog(folders, cache_dir=_cache_file().parent, reference_ranges=table)


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
    from adapter.cli_evaluate import read_bundle
    from adapter.fhir_build.bundle import conditional_url

    resource = read_bundle(str(path))
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str) or "id" not in resource:
        raise AdapterError(f"--resource {path}: not a FHIR resource with an id")
    try:
        conditional_url(resource)
    except ValueError as exc:
        raise AdapterError(f"--resource {path}: {exc} (needed to push it idempotently)") from None
    return resource


def _trial_options(parser: argparse.ArgumentParser, *, select: bool = True) -> None:
    if select:
        parser.add_argument("--trial", action="append", metavar="NCT", help="trial id (repeatable; default: all)")
    parser.add_argument("--mappings", action="append", type=Path, metavar="DIR",
                        help=f"a folder of site mappings (NCT….yaml + NCT….json) adding to or overriding the "
                             f"bundled trials (repeatable; or env {ENV_MAPPINGS})")


def _reference_ranges_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference-ranges", type=Path, metavar="FILE",
                        help="the site's default reference ranges (YAML), used only for results sent with no "
                             "reference range (docs/report.md; example: docs/reference-ranges.example.yaml)")


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


class CommandParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2, like every other input error) and, for a misspelt option,
    command or choice, a "did you mean" (the standard library's argparse of Python 3.11 suggests nothing)."""

    subcommands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{_did_you_mean(self, message)} "
                              f"(see {self.prog} --help)\n")


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    import difflib
    import re

    if message.startswith("unrecognized arguments: "):
        known = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
        words = [w.split("=", 1)[0] for w in message.removeprefix("unrecognized arguments: ").split()]
        guesses = [g for w in words if w.startswith("-") for g in difflib.get_close_matches(w, known, n=1)]
    elif "invalid choice: " in message and "(choose from " in message:
        wrong = re.search(r"invalid choice: '([^']*)'", message)
        choices = re.findall(r"'([^']*)'", message.split("(choose from ", 1)[1])
        guesses = difflib.get_close_matches(wrong.group(1), choices, n=1) if wrong else []
    else:
        return ""
    return f" (did you mean {', '.join(guesses)}?)" if guesses else ""


def build_parser() -> CommandParser:
    parser = CommandParser(
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

    # The other command groups live beside this module (each under ~400 lines), in the order `--help` lists them.
    from adapter.cli_evaluate import add_evaluate_commands
    from adapter.cli_info import add_info_commands
    from adapter.cli_screen import add_screen_command
    from adapter.cli_service import add_service_commands

    add_evaluate_commands(commands)
    add_info_commands(commands)
    add_service_commands(commands)
    add_screen_command(commands)
    parser.subcommands = dict(commands.choices)
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
                from adapter.atomic import write_atomic

                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, text)  # a concurrent reader never sees half a file
            except (OSError, UnicodeEncodeError):
                pass  # a cache that cannot be written only costs time


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the command's own parser, which knows its options: "did you mean --as-of?"
        parser.subcommands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
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
