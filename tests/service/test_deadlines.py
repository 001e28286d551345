"""Issue 10 (4): one wall-clock deadline per hook's fhirServer pull, and hook work in its own bounded pool.

A real uvicorn server (in a thread) and a real FHIR server on 127.0.0.1 that trickles its answer (one byte every
0.2 s — each read is quick, the whole answer would take minutes): eight hooks stuck on it fill the pool; a ninth is
turned away at once with 503 + Retry-After; /healthz, discovery and the REST API keep answering fast; the stuck
ones end with 412 when the deadline runs out.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import httpx
import pytest
import uvicorn

from adapter.service import ServiceSettings, create_app
from tests.service import SERVICE_PATH, hook_body
from tests.support.local_http import TrickleHandler, serve
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

DEADLINE = 2.0
POOL = 8


@pytest.fixture(scope="module")
def trickling_fhir() -> Iterator[str]:
    with serve(TrickleHandler, "/fhir") as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def service(trickling_fhir: str) -> Iterator[str]:
    settings = ServiceSettings(allow_unauthenticated=True, include_closed_trials=True, as_of=date(2026, 11, 1),
                               allowed_fhir_servers=(trickling_fhir,), hook_deadline=DEADLINE, hook_concurrency=POOL,
                               hook_retry_after=3)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, CATALOG, warm=False), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_stuck_hooks_end_at_the_deadline_and_starve_nothing(service: str, trickling_fhir: str) -> None:
    body = json.dumps(hook_body("p1", fhirServer=trickling_fhir)).encode()
    headers = {"Content-Type": "application/json"}

    def stuck_hook() -> tuple[httpx.Response, float]:
        return _timed(lambda: httpx.post(service + SERVICE_PATH, content=body, headers=headers, timeout=30))

    with ThreadPoolExecutor(POOL) as executor:
        stuck = [executor.submit(stuck_hook) for _ in range(POOL)]
        time.sleep(0.7)  # all eight are now in the pool, reading the trickle
        assert not any(f.done() for f in stuck), "a hook ended before its deadline"
        with httpx.Client(base_url=service, timeout=10) as http:
            for path in ("/healthz", "/cds-services", "/trials"):
                answer, took = _timed(lambda path=path: http.get(path))
                assert answer.status_code == 200, (path, answer.text[:200])
                assert took < 1.0, f"{path} took {took:.2f}s while hooks were stuck"
            extra, took = _timed(lambda: http.post(SERVICE_PATH, content=body, headers=headers))
            assert extra.status_code == 503 and extra.headers["retry-after"] == "3", extra.text
            assert took < 1.0, f"the refused hook waited {took:.2f}s"
        results = [f.result(timeout=DEADLINE + 10) for f in stuck]
    for answer, took in results:
        assert answer.status_code == 412, answer.text[:300]
        assert "fhirServer" in answer.json()["error"]
        assert took < DEADLINE + 2.5, f"a stuck hook took {took:.2f}s for a {DEADLINE}s deadline"
    # and the pool is free again: the next hook is worked on (412 again: the server still trickles)
    answer, _ = _timed(lambda: httpx.post(service + SERVICE_PATH, content=body, headers=headers, timeout=30))
    assert answer.status_code == 412
