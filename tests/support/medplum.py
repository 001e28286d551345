"""Medplum's FHIR engine (R4) for tests: `@medplum/fhir-router` with an in-memory repository, on 127.0.0.1.

The launcher is ours, ``tools/medplum-server/server.mjs`` (exact package versions in its package-lock.json).
``ensure_built()`` runs ``npm ci`` when node_modules is missing or older than the lock file; ``MedplumServer``
starts ``node server.mjs --port N``, waits for ``GET /fhir/R4/metadata`` and stops the process again::

    with MedplumServer() as medplum:
        medplum.base_url  # http://127.0.0.1:<port>/fhir/R4

Like the HAPI harness, nothing skips: a failed build or start raises MedplumUnavailable, so the tests fail
(in CI and locally alike). ``NODE`` / ``NPM`` choose the executables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.hapi import FHIR_JSON, HOST, free_port
from tests.support.process import fhir_client, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_DIR = REPO_ROOT / "tools" / "medplum-server"
LOCK = TOOL_DIR / "package-lock.json"
MODULES = TOOL_DIR / "node_modules"
STAMP = MODULES / ".npm-ci-done"
LOG_DIR = TOOL_DIR / "logs"
BUILD_TIMEOUT_S = 600
STARTUP_TIMEOUT_S = 120.0


class MedplumUnavailable(RuntimeError):
    """The Medplum server could not be built or started (the message carries npm's or the server's output)."""


def _executable(name: str, env_var: str) -> str:
    found = os.environ.get(env_var) or shutil.which(name)
    if not found:
        raise MedplumUnavailable(f"`{name}` is not on PATH: the Medplum test server needs Node 20+ and npm")
    return found


def _fresh() -> bool:
    return STAMP.is_file() and STAMP.stat().st_mtime >= LOCK.stat().st_mtime


def ensure_built() -> Path:
    """`npm ci` in tools/medplum-server unless node_modules is newer than package-lock.json."""
    if _fresh():
        return MODULES
    try:
        proc = subprocess.run(
            [_executable("npm", "NPM"), "ci", "--no-audit", "--no-fund"],
            cwd=TOOL_DIR, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise MedplumUnavailable(f"npm ci timed out after {BUILD_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise MedplumUnavailable(f"npm ci in {TOOL_DIR} failed (exit {proc.returncode}):\n{tail}")
    STAMP.touch()
    return MODULES


class MedplumServer:
    """One Medplum FHIR router process (empty in-memory store) on 127.0.0.1; R4 only."""

    fhir_version = "R4"
    fhir_release = "4.0.1"

    def __init__(self, *, port: int | None = None, startup_timeout: float = STARTUP_TIMEOUT_S) -> None:
        self._requested_port = port
        self.port: int | None = None
        self.startup_timeout = startup_timeout
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("MedplumServer is not started")
        return f"http://{HOST}:{self.port}/fhir/R4"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client on ``base_url`` that speaks FHIR JSON (caller closes it)."""
        return fhir_client(self.base_url, **kwargs)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> MedplumServer:
        if self.running:
            return self
        ensure_built()
        node = _executable("node", "NODE")
        self.port = self._requested_port or free_port()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"medplum-{self.port}.log"
        self._log_handle = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [node, "server.mjs", "--host", HOST, "--port", str(self.port), "--exit-on-stdin-eof"]
        # We hold stdin open; if this Python process dies the server sees EOF and exits.
        self._proc = subprocess.Popen(
            cmd, cwd=TOOL_DIR, stdin=subprocess.PIPE, stdout=self._log_handle, stderr=subprocess.STDOUT
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/metadata"
        with httpx.Client(timeout=5.0, headers={"Accept": FHIR_JSON}) as probe:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise MedplumUnavailable(f"Medplum server exited with code {code}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    answer = probe.get(url)
                    if answer.status_code == 200 and answer.json().get("fhirVersion") == self.fhir_release:
                        return
                if time.monotonic() > deadline:
                    raise MedplumUnavailable(f"Medplum server did not answer {url} in time:\n{self.log_tail()}")
                time.sleep(0.2)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, grace=10)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> MedplumServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MedplumServer({self.base_url if self.running else 'stopped'})"
