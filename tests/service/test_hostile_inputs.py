"""Hostile request bodies end in a 4xx with a clear message, never a 500: lone surrogates, too many resources,
and a full `$evaluate` pool (503 + Retry-After). Bodies are parsed off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter import limits
from adapter.service import ServiceSettings, create_app
from tests.service import SERVICE_PATH, fixture_bundle, fixture_prefetch, hook_body, patient_id
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
EVALUATE = "/trials/NCT03320629/$evaluate"
FHIR_JSON = "application/fhir+json"
SURROGATE = b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient", ' \
            b'"id": "p1", "name": [{"text": "\\ud800"}]}}]}'


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = ServiceSettings(allow_unauthenticated=True, include_closed_trials=True, as_of=AS_OF,
                               hook_concurrency=1, hook_retry_after=7)
    with TestClient(create_app(settings, CATALOG)) as test_client:
        yield test_client


def _outcome(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


def test_a_lone_surrogate_in_a_rest_body_is_400(client: TestClient) -> None:
    assert "lone surrogate" in _outcome(client.post(EVALUATE, content=SURROGATE), 400)


def test_a_lone_surrogate_in_a_hook_body_is_400(client: TestClient) -> None:
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    body = json.dumps(hook_body(pid, prefetch)).replace(f'"{pid}"', '"\\ud800"', 1).encode()
    answer = client.post(SERVICE_PATH, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "lone surrogate" in answer.json()["error"]


def test_too_many_resources_is_413_naming_the_count(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RESOURCES_PER_PATIENT", 5)
    bundle = fixture_bundle("p-eligible-us-units")
    count = limits.count_resources(bundle)
    assert count > 5
    message = _outcome(client.post(EVALUATE, json=bundle), 413)
    assert message == f"patient record has {count} resources, limit 5"
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    answer = client.post(SERVICE_PATH, json=hook_body(pid, prefetch))
    assert answer.status_code == 413 and "resources, limit 5" in answer.json()["error"]


def test_count_resources_walks_bundles_without_recursion() -> None:
    inner = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation"}}] * 3}
    assert limits.count_resources([inner, {"resourceType": "Patient"}, {"not": "a resource"}, None]) == 4
    nested: dict[str, Any] = {"resourceType": "Patient"}
    for _ in range(10_000):
        nested = {"resourceType": "Bundle", "entry": [{"resource": nested}]}
    assert limits.count_resources(nested) == 1


def test_a_full_evaluate_pool_is_503_with_retry_after(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapter.core import Eligibility

    entered, release = threading.Event(), threading.Event()
    real = Eligibility.evaluate

    def stuck(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(Eligibility, "evaluate", stuck)
    bundle = fixture_bundle("p-eligible-us-units")
    with ThreadPoolExecutor(1) as background:
        first = background.submit(client.post, EVALUATE, json=bundle)
        try:
            assert entered.wait(10)
            busy = client.post(EVALUATE, json=bundle)  # the one worker is taken: refused at once
            assert _outcome(busy, 503) == "service busy, retry later"
            assert busy.headers["retry-after"] == "7"
        finally:
            release.set()
        assert first.result(timeout=10).status_code == 200
    monkeypatch.setattr(Eligibility, "evaluate", real)
    assert client.post(EVALUATE, json=bundle).status_code == 200  # and the pool is free again


def test_bodies_are_parsed_off_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapter import jsonio
    from adapter.service import api

    on_loop: list[bool] = []
    real = jsonio.parse_json

    def recording(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "parse_json", recording)
    monkeypatch.setattr(jsonio, "parse_json", recording)  # the hook route imports it when called
    bundle = fixture_bundle("p-eligible-us-units")
    assert client.post(EVALUATE, json=bundle).status_code == 200
    pid = patient_id(bundle)
    _, prefetch = fixture_prefetch("p-eligible-us-units")
    assert client.post(SERVICE_PATH, json=hook_body(pid, prefetch)).status_code == 200
    assert on_loop == [False, False]


def test_serve_hands_uvicorn_its_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import uvicorn

    from adapter.cli import main
    from adapter.service.protocol import UVICORN_LIMITS

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    assert main(["serve", "--allow-unauthenticated", "--port", "8765"]) == 0
    assert {k: seen[k] for k in UVICORN_LIMITS} == UVICORN_LIMITS
    assert seen["timeout_keep_alive"] == 5 and seen["h11_max_incomplete_event_size"] == 16 * 1024


def test_a_connection_that_never_finishes_its_headers_is_closed() -> None:
    """Slowloris: a request head trickled byte by byte is cut at the deadline; a complete request on another
    connection is answered meanwhile, and a keep-alive connection must send its next head in time too."""
    import socket
    import threading
    import time

    import uvicorn

    from adapter.service.protocol import UVICORN_LIMITS, HeaderDeadlineProtocol

    class Quick(HeaderDeadlineProtocol):
        header_timeout_s = 0.5

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = create_app(ServiceSettings(allow_unauthenticated=True, as_of=date(2026, 11, 1)), CATALOG, warm=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                            **{**UVICORN_LIMITS, "http": Quick})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        slow = socket.create_connection(("127.0.0.1", port), timeout=5)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never ends
        started = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 3
        with socket.create_connection(("127.0.0.1", port), timeout=5) as fine:
            fine.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b'{"status":"ok"}' not in answer:  # the head and the body may come in separate reads
                chunk = fine.recv(4096)
                assert chunk, answer
                answer += chunk
            assert b"200 OK" in answer
            fine.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next head, trickled: cut as well
            fine.settimeout(5)
            assert fine.recv(1024) == b""
        slow.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
