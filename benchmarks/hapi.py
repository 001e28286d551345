"""Against a real HAPI FHIR JPA server (R4 and R5, started here): figures to read, not thresholds.

    .venv/bin/python benchmarks/hapi.py [--repeat N]

- HAPI start time and memory (RSS);
- time to push both trials to a warm server (first push creates, second finds everything unchanged);
- round trips and wall time per evaluation pulled from the server (`evaluate --server`, in-process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.catalog import load_catalog  # noqa: E402
from adapter.eligibility.facts import facts_from_bundle  # noqa: E402
from adapter.evaluation import evaluate_trial, observation_codes  # noqa: E402
from adapter.fhir.client import FhirClient  # noqa: E402
from adapter.fhir.pull import plan_for, pull_patient  # noqa: E402
from adapter.fhir.push import push_bundle  # noqa: E402
from adapter.fhir_build import build_bundle  # noqa: E402
from tests.support.hapi import HapiServer  # noqa: E402

AS_OF = date(2026, 11, 1)
PATIENT = ROOT / "fixtures" / "patients" / "p-eligible-us-units.json"


def rss_mb(pid: int | None) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    catalog = load_catalog()
    trials = catalog.all()
    for version in ("R4", "R5"):
        started = time.perf_counter()
        with HapiServer(version) as server:
            print(f"HAPI {version}: ready in {time.perf_counter() - started:.1f} s, RSS {rss_mb(server.pid):.0f} MB")
            with FhirClient(server.base_url) as client:
                bundles = [build_bundle(trial, version) for trial in trials]  # type: ignore[arg-type]
                for label in ("first push (creates)", "warm push (unchanged)", "warm push (unchanged)"):
                    start = time.perf_counter()
                    outcomes = [r.outcome for b in bundles for r in push_bundle(client, b)]
                    print(f"  push both trials, {label:<22} {time.perf_counter() - start:6.2f} s  "
                          f"{ {o: outcomes.count(o) for o in set(outcomes)} }")
            if version == "R5":
                continue  # the fixture patients are R4 resources
            patient = json.loads(PATIENT.read_text(encoding="utf-8"))
            with server.client() as http:
                entries = [{"resource": e["resource"], "request": {
                    "method": "PUT", "url": f"{e['resource']['resourceType']}/{e['resource']['id']}"}}
                    for e in patient["entry"]]
                http.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
                          ).raise_for_status()
            patient_id = next(e["resource"]["id"] for e in patient["entry"]
                              if e["resource"]["resourceType"] == "Patient")
            plan = plan_for(observation_codes(trials))
            times, trips = [], []
            with FhirClient(server.base_url) as client:
                for _ in range(args.repeat):
                    before = client.request_count
                    start = time.perf_counter()
                    facts = facts_from_bundle(pull_patient(client, patient_id, plan), catalog.units)
                    for trial in trials:
                        evaluate_trial(trial, facts, AS_OF)
                    times.append(time.perf_counter() - start)
                    trips.append(client.request_count - before)
            print(f"  evaluate from the server (both trials): round trips {statistics.median(trips):.0f}, "
                  f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
                  f"(n={args.repeat}, first run included)")
            print(f"  HAPI RSS after the run: {rss_mb(server.pid):.0f} MB")


if __name__ == "__main__":
    main()
