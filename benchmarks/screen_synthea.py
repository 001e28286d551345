"""Screening a Synthea-shaped population against its floor: one core merely parsing the same lines. Figures only.

    .venv/bin/python benchmarks/screen_synthea.py [--copies 40] [--engines local,spark] [--workers N] [--json PATH]

The Synthea bundles of ../shared/realworld/synthea are cloned `--copies` times with new ids, references as
`Type/id` (`synthea_export.py`: ~800 resources a patient, the shape of real exports — 40 copies of the 19
bundles are 760 patients). In the same run:

1. the floor: one process, one core, `orjson.loads` over every line of every file of the export;
2. per engine, one `trial-adapter screen` subprocess (`screen.run_screen`: wall time, peak RSS of its process tree);
3. the ratios screen/parse (goal ≤ 2) and spark/local (goal: spark ≥ 0.8 of local's speed, i.e. ≤ 1.25).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import screen  # noqa: E402
import synthea_export  # noqa: E402

REALWORLD = ROOT.parent / "shared" / "realworld" / "synthea"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "screen_synthea.json"


def parse_floor(export: Path) -> dict[str, Any]:
    """One core parsing every line of the export with orjson: the least any screening must do."""
    lines = size = 0
    start = time.perf_counter()
    for path in sorted(export.glob("*.ndjson")):
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    orjson.loads(line)
                    lines += 1
                    size += len(line)
    return {"wall_s": round(time.perf_counter() - start, 2), "lines": lines, "mb": round(size / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=40, help="clones of the 19 Synthea bundles (40: 760 patients)")
    parser.add_argument("--engines", default="local,spark")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="screen-synthea-"))
    try:
        export = scratch / "export"
        bundles = sorted(p for p in REALWORLD.glob("*.json") if p.name != "SOURCES.json")
        started = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            patients = synthea_export.write_export(bundles, export, copies=args.copies, log=quiet)
        print(f"export: {patients} patients in {time.perf_counter() - started:.1f} s (not counted)", flush=True)
        floor = parse_floor(export)
        print(f"floor: one core orjson-parsing {floor['lines']:,} lines, {floor['mb']} MB: {floor['wall_s']} s",
              flush=True)
        runs = []
        for engine in [e for e in args.engines.split(",") if e]:
            run = screen.run_screen(export, engine, args.workers, scratch / f"out-{engine}", patients)
            runs.append(run)
            ratio = run["wall_s"] / floor["wall_s"] if floor["wall_s"] else float("nan")
            print(f"{engine:>6} --workers {args.workers}: {run['wall_s']} s, {ratio:.2f}× the parse floor, "
                  f"peak RSS {run['peak_rss_mb']} MB (tree), {run.get('peak_process_rss_mb')} MB (largest process), "
                  f"other load {run['other_load']}"
                  + (f", FAILED: {run.get('stderr_tail', '')[-300:]}" if run["returncode"] else ""), flush=True)
        walls = {r["engine"]: r["wall_s"] for r in runs if r["returncode"] == 0}
        if "local" in walls and "spark" in walls:
            print(f"spark/local: {walls['spark'] / walls['local']:.2f} (goal ≤ 1.25)")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"patients": patients, "copies": args.copies, "floor": floor, "runs": runs,
                                         "cpus": os.cpu_count()}, indent=2) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
