"""The trial commands: `map` (trials as FHIR Bundles), `fetch` (a ClinicalTrials.gov record), `draft` (a mapping
drafted from a record) and `push` (the Bundles to a FHIR server)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adapter.cli.options import (
    fhir_client,
    load_trial_catalog,
    selected_trials,
    server_options,
    trial_options,
    write_json,
)
from adapter.errors import AdapterError


def cmd_map(args: argparse.Namespace) -> int:
    from adapter.fhir_build import build_bundle

    catalog = load_trial_catalog(args)
    bundles = [build_bundle(trial, args.fhir_version) for trial in selected_trials(args, catalog)]
    if args.out is None and len(bundles) > 1:
        collection = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": b} for b in bundles]}
        write_json(collection, None, "")
        return 0
    for bundle in bundles:
        write_json(bundle, args.out, f"{bundle['id']}.json")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from adapter.ctgov.fetch import fetch_record, save_record

    data = fetch_record(args.nct_id, timeout=args.timeout)
    if args.out is None:
        write_json(data, None, "")
    else:
        print(f"wrote {save_record(data, args.out)}", file=sys.stderr)
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    """A draft mapping (and the record beside it) for a trial, from a record file or the live API."""
    from adapter.drafting.cli import run_draft

    return run_draft(args, load_trial_catalog(args))


def cmd_push(args: argparse.Namespace) -> int:
    from adapter.fhir.push import push_bundle
    from adapter.fhir_build import build_bundle

    if args.max_bundle_entries is not None and args.max_bundle_entries < 1:
        raise AdapterError(f"--max-bundle-entries must be at least 1, not {args.max_bundle_entries}")
    resources = [read_resource(path) for path in args.resource or ()]
    trials = selected_trials(args, load_trial_catalog(args)) if not resources or args.trial else []
    with fhir_client(args) as client:
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


def read_resource(path: Path) -> dict[str, Any]:
    """A resource file for `push --resource`: one FHIR resource with a business identifier."""
    from adapter.cli.evaluate import read_bundle
    from adapter.fhir_build.bundle import conditional_url

    resource = read_bundle(str(path))
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str) or "id" not in resource:
        raise AdapterError(f"--resource {path}: not a FHIR resource with an id")
    try:
        conditional_url(resource)
    except ValueError as exc:
        raise AdapterError(f"--resource {path}: {exc} (needed to push it idempotently)") from None
    return resource




def add_trial_commands(commands: Any) -> None:
    map_ = commands.add_parser("map", help="write each trial as a FHIR transaction Bundle")
    trial_options(map_)
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
    draft.add_argument("--explain", action="store_true",
                       help="print each criterion's readings with the text behind each, for review")
    trial_options(draft, select=False)
    draft.set_defaults(run=cmd_draft)

    push = commands.add_parser("push", help="send each trial's transaction Bundle to a FHIR server (idempotent)")
    push.add_argument("--server", metavar="URL", required=True, help="FHIR server base URL")
    push.add_argument("--fhir-version", choices=["R5", "R4"], help="default: the server's own version")
    push.add_argument("--resource", action="append", type=Path, metavar="FILE",
                      help="push this resource file instead of the trials (e.g. a screening's Group-NCT….json; "
                           "repeatable; with --trial, both)")
    push.add_argument("--max-bundle-entries", type=int, metavar="N",
                      help="at most N entries per transaction (dependency-ordered chunks); default: what it takes")
    trial_options(push)
    server_options(push)
    push.set_defaults(run=cmd_push)
