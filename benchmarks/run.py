"""Eligibility benchmarks: figures to read, not thresholds to assert.

    .venv/bin/python benchmarks/run.py [--repeat N]

1. one patient with ~500 Observations against both trials, in-process (facts extraction + evaluation);
2. patients per second over a directory of bundles (fixtures/patients, plus ../shared/realworld/synthea when
   present);
3. wall time of one `trial-adapter evaluate --bundle FILE` process, start-up included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.catalog import load_catalog  # noqa: E402
from adapter.eligibility.facts import facts_from_bundle as _facts  # noqa: E402
from adapter.evaluation import evaluate_trial  # noqa: E402

CATALOG = load_catalog()


def facts_from_bundle(bundle: dict):  # type: ignore[no-untyped-def]
    return _facts(bundle, CATALOG.units)

AS_OF = date(2026, 11, 1)
LABS = [  # LOINC, UCUM unit, typical value, reference high
    ("718-7", "g/dL", 12.5, 17.0),
    ("777-3", "10*3/uL", 210, 400),
    ("751-8", "10*3/uL", 4.1, 7.5),
    ("2160-0", "mg/dL", 0.9, 1.2),
    ("1742-6", "U/L", 25, 40),
    ("1920-8", "U/L", 28, 40),
    ("1975-2", "mg/dL", 0.7, 1.2),
    ("6301-6", "{INR}", 1.0, 1.2),
    ("14979-9", "s", 30, 40),
    ("5902-2", "s", 12, 14),
    ("3255-7", "g/L", 3.0, 4.0),
    ("1558-6", "mmol/L", 5.5, 6.1),
    ("29463-7", "kg", 70, None),
    ("8636-3", "ms", 420, None),
    ("2889-4", "g/(24.h)", 0.1, None),
    ("8480-6", "mm[Hg]", 125, None),
    ("8462-4", "mm[Hg]", 80, None),
]


def synthetic_patient(observations: int = 500) -> dict:
    entries = [
        {
            "fullUrl": "urn:uuid:p",
            "resource": {"resourceType": "Patient", "id": "bench", "gender": "female", "birthDate": "1962-03-04"},
        }
    ]
    for i in range(observations):
        code, unit, value, high = LABS[i % len(LABS)]
        day = AS_OF - timedelta(days=(i // len(LABS)) * 7)
        obs = {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/bench"},
            "effectiveDateTime": f"{day.isoformat()}T08:00:00Z",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        }
        if high is not None:
            obs["referenceRange"] = [
                {"high": {"value": high, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
            ]
        entries.append({"resource": obs})
    entries.append(
        {
            "resource": {
                "resourceType": "Condition",
                "id": "c1",
                "subject": {"reference": "Patient/bench"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "276804009"}]},
                "clinicalStatus": {"coding": [{"code": "active"}]},
            }
        }
    )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def describe(label: str, seconds: list[float], unit: str = "ms") -> None:
    scale = 1000 if unit == "ms" else 1
    median = statistics.median(seconds) * scale
    p95 = sorted(seconds)[max(0, int(len(seconds) * 0.95) - 1)] * scale
    print(f"{label:<58} median {median:8.2f} {unit}   p95 {p95:8.2f} {unit}   (n={len(seconds)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    trials = CATALOG.all()
    bundle = synthetic_patient()
    n_obs = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")

    def both_trials() -> None:
        facts = facts_from_bundle(bundle)
        for trial in trials:
            evaluate_trial(trial, facts, AS_OF)

    both_trials()  # warm caches: units parsing, trial mappings, EvidenceVariables
    facts = facts_from_bundle(bundle)
    print(f"1. one patient, {n_obs} Observations, {len(trials)} trials, in-process")
    describe("   facts extraction", timed(lambda: facts_from_bundle(bundle), args.repeat))
    describe(
        "   evaluation of both trials (facts given)",
        timed(lambda: [evaluate_trial(trial, facts, AS_OF) for trial in trials], args.repeat),
    )
    describe("   extraction + both trials", timed(both_trials, args.repeat))

    directories = [ROOT / "fixtures" / "patients", ROOT.parent / "shared" / "realworld" / "synthea"]
    bundles = []
    for directory in directories:
        for path in sorted(directory.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                facts_from_bundle(data)
            except Exception:  # input-error fixtures are part of the set; they are not patients
                continue
            bundles.append(data)
    start = time.perf_counter()
    for data in bundles:
        patient = facts_from_bundle(data)
        for trial in trials:
            evaluate_trial(trial, patient, AS_OF)
    elapsed = time.perf_counter() - start
    print(f"2. {len(bundles)} patient bundles (fixtures + Synthea), both trials, parsed JSON in memory")
    print(f"   {len(bundles) / elapsed:8.1f} patients/s   ({elapsed * 1000:.1f} ms in all)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "patient.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        command = [
            str(ROOT / ".venv" / "bin" / "trial-adapter"),
            "evaluate",
            "--trial",
            trials[0].nct_id,
            "--bundle",
            str(path),
            "--as-of",
            AS_OF.isoformat(),
        ]
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            runs.append(time.perf_counter() - start)
    print("3. one `trial-adapter evaluate` process from a file (start-up included)")
    describe("   wall time", runs[1:], unit="s")


if __name__ == "__main__":
    main()
