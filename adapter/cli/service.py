"""The service's commands of `trial-adapter`: `serve` (the CDS Hooks service and REST API on uvicorn, one or
several workers) and `feedback` (what the service kept, for operators). Parsed and run like the others in
`adapter.cli`, whose helpers they share."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from adapter.cli.options import (
    ENV_MAPPINGS,
    as_of_date,
    load_trial_catalog,
    reference_ranges_option,
    terminology_options,
    trial_options,
)
from adapter.errors import AdapterError


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from adapter.service import create_app, load_settings

    if args.workers < 1:
        raise AdapterError("--workers must be at least 1")
    if args.workers > 1 and not args.state_dir and not args.redis:
        raise AdapterError("--workers > 1 needs --state-dir DIR or --redis URL (the replay store must be shared)")
    check_port_free(args.host, args.port)  # before anything is loaded: a port in use is one line, exit 2
    limits = {name: value for name, value in (
        ("replay_max_entries", args.replay_max_entries), ("feedback_max_bytes", args.feedback_max_bytes),
        ("feedback_max_age", args.feedback_max_days and args.feedback_max_days * 86400.0)) if value is not None}
    settings = load_settings(
        trusted_clients=args.trusted_client or (),
        allowed_fhir_servers=args.allow_fhir_server or (),
        allow_unauthenticated=args.allow_unauthenticated,
        include_closed_trials=args.include_closed_trials,
        as_of=as_of_date(args.as_of) if args.as_of else None,
        public_base_url=args.public_base_url,
        state_dir=str(args.state_dir.resolve()) if args.state_dir else None,
        redis_url=args.redis,
        terminology_server=args.terminology_server,
        **limits,
    )
    from dataclasses import replace

    bind_host = f"[{args.host}]" if ":" in args.host else args.host  # the JWT audience without --public-base-url
    settings = replace(settings, bind_url=f"http://{bind_host}:{args.port}",
                       reference_ranges=str(args.reference_ranges.resolve()) if args.reference_ranges else None)
    catalog = load_trial_catalog(args)  # also in the parent of several workers: a broken mapping exits 2 here
    catalog.all()  # every mapping and record parsed now (they load lazily): a broken folder is one line, exit 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.workers > 1:
        from adapter.service.factory import serve_workers

        folders = [p for p in os.environ.get(ENV_MAPPINGS, "").split(os.pathsep) if p.strip()]
        folders += [str(p) for p in args.mappings or ()]
        return serve_workers(settings, [str(Path(f).resolve()) for f in folders], host=args.host, port=args.port,
                             workers=args.workers, log_level=args.log_level)
    from adapter.service.protocol import UVICORN_LIMITS

    app = create_app(settings, catalog)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1, **UVICORN_LIMITS)
    return 0


def check_port_free(host: str, port: int) -> None:
    """AdapterError unless `host:port` can be listened on now (uvicorn would log a bind error and exit 1 later,
    after loading everything). SO_REUSEADDR as uvicorn sets it: a port in TIME_WAIT is free, one listened on is not."""
    import errno
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise AdapterError(f"--host {host}: not an address of this machine") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AdapterError(f"port {port} on {host} is in use") from None
            raise AdapterError(f"cannot listen on {host} port {port} ({exc.strerror or exc})") from None


def cmd_feedback(args: argparse.Namespace) -> int:
    """The CDS Hooks feedback kept in a state directory, as NDJSON, oldest first (for operators)."""
    from adapter.service.state.sqlite import write_feedback_ndjson

    write_feedback_ndjson(args.state_dir, args.limit, sys.stdout)
    return 0


def add_service_commands(commands: Any) -> None:
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
                       help="the service's external base URL (behind a proxy), from which the JWT audience is "
                            "built: URL/cds-services/trial-eligibility (default: http://HOST:PORT as started; never "
                            "the request's Host header)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    state = serve.add_argument_group("state (replay memory, feedback)")
    state.add_argument("--workers", type=int, default=1, metavar="N",
                       help="uvicorn worker processes (more than 1 needs --state-dir or --redis)")
    state.add_argument("--state-dir", type=Path, metavar="DIR",
                       help="SQLite state that survives restarts and is shared by the workers of this host")
    state.add_argument("--redis", metavar="URL", help="Redis for the jti replay memory, shared by several hosts")
    state.add_argument("--replay-max-entries", type=int, metavar="N",
                       help="live jtis remembered (default 100000); when full, new tokens get 503")
    state.add_argument("--feedback-max-bytes", type=int, metavar="BYTES", help="feedback kept (default 16 MiB)")
    state.add_argument("--feedback-max-days", type=float, metavar="DAYS", help="feedback kept (default 90 days)")
    trial_options(serve, select=False)
    reference_ranges_option(serve)
    terminology_options(serve)
    serve.set_defaults(run=cmd_serve)

    feedback = commands.add_parser("feedback", help="print the CDS Hooks feedback kept in a state directory (NDJSON)")
    feedback.add_argument("--state-dir", type=Path, metavar="DIR", required=True)
    feedback.add_argument("--limit", type=int, default=1000, metavar="N", help="the newest N items (default 1000)")
    feedback.set_defaults(run=cmd_feedback)


