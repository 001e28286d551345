"""Engine benchmark: figures to read, not thresholds to assert.

    .venv/bin/python benchmarks/engine.py [--repeat N] [--synthea DIR] [--baseline DIR]

Per patient, both trials: facts extraction + evaluation, measured three ways in one run beside the floor —
orjson parsing the same bytes (the least any engine pays to see the patient):

* before    every resource read into facts, the EvidenceVariable interpreted per patient (`interpret`: the engine
            as it was before trials were compiled — same results, same words);
* compiled  facts only for what the trials' plans read (`reads_of`), the compiled plans walked (`evaluate_plan`);
* baseline  (with --baseline DIR: another checkout of the project, e.g. the previous commit) its own
            `facts_from_bundle` + `evaluate_trial`, timed in a subprocess the same way.

Patients: synthetic ones (`benchmarks/run.py`'s generator: 70 and 500 Observations) and the Synthea-shaped
bundles of ../shared/realworld/synthea (~700 resources each; files that are not Bundles skipped). Times are CPU
time (the machine may be shared: waiting for a core is not counted), the best of --repeat passes over each set;
reasons are not read (as in screening).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 1)
Patients = list[tuple[bytes, Any]]


def _generator() -> Callable[[int], dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).with_name("run.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_patient  # type: ignore[no-any-return]


def synthetic(observations: int, count: int) -> Patients:
    make = _generator()
    patients = []
    for i in range(count):
        bundle = make(observations)
        bundle["entry"][0]["resource"]["id"] = f"bench-{i}"
        raw = orjson.dumps(bundle)
        patients.append((raw, orjson.loads(raw)))
    return patients


def synthea(directory: Path) -> Patients:
    patients = []
    for path in sorted(directory.glob("*.json")):
        raw = path.read_bytes()
        data = orjson.loads(raw)
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            patients.append((raw, data))
    return patients


def best(run: Callable[[], None], repeat: int) -> float:
    """The fastest of `repeat` passes, in seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def measure(patients: Patients, repeat: int) -> dict[str, float]:
    """ms per patient: floor (parse), before and compiled (facts, evaluation, both)."""
    from adapter.catalog import load_catalog
    from adapter.eligibility.engine import evaluate_plan
    from adapter.eligibility.facts import facts_from_bundle
    from adapter.eligibility.interpret import interpret
    from adapter.evaluation import reads_of

    catalog = load_catalog()
    trials = catalog.all()
    reads = reads_of(trials)
    bundles = [b for _, b in patients]

    def whole(bundle: Any) -> Any:
        return facts_from_bundle(bundle, catalog.units)

    def narrowed(bundle: Any) -> Any:
        return facts_from_bundle(bundle, catalog.units, reads=reads)

    def interpreted(facts: Any) -> None:
        for trial in trials:
            interpret(trial.evidence_variable, facts, AS_OF, trial.engine_options)

    def compiled(facts: Any) -> None:
        for trial in trials:
            evaluate_plan(trial.plan, facts, AS_OF)

    for bundle in bundles:  # warm: plans compiled, per-plan memos filled as a long-running process has them
        compiled(narrowed(bundle))

    def parse() -> None:
        for raw, _ in patients:
            orjson.loads(raw)

    figures = {"parse": best(parse, repeat)}
    for name, extract, evaluate in (("before", whole, interpreted), ("compiled", narrowed, compiled)):
        figures[f"{name} facts"] = best(_each(bundles, extract), repeat)
        figures[f"{name} evaluation"] = best(_each([extract(b) for b in bundles], evaluate), repeat)
        figures[name] = best(_each(bundles, lambda b, e=extract, v=evaluate: v(e(b))), repeat)  # type: ignore[misc]
    return {name: seconds * 1000 / len(patients) for name, seconds in figures.items()}


def _each(items: list[Any], work: Callable[[Any], object]) -> Callable[[], None]:
    def run() -> None:
        for item in items:
            work(item)

    return run


def baseline(checkout: Path, patients_spec: list[str], repeat: int) -> dict[str, float]:
    """The other checkout's facts + evaluate_trial, per patient, beside its own parse floor (a subprocess)."""
    script = (
        "import gc, sys, time, json, orjson\n"
        f"sys.path.insert(0, {str(checkout)!r})\n"
        "from datetime import date\n"
        "from adapter.catalog import load_catalog\n"
        "from adapter.eligibility.facts import facts_from_bundle\n"
        "from adapter.evaluation import evaluate_trial\n"
        "paths = json.loads(sys.argv[1]); repeat = int(sys.argv[2])\n"
        "raws = [open(p, 'rb').read() for p in paths]; bundles = [orjson.loads(r) for r in raws]\n"
        "catalog = load_catalog(); trials = catalog.all(); as_of = date(2026, 11, 1)\n"
        "def both():\n"
        "    for b in bundles:\n"
        "        f = facts_from_bundle(b, catalog.units)\n"
        "        for t in trials: evaluate_trial(t, f, as_of)\n"
        "def parse():\n"
        "    for r in raws: orjson.loads(r)\n"
        "both()\n"
        "out = {}\n"
        "for name, run in (('parse', parse), ('baseline', both)):\n"
        "    times = []\n"
        "    for _ in range(repeat):\n"
        "        gc.collect(); s = time.perf_counter(); run(); times.append(time.perf_counter() - s)\n"
        "    out[name] = min(times) * 1000 / len(raws)\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, json.dumps(patients_spec), str(repeat)], check=True,
                          capture_output=True, text=True, cwd=checkout)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def report(label: str, figures: dict[str, float]) -> None:
    floor = figures["parse"]
    print(f"\n{label}")
    print(f"  {'':<22}{'ms/patient':>11}{'× parse':>9}")
    for name, value in figures.items():
        if name.startswith("baseline"):
            continue
        print(f"  {name:<22}{value:>11.3f}{value / floor:>9.2f}")
    print(f"  speed-up, facts + evaluation: {figures['before'] / figures['compiled']:.1f}×   "
          f"(facts {figures['before facts'] / figures['compiled facts']:.1f}×, "
          f"evaluation {figures['before evaluation'] / figures['compiled evaluation']:.1f}×)")
    speed_up = figures["before"] / figures["compiled"]
    reached = "reached" if speed_up >= 10 else "not reached"
    print(f"  goal (issue 19): ≥ 10× faster than before — {speed_up:.1f}×, {reached}; "
          f"compiled is {figures['compiled'] / floor:.2f}× the parse floor")
    if "baseline" in figures:
        print(f"  speed-up vs the baseline checkout: {figures['baseline'] / figures['compiled']:.1f}×  "
              f"(baseline {figures['baseline']:.3f} ms, its parse {figures['baseline parse']:.3f} ms in its run: "
              f"{figures['baseline'] / figures['baseline parse']:.2f}× parse)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--synthea", type=Path, default=ROOT.parent / "shared" / "realworld" / "synthea")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project, for its figures")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sets: list[tuple[str, Patients, list[str] | None]] = [
        ("synthetic, 70 Observations each (20 patients)", synthetic(70, 20), None),
        ("synthetic, 500 Observations each (5 patients)", synthetic(500, 5), None),
    ]
    if args.synthea.is_dir():
        found = synthea(args.synthea)
        paths = [str(p) for p in sorted(args.synthea.glob("*.json"))
                 if orjson.loads(p.read_bytes()).__class__ is dict and p.name != "SOURCES.json"]
        resources = sum(len(b["entry"]) for _, b in found) / max(len(found), 1)
        sets.append((f"Synthea-shaped, {len(found)} bundles (~{resources:.0f} resources each)", found, paths))
    print(f"both trials, as of {AS_OF}; best of {args.repeat} passes; reasons not read")
    for label, patients, paths in sets:
        figures = measure(patients, args.repeat)
        if args.baseline and paths:
            other = baseline(args.baseline, paths, args.repeat)
            figures["baseline"], figures["baseline parse"] = other["baseline"], other["parse"]
        report(label, figures)


if __name__ == "__main__":
    main()
