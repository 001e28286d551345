"""A real `redis-server` for tests: on a free 127.0.0.1 port, no persistence, stopped again afterwards.

    with RedisServer() as server:
        redis.Redis.from_url(server.url).ping()

When the binary is missing it runs `tools/ensure-debian-packages.sh redis-server` (apt-get, no TTY), as the
HAPI harness builds its server. Anything that prevents a start is a RedisUnavailable: a test FAILURE, never a
skip (in CI, with CI=true, and everywhere else). `REDIS_SERVER` names another binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from tests.support.hapi import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE = REPO_ROOT / "tools" / "ensure-debian-packages.sh"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 20.0
INSTALL_TIMEOUT_S = 600


class RedisUnavailable(RuntimeError):
    """redis-server could not be installed or started (the message carries its output)."""


def redis_binary() -> str:
    configured = os.environ.get("REDIS_SERVER")
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        proc = subprocess.run(["bash", str(ENSURE), "redis-server"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RedisUnavailable(f"installing redis-server took over {INSTALL_TIMEOUT_S} s") from exc
    found = shutil.which("redis-server")
    if proc.returncode != 0 or not found:
        raise RedisUnavailable(f"redis-server is not installed and {ENSURE.name} failed (exit {proc.returncode}):\n"
                               f"{(proc.stdout + proc.stderr)[-3000:]}")
    return found


class RedisServer:
    def __init__(self, port: int | None = None) -> None:
        self._requested_port = port
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("RedisServer is not started")
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> RedisServer:
        binary = redis_binary()
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):  # a free port can be taken between finding and binding it
            self.port = self._requested_port or free_port()
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop(); a pipe could fill and block
            self._proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--maxmemory-policy", "noeviction"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            )
            try:
                self._wait_ready()
                return self
            except RedisUnavailable:
                self.stop()
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                if self._proc.poll() is not None:
                    raise RedisUnavailable(f"redis-server exited with {self._proc.returncode}:\n{self.log_tail()}")
                try:
                    if client.ping():
                        return
                except redis.exceptions.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise RedisUnavailable(f"redis-server did not answer PING on port {self.port} within "
                                           f"{STARTUP_TIMEOUT_S:.0f} s")
                time.sleep(0.05)
        finally:
            client.close()

    def log_tail(self, chars: int = 3000) -> str:
        if self._log is None:
            return "(no log)"
        self._log.seek(0)
        return str(self._log.read().decode(errors="replace")[-chars:])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
