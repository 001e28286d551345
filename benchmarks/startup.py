"""Start-up cost of the CLI: figures to read, not thresholds to assert.

    .venv/bin/python benchmarks/startup.py [--runs N] [--bundle FILE] [--cache-dir DIR]

Each command runs N times in a fresh subprocess; the median wall time and the median CPU time (user + system:
what the process itself costs, whatever else the machine runs) are printed for: a bare ``python -c pass`` (the
floor), ``import adapter.cli``, ``trial-adapter --help`` and ``trial-adapter evaluate`` on a fixture bundle — each
beside the floor (× bare python) and evaluate beside its goal (0.25 s wall, issue 19). ``evaluate`` runs with the
environment of this process, so whatever cache the CLI keeps (the compiled catalog, parsed YAML, unit
conversions, under ``XDG_CACHE_HOME``) is warm after the first run; ``--cache-dir`` points ``XDG_CACHE_HOME`` at a
folder (an empty one each run with ``--cold``). Bytecode caching is on (PYTHONDONTWRITEBYTECODE is removed from
the environment, as on an installation), and every command runs once untimed first.
A command that fails is reported with its exit status and the end of its stderr.
"""

from __future__ import annotations

import argparse
import os
import resource
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


GOAL_SECONDS = 0.25  # one `evaluate` process, wall (issue 19)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: Sequence[str], runs: int, env: dict[str, str], cold_cache: bool,
          ) -> tuple[tuple[float, float] | None, str]:
    """Median (wall, CPU) seconds of `runs` runs; (None, why) when the command fails."""
    walls, cpus = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as fresh:
            run_env = {**env, "XDG_CACHE_HOME": fresh} if cold_cache else env
            cpu = _children_cpu()
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=ROOT, env=run_env, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu() - cpu)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-2:])
            return None, f"exit {done.returncode}: {tail}"
    return (statistics.median(walls), statistics.median(cpus)), ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (median reported)")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="patient bundle for evaluate")
    parser.add_argument("--cache-dir", type=Path, help="XDG_CACHE_HOME for the runs")
    parser.add_argument("--cold", action="store_true", help="an empty XDG_CACHE_HOME for every run")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # bytecode cached, as installed
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
    for command in commands.values():  # once untimed: bytecode written, and a persistent cache unless --cold
        _time(command, 1, env, cold_cache=args.cold)

    print(f"median of {args.runs} runs, {'cold' if args.cold else 'warm'} cache; floor: a bare `python -c pass`")
    print(f"  {'':<48} {'wall':>9} {'× floor':>8} {'CPU':>9} {'× floor':>8}")
    results: dict[str, tuple[float, float] | None] = {}
    for label, command in commands.items():
        measured, why = _time(command, args.runs, env, cold_cache=args.cold)
        results[label] = measured
        if measured is None:
            print(f"  {label:<48} failed: {why}")
            continue
        bare = results["python -c pass"]
        wall, cpu = measured
        ratios = (f"{wall / bare[0]:8.1f}x", f"{cpu / bare[1]:8.1f}x") if bare and bare[1] > 0 else ("", "")
        print(f"  {label:<48} {wall * 1000:6.0f} ms {ratios[0]} {cpu * 1000:6.0f} ms {ratios[1]}")
    evaluated = results[list(commands)[-1]]
    if evaluated is not None:
        verdict = "within" if evaluated[0] <= GOAL_SECONDS else "over"
        print(f"  goal: evaluate ≤ {GOAL_SECONDS * 1000:.0f} ms wall — {evaluated[0] * 1000:.0f} ms, {verdict} "
              f"(CPU {evaluated[1] * 1000:.0f} ms: wall also counts waiting for a core on a loaded machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
