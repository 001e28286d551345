"""The screening store on a Synthea-shaped population: load, update, re-screen — beside the floor of one core
orjson-parsing the same files. Figures only.

    .venv/bin/python benchmarks/store.py [--copies 527] [--workers N] [--json PATH]

The 19 Synthea bundles of ../shared/realworld/synthea are cloned `--copies` times with new ids
(`synthea_export.py`; 527 copies ≈ 10,000 patients). Each phase is one process (wall time, peak RSS of its tree,
`screen.TreeSampler`) and writes OUT/run.json, whose per-phase durations are reported too:

1. load: `screen --ndjson EXPORT --store S` — group into the store and screen everyone (nothing to reuse yet);
2. update: 1% of the patients changed (their Patient edited), their whole records merged into the store as
   `screen --server --since` merges them (`StoreUpdate(replace=False)`): only they are evaluated again;
3. re-screen, a changed trial: one trial's mapping edited (a threshold) — that trial is evaluated for everyone,
   the other's results are reused;
4. re-screen, nothing changed: every result reused (the floor of a store run: read, write the outputs).

The phases run a copy of the package taken at the start (PYTHONPATH): the compiled-trial hash covers the
adapter's own code, so a checkout edited meanwhile (other work on the same machine) would rightly make every
result stale, and the figures would measure that instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]

REALWORLD = ROOT.parent / "shared" / "realworld" / "synthea"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "store.json"
AS_OF = "2026-11-01"
CHANGED_TRIAL = "NCT03787251"


def _benchmark_modules() -> tuple[Any, Any]:
    """benchmarks/screen.py and synthea_export.py — imported by the parent only: `screen` puts this checkout on
    sys.path, and the update phase's process must import the snapshot."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import screen
    import synthea_export

    return screen, synthea_export


def parse_floor(export: Path) -> dict[str, Any]:
    """One core parsing every line of the export with orjson (the floor `screen_synthea.py` measures)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from screen_synthea import parse_floor as floor

    return floor(export)  # type: ignore[no-any-return]


def changed_records(export: Path, target: Path, share: float, seed: int = 1) -> int:
    """The whole records of `share` of the patients, each Patient edited, into `target` (as `_whole_records`
    writes them for a `--since` update); the number of patients changed."""
    from adapter.screening.routing import Routed, route

    patients = []
    with (export / "Patient.ndjson").open("rb") as handle:
        patients = [orjson.loads(line)["id"] for line in handle if line.strip()]
    chosen = set(random.Random(seed).sample(patients, max(1, round(len(patients) * share))))
    target.mkdir(parents=True)
    for path in sorted(export.glob("*.ndjson")):
        kept = []
        with path.open("rb") as handle:
            for line in handle:
                routed = route(line)
                if isinstance(routed, Routed) and routed.key in chosen:
                    if routed.resource_type == "Patient":
                        patient = orjson.loads(line)
                        patient["maritalStatus"] = {"text": "changed since the last export"}
                        line = orjson.dumps(patient) + b"\n"
                    kept.append(line)
        if kept:
            (target / path.name).write_bytes(b"".join(kept))
    return len(chosen)


def edited_mapping(site: Path) -> None:
    bundled = ROOT / "adapter" / "mappings"
    site.mkdir(parents=True)
    shutil.copy(bundled / f"{CHANGED_TRIAL}.json", site)
    text = (bundled / f"{CHANGED_TRIAL}.yaml").read_text(encoding="utf-8")
    assert "        value: 90\n" in text
    (site / f"{CHANGED_TRIAL}.yaml").write_text(text.replace("        value: 90\n", "        value: 95\n", 1),
                                               encoding="utf-8")


def run_phase(name: str, command: list[str], out: Path, env: dict[str, str]) -> dict[str, Any]:
    """One process: wall time, peak RSS of its tree, and its run record's counts and durations."""
    screen, _ = _benchmark_modules()
    stderr_path = out.parent / f"{out.name}.stderr.txt"
    with stderr_path.open("wb") as stderr:
        busy_before = screen.machine_busy_s()
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=out.parent, env=env)
        sampler = screen.TreeSampler(process.pid)
        sampler.start()
        returncode = process.wait()
        wall = time.perf_counter() - start
        busy = screen.machine_busy_s() - busy_before
        sampler.stopped.set()
        sampler.join()
    result: dict[str, Any] = {"phase": name, "returncode": returncode, "wall_s": round(wall, 2),
                              "peak_rss_mb": round(sampler.peak_rss / 2**20, 1),
                              "other_load": round(max(busy - sampler.tree_cpu_s, 0.0) / (wall * (os.cpu_count() or 1)),
                                                  2)}
    if returncode != 0:
        result["stderr_tail"] = stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        return result
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    result["durations_s"] = record["durations_s"]
    result["counts"] = {k: v for k, v in record["counts"].items() if k not in ("verdicts",)}
    return result


def _update(store: str, source: str, out: str, workers: str) -> None:
    """The update phase's process: the changed records merged into the store, as `--server --since` does."""
    import adapter
    from adapter.catalog import load_catalog
    from adapter.screening.patient import JobRecipe

    assert "PYTHONPATH" not in os.environ or adapter.__file__.startswith(os.environ["PYTHONPATH"]), adapter.__file__
    from adapter.screening.run import ScreenRequest, StoreUpdate
    from adapter.screening.run import screen as run_screen

    trials = load_catalog([]).all()
    request = ScreenRequest(source=Path(source), out=Path(out), recipe=JobRecipe((), (), date.fromisoformat(AS_OF)),
                            workers=int(workers), store=Path(store), update=StoreUpdate(replace=False, since="bench"))
    run_screen(request, trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=527, help="clones of the 19 Synthea bundles (527: ~10,000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--changed", type=float, default=0.01, help="share of patients changed in the update")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--scratch", type=Path, help="where to write (default: a temporary folder, removed)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="store-bench-"))
    _, synthea_export = _benchmark_modules()
    cli = [sys.executable, "-m", "adapter.cli"]
    try:
        snapshot = scratch / "snapshot"
        shutil.copytree(ROOT / "adapter", snapshot / "adapter", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "PYTHONPATH": str(snapshot)}
        export, store = scratch / "export", scratch / "store"
        bundles = sorted(p for p in REALWORLD.glob("*.json") if p.name != "SOURCES.json")
        with open(os.devnull, "w") as quiet:
            patients = synthea_export.write_export(bundles, export, copies=args.copies, log=quiet)
        changed = changed_records(export, scratch / "update", args.changed)
        edited_mapping(scratch / "site")
        floor = parse_floor(export)
        print(f"{patients:,} patients; floor: one core orjson-parsing {floor['lines']:,} lines, {floor['mb']} MB: "
              f"{floor['wall_s']} s", flush=True)
        common = ["--as-of", AS_OF, "--workers", str(args.workers)]
        phases = [
            ("load", [*cli, "screen", "--ndjson", str(export), "--store", str(store), *common]),
            ("update", [sys.executable, __file__, "--_update", str(store), str(scratch / "update")]),
            ("rescreen-changed-trial", [*cli, "screen", "--store", str(store), "--mappings", str(scratch / "site"),
                                        *common]),
            ("rescreen-unchanged", [*cli, "screen", "--store", str(store), "--mappings", str(scratch / "site"),
                                    *common]),
        ]
        results = []
        for name, command in phases:
            out = scratch / f"out-{name}"
            command = [*command, "--out", str(out)] if name != "update" else [*command, str(out), str(args.workers)]
            result = run_phase(name, command, out, env)
            results.append(result)
            counts = result.get("counts", {})
            print(f"{name:>24}: {result['wall_s']} s, peak RSS {result['peak_rss_mb']} MB, "
                  f"evaluated {counts.get('patients_evaluated')} / reused {counts.get('patients_reused')} patients, "
                  f"{counts.get('results_evaluated')} results evaluated, "
                  f"phases {result.get('durations_s')}, other load {result['other_load']}"
                  + (f", FAILED: {result.get('stderr_tail', '')[-400:]}" if result["returncode"] else ""), flush=True)
        store_mb = round(sum(p.stat().st_size for p in store.iterdir() if p.is_file()) / 2**20, 1)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"patients": patients, "copies": args.copies, "changed": changed,
                                         "workers": args.workers, "floor": floor, "store_mb": store_mb,
                                         "phases": results, "cpus": os.cpu_count()}, indent=2) + "\n",
                             encoding="utf-8")
        print(f"store: {store_mb} MB; figures in {args.json}")
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--_update":
        _update(*sys.argv[2:])
    else:
        main()
