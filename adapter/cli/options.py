"""What the commands share: the options they declare alike, and the helpers that read them (the catalog, the
evaluation date, a FHIR client, a terminology server) or write their output."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.errors import AdapterError

if TYPE_CHECKING:
    from adapter.catalog import Trial, TrialCatalog
    from adapter.fhir.client import FhirClient
    from adapter.terminology import Terminology

EXIT_USAGE = 2
ENV_MAPPINGS = "TRIAL_ADAPTER_MAPPINGS"
ENV_CACHE_DIR = "TRIAL_ADAPTER_CACHE_DIR"
UNITS_CACHE = "units-cache.json"


def write_json(data: Any, out: Path | None, name: str) -> None:
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
    return load_catalog(folders, cache_dir=cache_file().parent, reference_ranges=table)


def selected_trials(args: argparse.Namespace, catalog: TrialCatalog) -> list[Trial]:
    return catalog.select(getattr(args, "trial", None))


def as_of_date(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AdapterError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


def fhir_client(args: argparse.Namespace, *, one_deadline: bool = False) -> FhirClient:
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


def trial_options(parser: argparse.ArgumentParser, *, select: bool = True) -> None:
    if select:
        parser.add_argument("--trial", action="append", metavar="NCT", help="trial id (repeatable; default: all)")
    parser.add_argument("--mappings", action="append", type=Path, metavar="DIR",
                        help=f"a folder of site mappings (NCT….yaml + NCT….json) adding to or overriding the "
                             f"bundled trials (repeatable; or env {ENV_MAPPINGS})")


def reference_ranges_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference-ranges", type=Path, metavar="FILE",
                        help="the site's default reference ranges (YAML), used only for results sent with no "
                             "reference range (docs/report.md; example: docs/reference-ranges.example.yaml)")


def terminology_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--terminology-server", metavar="URL",
                        help="FHIR R4 terminology server: value sets widened by $expand (is-a) and $translate, "
                             "record codes recognised by $subsumes (docs/terminology.md)")


def terminology_from_args(args: argparse.Namespace) -> Terminology | None:
    if not getattr(args, "terminology_server", None):
        return None
    from adapter.terminology import open_terminology

    return open_terminology(args.terminology_server)


def server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("FHIR server access")
    group.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    group.add_argument("--bearer-token", metavar="TOKEN", help="or env TRIAL_ADAPTER_FHIR_TOKEN")
    group.add_argument("--smart-client-id", metavar="ID", help="SMART Backend Services client id")
    group.add_argument("--smart-key", metavar="PEM_FILE", help="private key that signs the client assertion")
    group.add_argument("--smart-kid", metavar="KID", help="key id published in the client's JWKS")
    group.add_argument("--smart-token-url", metavar="URL")
    group.add_argument("--smart-alg", choices=["RS384", "ES384"], default="RS384")


def cache_file() -> Path:
    folder = os.environ.get(ENV_CACHE_DIR) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
        "trial-fhir-adapter")
    return Path(folder) / UNITS_CACHE
