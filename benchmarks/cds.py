"""CDS Hooks service benchmark: figures to read, not thresholds to assert.

    .venv/bin/python benchmarks/cds.py [--seconds 15] [--clients 16] [--workers N]

Starts `trial-adapter serve --allow-unauthenticated --include-closed-trials` on 127.0.0.1 (a free port) as a
subprocess (`--workers N` is passed through, with `--state-dir` a temporary folder when N > 1), then runs phases
of N concurrent clients (threads, one httpx.Client each) for a bounded time: `patient-view` with the full prefetch
of fixtures/patients/p-eligible-us-units.json (built locally), then `GET /healthz`; then the same two again while 8
hook requests are stuck on a FHIR server (127.0.0.1, a thread) that trickles its answer one byte every 0.2 s — they
end with 412 at the service's hook deadline and are sent again at once. Prints requests/s, p50 and p99 latency
for each, and the server's RSS (VmRSS / VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.local_http import TrickleHandler, serve  # noqa: E402
from tests.support.prefetch import prefetch_from_resources  # noqa: E402

FIXTURE = ROOT / "fixtures" / "patients" / "p-eligible-us-units.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            fields[key] = value.strip()
    return fields


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


@contextmanager
def _stuck_hooks(base: str, fhir: str, pid: str, count: int) -> Iterator[dict[str, int]]:
    """`count` threads that keep one hook each stuck on the trickling server; the statuses they got back."""
    stop = threading.Event()
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    body = {"hook": "patient-view", "context": {"userId": "Practitioner/1", "patientId": pid}, "fhirServer": fhir}

    def hold() -> None:
        with httpx.Client(timeout=120) as http:
            while not stop.is_set():
                answer = http.post(base + "/cds-services/trial-eligibility",
                                   json={**body, "hookInstance": str(uuid.uuid4())})
                with lock:
                    statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let them reach the trickle
    try:
        yield statuses
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)  # each ends at the service's hook deadline (20 s by default)


def _phase(name: str, clients: int, seconds: float, send: Any) -> None:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                ok = send(http)
                mine.append(time.perf_counter() - started)
                failed += 0 if ok else 1
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    print(f"{name:<28} {len(latencies) / elapsed:8.1f} req/s   p50 {statistics.median(latencies) * 1000:7.1f} ms   "
          f"p99 {p99 * 1000:7.1f} ms   ({len(latencies)} requests, {errors} errors, {clients} clients, "
          f"{elapsed:.1f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1,
                        help="passed to `serve --workers` (> 1: --state-dir a temp dir)")
    parser.add_argument("--stuck", type=int, default=8, help="hook requests held on the trickling FHIR server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as state, serve(TrickleHandler, "/fhir") as fhir:
        return _run(args, state, fhir)


def _run(args: argparse.Namespace, state: str, fhir: str) -> int:

    bundle = json.loads(FIXTURE.read_text(encoding="utf-8"))
    pid = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    prefetch = prefetch_from_resources(e["resource"] for e in bundle["entry"])
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "adapter", "serve", "--allow-unauthenticated", "--include-closed-trials",
               "--host", "127.0.0.1", "--port", str(port), "--as-of", "2026-11-01", "--log-level", "warning",
               "--allow-fhir-server", fhir]
    if args.workers > 1:
        command += ["--workers", str(args.workers), "--state-dir", state]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_ready(base, proc)
        print(f"server pid {proc.pid} on {base}; after start-up: {_rss(proc.pid)}")
        body_base = {"hook": "patient-view", "context": {"userId": "Practitioner/1", "patientId": pid},
                     "prefetch": prefetch}
        payload_size = len(json.dumps(body_base))

        def patient_view(http: httpx.Client) -> bool:
            answer = http.post(base + "/cds-services/trial-eligibility",
                               json={**body_base, "hookInstance": str(uuid.uuid4())})
            return answer.status_code == 200 and len(answer.json()["cards"]) == 2

        def healthz(http: httpx.Client) -> bool:
            return http.get(base + "/healthz").status_code == 200

        print(f"patient-view body: {payload_size} bytes of prefetch JSON")
        _phase("patient-view", args.clients, args.seconds, patient_view)
        _phase("healthz", args.clients, args.seconds, healthz)
        with _stuck_hooks(base, fhir, pid, args.stuck) as statuses:
            _phase(f"patient-view ({args.stuck} stuck)", args.clients, args.seconds, patient_view)
            _phase(f"healthz ({args.stuck} stuck)", args.clients, args.seconds, healthz)
        print(f"stuck hooks answered: {statuses or 'none yet'} (412 at the hook deadline)")
        print(f"server memory: {_rss(proc.pid)}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
