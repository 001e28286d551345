"""`trial-adapter serve` as real processes: replay memory shared through --state-dir and --redis, --workers 2,
feedback that survives a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service import ISS, SERVICE_PATH, Signer, fixture_prefetch, hook_body, write_jwks
from tests.support.hapi import free_port
from tests.support.redis import RedisServer

pytestmark: list[pytest.MarkDecorator] = []

PUBLIC = "http://cds.test"  # one audience for every process, whatever its port
AUD = PUBLIC + SERVICE_PATH
ES = Signer("ES384", "es-workers")
STARTUP_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def jwks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jwks(tmp_path_factory.mktemp("jwks") / "ehr.jwks.json", ES)


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    return hook_body(pid, prefetch)


class Serve:
    """One `trial-adapter serve` process on a free port; stopped with SIGTERM."""

    def __init__(self, jwks: Path, *options: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "adapter", "serve", "--port", str(self.port), "--trusted-client",
               f"{ISS}={jwks}", "--public-base-url", PUBLIC, "--include-closed-trials", "--as-of", "2026-11-01",
               "--log-level", "warning", *options]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop(); a pipe could fill up and block
        self.proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"serve did not answer /healthz within {STARTUP_TIMEOUT_S} s: {self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        self.log.seek(0)
        return str(self.log.read().decode(errors="replace")[-3000:])

    def post(self, path: str, token: str, payload: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def serve(jwks: Path) -> Iterator[Any]:
    started: list[Serve] = []

    def start(*options: str, env: dict[str, str] | None = None) -> Serve:
        started.append(Serve(jwks, *options, env=env))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def _replayed_on_the_other(first: Serve, second: Serve, body: dict[str, Any]) -> None:
    token = ES.token(AUD)
    answer = first.post(SERVICE_PATH, token, body)
    assert answer.status_code == 200, answer.text[:300]
    again = second.post(SERVICE_PATH, token, body)
    assert again.status_code == 401 and "replayed" in again.json()["error"], again.text[:300]
    fresh = second.post(SERVICE_PATH, ES.token(AUD), body)  # the other process works, it only refuses the replay
    assert fresh.status_code == 200, fresh.text[:300]


def test_two_processes_with_one_state_dir_share_the_replay_store(serve: Any, tmp_path: Path,
                                                                 body: dict[str, Any]) -> None:
    a = serve("--state-dir", str(tmp_path))
    b = serve("--state-dir", str(tmp_path))
    _replayed_on_the_other(a, b, body)


def test_two_processes_with_one_redis_share_the_replay_store(serve: Any, body: dict[str, Any]) -> None:
    with RedisServer() as redis_server:
        a = serve("--redis", redis_server.url)
        b = serve("--redis", redis_server.url)
        _replayed_on_the_other(a, b, body)


def test_two_workers_serve_and_share_the_replay_store(serve: Any, tmp_path: Path, body: dict[str, Any]) -> None:
    server = serve("--workers", "2", "--state-dir", str(tmp_path), env={"TRIAL_ADAPTER_DEBUG_WORKER_HEADER": "1"})
    for _ in range(2):
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    token = ES.token(AUD)
    answers: list[httpx.Response] = []
    with ThreadPoolExecutor(4) as pool:  # concurrent connections, so that both workers get some
        for _ in range(25):
            answers += pool.map(lambda _: server.post(SERVICE_PATH + "/feedback", token, _FEEDBACK), range(8))
            if len({a.headers["x-worker"] for a in answers}) == 2:
                break
    workers = {a.headers["x-worker"] for a in answers}
    assert len(workers) == 2, f"only worker {workers} answered {len(answers)} requests"
    assert str(server.proc.pid) not in workers  # the parent supervises, the workers answer
    assert sorted(a.status_code for a in answers) == [200] + [401] * (len(answers) - 1)
    assert all("replayed" in a.json()["error"] for a in answers if a.status_code == 401)
    settings_files = list(tmp_path.glob("serve-settings-*.json"))  # JWKS handed over in a file, not argv
    assert len(settings_files) == 1 and settings_files[0].stat().st_mode & 0o777 == 0o600
    server.stop()
    assert not list(tmp_path.glob("serve-settings-*.json"))


def test_more_workers_need_a_shared_store(capsys: pytest.CaptureFixture[str]) -> None:
    from adapter.cli import main

    assert main(["serve", "--workers", "2", "--allow-unauthenticated"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--state-dir" in err and "--redis" in err


_FEEDBACK = {"feedback": [{"card": "c0ffee", "outcome": "accepted", "outcomeTimestamp": "2026-11-01T10:00:00Z"}]}


def test_feedback_and_replay_memory_survive_a_restart(serve: Any, tmp_path: Path) -> None:
    url = SERVICE_PATH + "/feedback"
    token = ES.token(AUD)
    first = serve("--state-dir", str(tmp_path))
    assert first.post(url, token, _FEEDBACK).status_code == 200
    first.stop()
    second = serve("--state-dir", str(tmp_path))
    replay = second.post(url, token, _FEEDBACK)
    assert replay.status_code == 401 and "replayed" in replay.json()["error"]
    other = {"feedback": [{**_FEEDBACK["feedback"][0], "card": "beef", "outcome": "overridden"}]}
    assert second.post(url, ES.token(AUD), other).status_code == 200
    printed = subprocess.run([sys.executable, "-m", "adapter", "feedback", "--state-dir", str(tmp_path)],
                             capture_output=True, text=True, check=True).stdout
    items = [json.loads(line) for line in printed.splitlines()]
    assert [(i["card"], i["outcome"]) for i in items] == [("c0ffee", "accepted"), ("beef", "overridden")]
    assert all(isinstance(i["received"], float) for i in items)


def test_feedback_command_refuses_a_folder_without_state(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "adapter", "feedback", "--state-dir", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "state.sqlite3" in done.stderr and done.stderr.count("\n") == 1
