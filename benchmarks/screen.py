"""Population screening benchmark: `trial-adapter screen` over synthetic Bulk Data exports. Figures, not thresholds.

    .venv/bin/python benchmarks/screen.py [--sizes 1000,10000,100000] [--engines local,spark] [--workers N]
                                          [--keep [DIR]] [--engine-sample 2000] [--seed 0] [--json PATH]

Per population size (made by benchmarks/population.py, timed apart and not counted; with --keep, cached in
benchmarks/.populations/ and reused while the generator and the concept files are unchanged):

1. the engine alone: the first --engine-sample patients of the 10k population (or of the smallest one) grouped
   in memory here, then `screen_patient(job, patient_id, lines)` timed over them in this one process — the rate
   one core reaches with no reading, grouping, process pool or output;
2. per engine, one `trial-adapter screen --ndjson DIR --engine E --workers N --out OUT --as-of 2026-11-01`
   subprocess: wall time, patients/s, the peak RSS of its whole process tree (the process and all its children
   — DuckDB, pool workers, Spark's JVM and Python workers — summed every 0.2 s; shared pages count once per
   process, so the sum overstates), and the rate as a share of (engine alone × workers): the goal for local is
   ≥ 0.8;
3. the cost of each extra patient between consecutive sizes (start-up cancels out; about equal = linear), the
   peak RSS against the population (goal: flat), and an extrapolation to one million patients on this machine
   and per executor core on a cluster (rate-based: the largest step's marginal cost).

Prints a table; writes everything as JSON to benchmarks/results/screen.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import population  # noqa: E402

AS_OF = date(2026, 11, 1)
DEFAULT_CACHE = ROOT / "benchmarks" / ".populations"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "screen.json"
SAMPLE_INTERVAL_S = 0.2
ONE_MILLION = 1_000_000


# ---------------------------------------------------------------------------------------- populations


def generator_fingerprint() -> str:
    """Changes when the generator or the concept files it reads change: a cached population is then remade."""
    digest = hashlib.sha256()
    for path in [Path(population.__file__), *sorted((ROOT / "mappings").glob("concepts*.yaml"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_population(size: int, seed: int, cache: Path | None, scratch: Path) -> tuple[Path, dict[str, Any]]:
    """The export directory of a population of `size` and how it was made (generation time, counts)."""
    fingerprint = generator_fingerprint()
    directory = (cache or scratch) / f"p{size}-seed{seed}"
    stamp = directory / "population.json"
    if cache is not None and stamp.exists():
        made = json.loads(stamp.read_text(encoding="utf-8"))
        if made.get("fingerprint") == fingerprint:
            return directory, {**made, "reused": True}
    start = time.perf_counter()
    counts = population.generate(directory, size, seed=seed)
    elapsed = time.perf_counter() - start
    size_bytes = sum(p.stat().st_size for p in directory.iterdir() if ".ndjson" in p.name)
    made = {"patients": size, "seed": seed, "fingerprint": fingerprint, "generation_s": round(elapsed, 2),
            "counts": counts, "files": len([p for p in directory.iterdir() if ".ndjson" in p.name]),
            "bytes": size_bytes}  # fmt: skip
    stamp.write_text(json.dumps(made, indent=2) + "\n", encoding="utf-8")
    return directory, {**made, "reused": False}


def ndjson_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith((".ndjson", ".ndjson.gz")))


def _read_lines(path: Path) -> Any:
    if path.name.endswith(".gz"):
        import gzip

        with gzip.open(path, "rb") as handle:
            yield from handle
    else:
        with path.open("rb") as handle:
            yield from handle


def group_sample(directory: Path, count: int) -> dict[str, list[bytes]]:
    """The raw lines of the first `count` patients of Patient.ndjson (file order), grouped by patient the way the
    screening contract says: their Patient, every resource whose subject/patient refers to them, and the
    Medication lines their orders reference. Only the sampled patients' lines are kept in memory."""
    files = ndjson_files(directory)
    sample: dict[str, list[bytes]] = {}
    for path in files:
        if path.name.split(".")[0] != "Patient":
            continue
        for line in _read_lines(path):
            if len(sample) >= count:
                break
            sample[orjson.loads(line)["id"]] = [line.rstrip(b"\n")]
    medications: dict[str, bytes] = {}
    wanted: dict[str, set[str]] = {}
    for path in files:
        resource_type = path.name.split(".")[0]
        if resource_type == "Patient":
            continue
        for line in _read_lines(path):
            if resource_type == "Medication":
                medications[orjson.loads(line)["id"]] = line.rstrip(b"\n")
                continue
            ref = (b'"subject":{"reference":"Patient/' if resource_type != "AllergyIntolerance"
                   else b'"patient":{"reference":"Patient/')  # fmt: skip
            at = line.find(ref)
            if at < 0:
                continue
            pid = line[at + len(ref): line.index(b'"', at + len(ref))].decode()
            if pid not in sample:
                continue
            sample[pid].append(line.rstrip(b"\n"))
            if b'"medicationReference"' in line:
                reference = orjson.loads(line)["medicationReference"]["reference"]
                wanted.setdefault(pid, set()).add(reference.rsplit("/", 1)[-1])
    for pid, ids in wanted.items():
        sample[pid].extend(medications[i] for i in sorted(ids))
    return sample


def engine_alone(sample: dict[str, list[bytes]]) -> dict[str, Any]:
    """screen_patient over the grouped sample in this one process (job built and first patient run beforehand)."""
    from adapter.screening.patient import JobRecipe, screen_patient

    job = JobRecipe(mapping_dirs=(), trial_ids=(), as_of=AS_OF, cache_dir=None).build()
    first = next(iter(sample))
    screen_patient(job, first, sample[first])  # warm: units parsing, value sets, EvidenceVariables
    verdicts: dict[tuple[str, str], str] = {}
    errors = 0
    start, cpu_start, busy_start = time.perf_counter(), time.process_time(), machine_busy_s()
    for pid, lines in sample.items():
        outcome = screen_patient(job, pid, lines)
        if outcome.error is not None:
            errors += 1
        for result in outcome.results:
            verdicts[(result["patient"], result["trial"])] = result["verdict"]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    other = max(machine_busy_s() - busy_start - cpu, 0.0) / (elapsed * (os.cpu_count() or 1))
    lines_total = sum(len(lines) for lines in sample.values())
    return {
        "patients": len(sample),
        "trials": len(job.trials),
        "lines_per_patient": round(lines_total / len(sample), 1),
        "seconds": round(elapsed, 3),
        "patients_per_s": round(len(sample) / elapsed, 1),
        "ms_per_patient": round(elapsed * 1000 / len(sample), 3),
        "errors": errors,
        "cpu_share": round(cpu / elapsed, 2),  # < ~0.9: this process waited for a core (a busy machine)
        "other_load": round(other, 2),  # CPU of every other process, as a share of all cores
        "_verdicts": verdicts,
    }


# ---------------------------------------------------------------------------------------- one CLI run


class TreeSampler(threading.Thread):
    """The peak, over samples every `interval` s, of the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_process_rss = 0  # the largest single process (the memory goal: ≤ --memory-limit + 512 MiB)
        self.peak_processes = 0
        self.samples = 0
        self.cpu_seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds last read
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval)

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for process in processes:
            try:
                rss = process.memory_info().rss
                total += rss
                self.peak_process_rss = max(self.peak_process_rss, rss)
                times = process.cpu_times()
                self.cpu_seen[(process.pid, process.create_time())] = times.user + times.system
            except psutil.Error:  # ended between the listing and the reading
                continue
        self.samples += 1
        self.peak_rss = max(self.peak_rss, total)
        self.peak_processes = max(self.peak_processes, len(processes))

    @property
    def tree_cpu_s(self) -> float:
        """CPU seconds of the tree, as last sampled (a child's last 0.2 s before it ended are missed)."""
        return sum(self.cpu_seen.values())


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores) since boot."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "trial-adapter"
    return [str(script)] if script.exists() else [sys.executable, "-m", "adapter.cli"]


def run_screen(directory: Path, engine: str, workers: int, out: Path, patients: int) -> dict[str, Any]:
    """One `trial-adapter screen` process: wall time, peak RSS of its tree, and what it wrote."""
    command = [*cli_command(), "screen", "--ndjson", str(directory), "--engine", engine, "--workers", str(workers),
               "--out", str(out), "--as-of", AS_OF.isoformat()]  # fmt: skip
    stderr_path = out.parent / f"{out.name}.stderr.txt"
    with stderr_path.open("wb") as stderr:
        busy_before = machine_busy_s()
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        returncode = process.wait()
        wall = time.perf_counter() - start
        busy = machine_busy_s() - busy_before
        sampler.stopped.set()
        sampler.join()
    cpus = os.cpu_count() or 1
    other = max(busy - sampler.tree_cpu_s, 0.0)
    run: dict[str, Any] = {
        "engine": engine,
        "workers": workers,
        "command": " ".join(command),
        "returncode": returncode,
        "wall_s": round(wall, 2),
        "patients_per_s": round(patients / wall, 1),
        "ms_per_patient": round(wall * 1000 / patients, 3),
        "peak_rss_mb": round(sampler.peak_rss / 2**20, 1),
        "peak_process_rss_mb": round(sampler.peak_process_rss / 2**20, 1),
        "peak_processes": sampler.peak_processes,
        "rss_samples": sampler.samples,
        "tree_cpu_s": round(sampler.tree_cpu_s, 1),
        # the machine's CPU used by anything else during the run, as a share of all its cores: > ~0.1 means the
        # figures were taken on a busy machine (the 2-core development machine is shared)
        "other_load": round(other / (wall * cpus), 2),
    }
    if returncode != 0:
        run["stderr_tail"] = stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        return run
    verdicts: Counter[str] = Counter()
    screened: set[str] = set()
    with (out / "results.ndjson").open("rb") as handle:
        for line in handle:
            result = orjson.loads(line)
            verdicts[result["verdict"]] += 1
            screened.add(result["patient"])
    errors_path = out / "errors.ndjson"
    run["patients_screened"] = len(screened)
    run["result_lines"] = sum(verdicts.values())
    run["verdicts"] = dict(sorted(verdicts.items()))
    run["error_lines"] = sum(1 for _ in errors_path.open("rb")) if errors_path.exists() else 0
    return run


def agreement(out: Path, expected: dict[tuple[str, str], str]) -> dict[str, int]:
    """How many of the engine-alone verdicts the CLI's results.ndjson repeats (the sampled patients only)."""
    same = differ = 0
    with (out / "results.ndjson").open("rb") as handle:
        for line in handle:
            result = orjson.loads(line)
            key = (result["patient"], result["trial"])
            if key in expected:
                if expected[key] == result["verdict"]:
                    same += 1
                else:
                    differ += 1
    return {"same": same, "differ": differ, "missing": len(expected) - same - differ}


# ---------------------------------------------------------------------------------------- analysis


def analyse(runs: list[dict[str, Any]], alone: dict[str, Any], workers: int) -> dict[str, Any]:
    """Per engine: share of the ideal rate, RSS against size, marginal cost per patient, extrapolation."""
    ideal = alone["patients_per_s"] * workers
    by_engine: dict[str, Any] = {}
    for engine in sorted({r["engine"] for r in runs}):
        ok = sorted((r for r in runs if r["engine"] == engine and r["returncode"] == 0), key=lambda r: r["patients"])
        if not ok:
            continue
        for r in ok:
            r["share_of_ideal"] = round(r["patients_per_s"] / ideal, 3)
        # the cost of each extra patient between consecutive sizes: constant = linear (start-up cancels out)
        marginal = [
            (b["wall_s"] - a["wall_s"]) / (b["patients"] - a["patients"]) for a, b in pairwise(ok)
        ]
        largest = ok[-1]
        if marginal and marginal[-1] > 0:
            per_patient_s, basis = marginal[-1], (f"marginal cost between the {ok[-2]['patients']:,} and "
                                                  f"{largest['patients']:,} populations")
        else:
            per_patient_s, basis = largest["wall_s"] / largest["patients"], "largest size's rate, start-up included"
        fixed_s = max(largest["wall_s"] - per_patient_s * largest["patients"], 0.0)
        core_rate = 1 / (per_patient_s * workers)  # patients per second per core, marginal
        by_engine[engine] = {
            "sizes": [r["patients"] for r in ok],
            "share_of_ideal": [r["share_of_ideal"] for r in ok],
            "peak_rss_mb": [r["peak_rss_mb"] for r in ok],
            "rss_growth": round(largest["peak_rss_mb"] / ok[0]["peak_rss_mb"], 2) if len(ok) > 1 else None,
            "ms_per_patient": [r["ms_per_patient"] for r in ok],
            "marginal_ms_per_patient": [round(m * 1000, 3) for m in marginal],
            "fixed_s": round(fixed_s, 1),
            "extrapolation": {
                "basis": basis,
                "one_million_here_s": round(fixed_s + per_patient_s * ONE_MILLION, 0),
                "patients_per_s_per_core": round(core_rate, 1),
                "one_million_core_hours": round(ONE_MILLION / core_rate / 3600, 2),
                "one_million_on_64_cores_min": round(ONE_MILLION / core_rate / 64 / 60, 1),
            },
        }
    return {"engine_alone_x_workers_patients_per_s": round(ideal, 1), "engines": by_engine}


# ---------------------------------------------------------------------------------------- output


def print_table(populations: list[dict[str, Any]], alone: dict[str, Any], runs: list[dict[str, Any]],
                analysis: dict[str, Any], workers: int) -> None:  # fmt: skip
    print("\npopulations (generation timed apart, not counted)")
    print(f"  {'patients':>9} {'Observations':>13} {'lines':>11} {'MB':>8} {'files':>6} {'generated in':>13}")
    for p in populations:
        lines = sum(p["counts"].values())
        made = "reused" if p["reused"] else f"{p['generation_s']:.1f} s"
        print(f"  {p['patients']:>9,} {p['counts']['Observation']:>13,} {lines:>11,} {p['bytes'] / 1e6:>8.1f} "
              f"{p['files']:>6} {made:>13}")
    print(f"\nengine alone: {alone['patients']:,} patients of the {alone['population']:,} population "
          f"({alone['lines_per_patient']} lines each), {alone['trials']} trials, one process: "
          f"{alone['patients_per_s']:.1f} patients/s ({alone['ms_per_patient']:.2f} ms each); "
          f"× {workers} workers = {analysis['engine_alone_x_workers_patients_per_s']:.1f} patients/s "
          f"(other load {alone['other_load']:.2f})")
    print(f"\n  {'engine':<7} {'patients':>9} {'wall s':>8} {'patients/s':>11} {'ms/patient':>11} "
          f"{'of ideal':>9} {'peak RSS MB':>12} {'procs':>6} {'other load':>11}  verdicts")
    for r in runs:
        if r["returncode"] != 0:
            print(f"  {r['engine']:<7} {r['patients']:>9,}  FAILED (exit {r['returncode']})")
            continue
        verdicts = ", ".join(f"{k} {v:,}" for k, v in r["verdicts"].items())
        print(f"  {r['engine']:<7} {r['patients']:>9,} {r['wall_s']:>8.1f} {r['patients_per_s']:>11.1f} "
              f"{r['ms_per_patient']:>11.2f} {r['share_of_ideal']:>9.2f} {r['peak_rss_mb']:>12.0f} "
              f"{r['peak_processes']:>6} {r['other_load']:>11.2f}  {verdicts}")
    busy = [f"{r['engine']} {r['patients']:,}: {r['other_load']:.2f}" for r in runs if r.get("other_load", 0) > 0.15]
    cpus = os.cpu_count() or 1
    if alone["cpu_share"] < 0.9 or alone["other_load"] > (cpus - 1) / cpus + 0.1:  # it needs one core only
        busy.insert(0, f"engine alone: {alone['other_load']:.2f} (CPU share {alone['cpu_share']:.2f})")
    if busy:
        print("\nWARNING: measured on a busy machine (other load = CPU used by other processes during the run, as a "
              "share of all cores; ratios to the engine alone are then unreliable): " + ", ".join(busy))
    for engine, s in analysis["engines"].items():
        print(f"\n{engine}: share of (engine alone × {workers}) by size {s['share_of_ideal']} (goal for local: ≥ 0.8); "
              f"peak RSS MB {s['peak_rss_mb']}" + (f" (×{s['rss_growth']} from the smallest)" if s["rss_growth"]
                                                   else ""))  # fmt: skip
        if s["marginal_ms_per_patient"]:
            print(f"  cost per extra patient between consecutive sizes: {s['marginal_ms_per_patient']} ms "
                  f"(about equal = linear); start-up and other fixed cost ≈ {s['fixed_s']:.1f} s")
        e = s["extrapolation"]
        print(f"  EXTRAPOLATION ({e['basis']}, not measured): 1,000,000 patients here ≈ "
              f"{e['one_million_here_s'] / 60:.0f} min; per executor core ≈ {e['patients_per_s_per_core']:.0f} "
              f"patients/s → {e['one_million_core_hours']:.1f} core-hours, ≈ {e['one_million_on_64_cores_min']:.0f} "
              "min on 64 cores (assumes this machine's per-patient cost; cluster I/O and shuffle not modelled)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="population sizes, comma-separated")
    parser.add_argument("--engines", default="local,spark", help="comma-separated: local, spark")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, nargs="?", const=DEFAULT_CACHE, default=None, metavar="DIR",
                        help=f"cache the populations in DIR (default {DEFAULT_CACHE.relative_to(ROOT)}) and reuse them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine-sample", type=int, default=2000, metavar="N",
                        help="patients timed for the engine alone (default 2000)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the figures go")
    args = parser.parse_args()
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="screen-bench-"))
    try:
        populations, runs = [], []
        sample_size = 10_000 if 10_000 in sizes else sizes[0]
        alone: dict[str, Any] | None = None
        for size in sizes:
            directory, made = ensure_population(size, args.seed, args.keep, scratch)
            populations.append(made)
            how = "reused" if made["reused"] else f"generated in {made['generation_s']:.1f} s"
            print(f"{size:,} patients: {directory} ({how})", file=sys.stderr)
            if size == sample_size:
                alone = engine_alone(group_sample(directory, min(args.engine_sample, size)))
                alone["population"] = size
                print(f"  engine alone: {alone['patients_per_s']:.1f} patients/s", file=sys.stderr)
            for engine in engines:
                out = scratch / f"out-{size}-{engine}"
                run = {"patients": size, **run_screen(directory, engine, args.workers, out, size)}
                if alone is not None and size == sample_size and run["returncode"] == 0:
                    run["agreement_with_engine_alone"] = agreement(out, alone["_verdicts"])
                runs.append(run)
                print(f"  {engine}: {run['wall_s']:.1f} s, exit {run['returncode']}, "
                      f"peak RSS {run['peak_rss_mb']:.0f} MB", file=sys.stderr)
                shutil.rmtree(out, ignore_errors=True)
            if args.keep is None:
                shutil.rmtree(directory, ignore_errors=True)
        assert alone is not None
        analysis = analyse(runs, alone, args.workers)
        print_table(populations, alone, runs, analysis, args.workers)
        alone.pop("_verdicts")
        for r in runs:
            if "agreement_with_engine_alone" in r:
                a = r["agreement_with_engine_alone"]
                print(f"{r['engine']}: verdicts of the {alone['patients']:,} sampled patients as the engine alone "
                      f"gave them: {a['same']:,} same, {a['differ']:,} different, {a['missing']:,} missing")
        record = {
            "benchmark": "screen",
            "measured": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
            "commit": _commit(),
            "as_of": AS_OF.isoformat(),
            "workers": args.workers,
            "populations": populations,
            "engine_alone": alone,
            "runs": runs,
            "analysis": analysis,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures: {args.json}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    main()
