"""`trial-adapter` command line. A thin edge: parse arguments, load the catalog, call the core, print, exit code.

Errors a user can act on (AdapterError) become one line on stderr and exit status 2. Each command imports
only what it uses, so that `--help` and small commands start fast.

One module per command group (`trials`, `evaluate`, `info`, `service`, `screen`), the options they share in
`options`, the parser in `parser`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adapter.cli.options import EXIT_USAGE, cache_file
from adapter.cli.parser import build_parser
from adapter.errors import AdapterError

__all__ = ["build_parser", "main"]


def _run_with_units_cache(args: argparse.Namespace) -> int:
    """Run the command with UCUM parses and conversion factors of earlier runs (a verified cache; see
    adapter.units.cache): it spares a process the ~0.5 s of building the UCUM parser for known units."""
    from adapter.units import conversion_cache_snapshot, seed_conversion_cache

    path = cache_file()
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
