"""`trial-adapter` command line. A thin edge: parse arguments, call the core, print, set the exit code.

Errors a user can act on (AdapterError) become one line on stderr and exit status 2. Imports of the heavy
parts happen inside the commands so that `--help` and small commands start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from adapter import __version__
from adapter.errors import AdapterError

EXIT_USAGE = 2


def _write_json(data: Any, out: Path | None, name: str) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)


def _trial_ids(requested: list[str] | None) -> list[str]:
    from adapter.trials import available_trials

    return [t.strip().upper() for t in requested] if requested else available_trials()


def cmd_map(args: argparse.Namespace) -> int:
    from adapter.fhir_build import build_bundle
    from adapter.trials import load_trial

    bundles = [build_bundle(load_trial(nct), args.fhir_version) for nct in _trial_ids(args.trial)]
    if args.out is None and len(bundles) > 1:
        _write_json(
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": b} for b in bundles]}, None, ""
        )
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


def _read_bundle(source: str) -> Any:
    from adapter.errors import PatientDataError

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PatientDataError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PatientDataError(f"{source}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PatientDataError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None


def _as_of(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AdapterError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


def _client(args: argparse.Namespace) -> Any:
    """A FhirClient for --server, with bearer or SMART Backend Services auth when asked."""
    import os

    from adapter.fhir.auth import BearerToken, SmartBackendAuth
    from adapter.fhir.client import FhirClient

    auth = None
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
    return FhirClient(args.server, auth=auth, timeout=args.timeout)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from adapter.eligibility.facts import facts_from_bundle
    from adapter.eligibility.report import report_text
    from adapter.evaluation import evaluate_trial

    trials = _trial_ids(args.trial)
    if (args.bundle is None) == (args.server is None):
        raise AdapterError("give either --bundle FILE (- for stdin) or --server URL --patient ID")
    if args.server is not None:
        if not args.patient:
            raise AdapterError("--server needs --patient ID")
        from adapter.evaluation import observation_codes
        from adapter.fhir.pull import plan_for, pull_patient

        with _client(args) as client:
            data: Any = pull_patient(client, args.patient, plan_for(observation_codes(trials)))
    else:
        data = _read_bundle(args.bundle)
    facts = facts_from_bundle(data)
    as_of = _as_of(args.as_of)
    reports = [evaluate_trial(nct, facts, as_of)[1] for nct in trials]
    if args.format == "text":
        colour = sys.stdout.isatty()
        sys.stdout.write("\n".join(report_text(r, colour=colour) for r in reports))
    else:
        _write_json(reports[0] if len(reports) == 1 else reports, None, "")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from adapter.fhir.push import push_bundle
    from adapter.fhir_build import build_bundle
    from adapter.trials import load_trial

    with _client(args) as client:
        server_version = client.fhir_version()
        version = args.fhir_version or server_version
        if version != server_version:
            raise AdapterError(f"{args.server} speaks {server_version}; pushing {version} resources to it would fail")
        for nct in _trial_ids(args.trial):
            results = push_bundle(client, build_bundle(load_trial(nct), version))
            for r in results:
                print(f"{nct}  {r.outcome:<9}  {r.resource_type}/{r.id}  ({r.identifier})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from adapter.demo import format_table, run_demo

    rows = run_demo(args.out, _as_of(args.as_of))
    sys.stdout.write(format_table(rows))
    print(f"FHIR resources and reports written under {args.out}/", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from adapter.service import create_app, load_settings

    settings = load_settings(
        trusted_clients=args.trusted_client or (),
        allowed_fhir_servers=args.allow_fhir_server or (),
        allow_unauthenticated=args.allow_unauthenticated,
        include_closed_trials=args.include_closed_trials,
        as_of=_as_of(args.as_of) if args.as_of else None,
        public_base_url=args.public_base_url,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1)
    return 0


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
    map_.add_argument("--trial", action="append", metavar="NCT", help="trial id (repeatable; default: all)")
    map_.add_argument("--fhir-version", choices=["R5", "R4"], default="R5")
    map_.add_argument("--out", type=Path, metavar="DIR", help="directory for one JSON file per trial (default: stdout)")
    map_.set_defaults(run=cmd_map)

    fetch = commands.add_parser("fetch", help="download a record from the ClinicalTrials.gov API v2")
    fetch.add_argument("nct_id", metavar="NCT")
    fetch.add_argument("--out", type=Path, metavar="DIR")
    fetch.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS")
    fetch.set_defaults(run=cmd_fetch)

    evaluate = commands.add_parser("evaluate", help="evaluate a patient's FHIR data against trials")
    evaluate.add_argument("--trial", action="append", metavar="NCT", help="trial id (repeatable; default: all)")
    evaluate.add_argument("--bundle", metavar="FILE", help="patient Bundle (JSON); - reads stdin")
    evaluate.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today)")
    evaluate.add_argument("--format", choices=["json", "text"], default="json")
    evaluate.add_argument("--server", metavar="URL", help="FHIR server base URL to pull the patient's data from")
    evaluate.add_argument("--patient", metavar="ID", help="Patient id on --server")
    _server_options(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    push = commands.add_parser("push", help="send each trial's transaction Bundle to a FHIR server (idempotent)")
    push.add_argument("--server", metavar="URL", required=True, help="FHIR server base URL")
    push.add_argument("--fhir-version", choices=["R5", "R4"], help="default: the server's own version")
    push.add_argument("--trial", action="append", metavar="NCT", help="trial id (repeatable; default: all)")
    _server_options(push)
    push.set_defaults(run=cmd_push)

    demo = commands.add_parser("demo", help="map both trials and evaluate every fixture patient (local files only)")
    demo.add_argument(
        "--as-of", metavar="YYYY-MM-DD", default="2026-11-01", help="evaluation date (default: 2026-11-01)"
    )
    demo.add_argument("--out", type=Path, default=Path("out"), metavar="DIR")
    demo.set_defaults(run=cmd_demo)

    serve = commands.add_parser("serve", help="run the CDS Hooks service and the REST API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--trusted-client", action="append", metavar="ISS=JWKS",
                       help="a CDS client's issuer and its JWKS file or URL (repeatable; "
                            "or env TRIAL_ADAPTER_TRUSTED_CLIENTS=iss=path,iss2=url)")
    serve.add_argument("--allow-fhir-server", action="append", metavar="PREFIX",
                       help="fhirServer URL prefix the service may fetch from (repeatable; "
                            "or env TRIAL_ADAPTER_ALLOWED_FHIR_SERVERS, comma-separated)")
    serve.add_argument("--allow-unauthenticated", action="store_true",
                       help="accept CDS requests without a client JWT (local demos only)")
    serve.add_argument("--include-closed-trials", action="store_true",
                       help="also show cards for trials that are not recruiting")
    serve.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today, per request)")
    serve.add_argument("--public-base-url", metavar="URL",
                       help="the service's external base URL, used for the JWT audience (default: the request URL)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except AdapterError as exc:
        print(f"trial-adapter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("trial-adapter: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
