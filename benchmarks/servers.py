"""Push and pull against a warm HAPI FHIR JPA R4 and Medplum's fhir-router R4 (both started here): figures, not
thresholds.

    .venv/bin/python benchmarks/servers.py [--repeat N]

Per server and push mode (transaction, chunked with 3 entries, resolve-then-write): wall time and requests for
pushing both trials as new resources, then for the repeat push that finds everything unchanged. Then one patient
pulled for evaluation: round trips and wall time.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.catalog import load_catalog  # noqa: E402
from adapter.evaluation import observation_codes  # noqa: E402
from adapter.fhir.client import FhirClient  # noqa: E402
from adapter.fhir.pull import plan_for, pull_patient  # noqa: E402
from adapter.fhir.push import push_bundle  # noqa: E402
from adapter.fhir_build import build_bundle  # noqa: E402
from tests.support.hapi import HapiServer  # noqa: E402
from tests.support.medplum import MedplumServer  # noqa: E402

PATIENT = ROOT / "fixtures" / "patients" / "p-eligible-us-units.json"


class NoTransactionClient(FhirClient):
    """The server as one without transactions would describe itself: forces resolve-then-write."""

    def capabilities(self) -> dict[str, Any]:
        statement = copy.deepcopy(super().capabilities())
        for rest in statement.get("rest") or ():
            rest["interaction"] = [{"code": "batch"}]
        return statement


def renamed(bundle: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Every business identifier made new, so that the first push really creates everything."""
    bundle = copy.deepcopy(bundle)
    for entry in bundle["entry"]:
        for identifier in entry["resource"].get("identifier", []):
            identifier["value"] += suffix
        if "url" in entry["resource"]:  # canonical urls are unique on HAPI too
            entry["resource"]["url"] += suffix
        entry["request"]["url"] += suffix
    return bundle


def push_round(base_url: str, bundles: list[dict[str, Any]], mode: str) -> tuple[float, int, list[str]]:
    client_type: Callable[..., FhirClient] = NoTransactionClient if mode == "resolve-then-write" else FhirClient
    max_entries = 3 if mode == "chunked" else None
    with client_type(base_url) as client:
        client.capabilities()  # warm: metadata is read once per client, not part of a push
        start, sent = time.perf_counter(), client.request_count
        modes: list[str] = [push_bundle(client, bundle, max_entries=max_entries).mode for bundle in bundles]
        return time.perf_counter() - start, client.request_count - sent, modes


def load_patient(base_url: str) -> str:
    import httpx

    bundle = json.loads(PATIENT.read_text(encoding="utf-8"))
    entries = [{"resource": e["resource"], "request": {"method": "PUT",
                "url": f"{e['resource']['resourceType']}/{e['resource']['id']}"}} for e in bundle["entry"]]
    with httpx.Client(timeout=60) as http:
        answer = http.post(base_url + "/", json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                           headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"})
        answer.raise_for_status()
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def bench(name: str, base_url: str, repeat: int) -> None:
    catalog = load_catalog([])
    trials = catalog.all()
    for mode in ("transaction", "chunked", "resolve-then-write"):
        created, unchanged = [], []
        for n in range(repeat):
            bundles = [renamed(build_bundle(t, "R4"), f"-{mode}-{n}") for t in trials]
            created.append(push_round(base_url, bundles, mode))
            unchanged.append(push_round(base_url, bundles, mode))
        for label, runs in (("create", created), ("repeat", unchanged)):
            ms = statistics.median(r[0] for r in runs) * 1000
            print(f"{name:<8} push {mode:<18} {label:<7} {ms:8.1f} ms  {runs[0][1]:3d} requests  "
                  f"(modes {'/'.join(runs[0][2])})")
    patient = load_patient(base_url)
    plan = plan_for(observation_codes(trials))
    times, trips = [], 0
    for _ in range(max(repeat, 5)):
        with FhirClient(base_url) as client:
            start = time.perf_counter()
            pull_patient(client, patient, plan)
            times.append(time.perf_counter() - start)
            trips = client.request_count
    print(f"{name:<8} pull one patient            {statistics.median(times) * 1000:8.1f} ms  {trips:3d} round trip(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with HapiServer("R4") as hapi:
        warm = [renamed(build_bundle(t, "R4"), "-warm") for t in load_catalog([]).all()]
        for _ in range(3):  # warm the JVM (JIT, caches) before measuring
            push_round(hapi.base_url, warm, "transaction")
        bench("HAPI R4", hapi.base_url, args.repeat)
    with MedplumServer() as medplum:
        bench("Medplum", medplum.base_url, args.repeat)


if __name__ == "__main__":
    main()
