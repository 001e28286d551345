"""Start-up cost of the CLI: figures to read, not thresholds to assert.

    .venv/bin/python benchmarks/startup.py [--runs N] [--bundle FILE] [--cache-dir DIR]

Each command runs N times in a fresh subprocess; the median wall time is printed for: a bare
``python -c pass``, ``import adapter.cli``, ``trial-adapter --help``, ``trial-adapter evaluate`` on a
fixture bundle, and the ratio evaluate / bare python. ``evaluate`` runs with the environment of this
process, so whatever cache the CLI keeps (e.g. under ``XDG_CACHE_HOME``) is warm after the first run;
``--cache-dir`` points ``XDG_CACHE_HOME`` at a folder (an empty one each run with ``--cold``).
A command that fails is reported with its exit status and the end of its stderr.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "fixtures" / "patients" / "p-eligible-us-units.json"
TRIAL = "NCT03787251"
AS_OF = "2026-11-01"


def _cli() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m adapter``."""
    script = Path(sys.executable).with_name("trial-adapter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "adapter"]


def _time(argv: Sequence[str], runs: int, env: dict[str, str], cold_cache: bool) -> tuple[float | None, str]:
    """Median wall time in seconds of `runs` runs; (None, why) when the command fails."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as fresh:
            run_env = {**env, "XDG_CACHE_HOME": fresh} if cold_cache else env
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=ROOT, env=run_env, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - start)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-2:])
            return None, f"exit {done.returncode}: {tail}"
    return statistics.median(times), ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (median reported)")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="patient bundle for evaluate")
    parser.add_argument("--cache-dir", type=Path, help="XDG_CACHE_HOME for the runs")
    parser.add_argument("--cold", action="store_true", help="an empty XDG_CACHE_HOME for every run")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if args.cache_dir is not None:
        env["XDG_CACHE_HOME"] = str(args.cache_dir)
    cli = _cli()
    evaluate = [*cli, "evaluate", "--trial", TRIAL, "--bundle", str(args.bundle), "--as-of", AS_OF]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import adapter.cli": [sys.executable, "-c", "import adapter.cli"],
        "trial-adapter --help": [*cli, "--help"],
        f"trial-adapter evaluate ({args.bundle.name})": evaluate,
    }
    if not args.cold:
        _time(evaluate, 1, env, cold_cache=False)  # once untimed, so that a persistent cache is written

    print(f"median of {args.runs} runs, {'cold' if args.cold else 'warm'} cache")
    results: dict[str, float | None] = {}
    for label, command in commands.items():
        seconds, why = _time(command, args.runs, env, cold_cache=args.cold)
        results[label] = seconds
        print(f"  {label:<48} {f'{seconds * 1000:8.1f} ms' if seconds is not None else 'failed: ' + why}")
    bare, evaluated = results["python -c pass"], results[list(commands)[-1]]
    if bare and evaluated:
        print(f"  {'evaluate / bare python':<48} {evaluated / bare:8.1f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
