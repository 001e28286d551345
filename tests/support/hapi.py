"""A real HAPI FHIR JPA server (R4 or R5, H2 in memory) for tests: build it, start it, stop it.

The server is our small Maven module ``tools/hapi-server`` (HAPI FHIR 8.8.0 on Jetty 12). ``ensure_built()``
runs Maven when the jar is missing or older than the module's sources; ``HapiServer`` launches
``java -jar tools/hapi-server/target/hapi-server.jar --fhir-version R4|R5 --port N`` bound to 127.0.0.1,
waits for ``GET /fhir/metadata`` and stops the process again::

    with HapiServer("R5") as hapi:
        client = hapi.client()  # httpx.Client on hapi.base_url, FHIR JSON headers
        client.get("metadata")

Environment knobs: ``HAPI_JAVA_OPTS`` (JVM options, replaces the defaults), ``HAPI_STARTUP_TIMEOUT`` (seconds),
``JAVA_HOME`` / ``MVN`` (which java / mvn to use).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.process import fhir_client, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_DIR = REPO_ROOT / "tools" / "hapi-server"
POM = TOOL_DIR / "pom.xml"
BUILD_DIR = TOOL_DIR / "target"
JAR = BUILD_DIR / "hapi-server.jar"
LIB_DIR = BUILD_DIR / "lib"
LOG_DIR = BUILD_DIR / "logs"

HOST = "127.0.0.1"
FHIR_RELEASES = {"R4": "4.0.1", "R5": "5.0.0"}
# C1 only + serial GC: about a third faster to start and ~250 MB less RSS than the JVM defaults (measured);
# throughput is irrelevant for test-sized traffic.
DEFAULT_JAVA_OPTS = ("-Xmx1g", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
DEFAULT_STARTUP_TIMEOUT_S = 240.0
BUILD_TIMEOUT_S = 1800
STOP_GRACE_S = 20.0
FHIR_JSON = "application/fhir+json"
_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


class HapiUnavailable(RuntimeError):
    """The HAPI server could not be built or started (the message carries Maven's or the server's log tail)."""


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _sources() -> list[Path]:
    return [POM, *(p for p in (TOOL_DIR / "src").rglob("*") if p.is_file())]


def _jar_is_fresh() -> bool:
    if not JAR.is_file() or not LIB_DIR.is_dir():
        return False
    built = JAR.stat().st_mtime
    return all(p.stat().st_mtime <= built for p in _sources())


def _executable(name: str, env_var: str | None = None) -> str:
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    java_home = os.environ.get("JAVA_HOME")
    if name == "java" and java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which(name)
    if not found:
        raise HapiUnavailable(f"`{name}` is not on PATH: the HAPI FHIR test server needs Java 17+ and Maven")
    return found


def ensure_built() -> Path:
    """Build ``tools/hapi-server`` with Maven unless its jar is newer than the pom and every source file."""
    if _jar_is_fresh():
        return JAR
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    lock_path = BUILD_DIR / ".build.lock"
    with open(lock_path, "w") as lock:
        _lock(lock)  # two test processes must not run Maven on the same target/ at once
        if _jar_is_fresh():
            return JAR
        cmd = [_executable("mvn", "MVN"), "-q", "-B", "-f", str(POM), "package", "-DskipTests"]
        try:
            proc = subprocess.run(
                cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            out = _text(exc.stdout) + _text(exc.stderr)
            raise HapiUnavailable(f"Maven build timed out after {BUILD_TIMEOUT_S} s:\n{_tail(out)}") from exc
        if proc.returncode != 0 or not JAR.is_file():
            raise HapiUnavailable(
                f"Maven build of {POM} failed (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}"
            )
        # maven-jar-plugin leaves an up-to-date jar untouched; mark it as fresh so we don't rebuild every run.
        JAR.touch()
    return JAR


def _lock(handle: Any) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def normalize_version(fhir_version: str) -> str:
    key = fhir_version.strip().upper()
    aliases = {"4.0.1": "R4", "4.0": "R4", "5.0.0": "R5", "5.0": "R5"}
    key = aliases.get(key, key)
    if key not in FHIR_RELEASES:
        raise ValueError(f"unsupported FHIR version {fhir_version!r}: use R4 or R5")
    return key


class HapiServer:
    """One HAPI FHIR JPA server process (fresh, empty in-memory database) on 127.0.0.1.

    ``base_url`` is ``http://127.0.0.1:<port>/fhir`` (no trailing slash); ``fhir_version`` is "R4" or "R5";
    ``fhir_release`` is the matching ``CapabilityStatement.fhirVersion`` ("4.0.1" / "5.0.0").
    """

    def __init__(
        self,
        fhir_version: str = "R4",
        *,
        port: int | None = None,
        java_opts: tuple[str, ...] | list[str] | None = None,
        startup_timeout: float | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.fhir_version = normalize_version(fhir_version)
        self.fhir_release = FHIR_RELEASES[self.fhir_version]
        self._requested_port = port
        self.port: int | None = None
        if java_opts is None:
            env_opts = os.environ.get("HAPI_JAVA_OPTS")
            java_opts = shlex.split(env_opts) if env_opts else DEFAULT_JAVA_OPTS
        self.java_opts = tuple(java_opts)
        if startup_timeout is None:
            startup_timeout = float(os.environ.get("HAPI_STARTUP_TIMEOUT", DEFAULT_STARTUP_TIMEOUT_S))
        self.startup_timeout = startup_timeout
        self._log_path = log_path
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None

    # -- properties -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("HapiServer is not started")
        return f"http://{HOST}:{self.port}/fhir"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client on ``base_url`` that speaks FHIR JSON (caller closes it)."""
        return fhir_client(self.base_url, **kwargs)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server log without Java stack frames (so the ``Caused by:`` chain stays visible)."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        kept = [
            line[:500]
            for line in self.log_path.read_text(errors="replace").splitlines()
            if not _STACK_FRAME.match(line)
        ]
        return "\n".join(kept[-lines:])

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> HapiServer:
        if self.running:
            return self
        jar = ensure_built()
        java = _executable("java")
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            self._launch(java, jar, self._requested_port or free_port())
            try:
                self._wait_ready()
                return self
            except HapiUnavailable:
                port_taken = "Failed to bind" in self.log_tail(200)
                self.stop()
                if not port_taken or attempt == attempts - 1:
                    raise
            except BaseException:  # e.g. KeyboardInterrupt while waiting: don't leave the JVM behind
                self.stop(grace=5)
                raise
        raise AssertionError("unreachable")

    def _launch(self, java: str, jar: Path, port: int) -> None:
        self.port = port
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = self._log_path or LOG_DIR / f"hapi-{self.fhir_version.lower()}-{port}.log"
        self._log_handle = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [
            java,
            *self.java_opts,
            "-jar",
            str(jar),
            "--fhir-version",
            self.fhir_version,
            "--host",
            HOST,
            "--port",
            str(port),
            # We hold the pipe open; if this Python process dies the server sees EOF and exits.
            "--exit-on-stdin-eof",
        ]
        self._started_at = time.monotonic()
        self._proc = subprocess.Popen(
            cmd, cwd=TOOL_DIR, stdin=subprocess.PIPE, stdout=self._log_handle, stderr=subprocess.STDOUT
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = self._started_at + self.startup_timeout
        url = f"{self.base_url}/metadata"
        with httpx.Client(timeout=10.0, headers={"Accept": FHIR_JSON}) as probe:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise HapiUnavailable(
                        f"HAPI FHIR {self.fhir_version} server exited with code {code} during startup "
                        f"(log {self.log_path}):\n{self.log_tail()}"
                    )
                try:
                    resp = probe.get(url)
                except httpx.TransportError:
                    resp = None
                if resp is not None and resp.status_code == 200:
                    found = resp.json().get("fhirVersion")
                    if found != self.fhir_release:
                        raise HapiUnavailable(
                            f"server on port {self.port} reports fhirVersion {found!r}, expected {self.fhir_release!r}"
                        )
                    self.startup_seconds = time.monotonic() - self._started_at
                    return
                if time.monotonic() > deadline:
                    raise HapiUnavailable(
                        f"HAPI FHIR {self.fhir_version} server did not answer {url} within "
                        f"{self.startup_timeout:.0f} s (log {self.log_path}):\n{self.log_tail()}"
                    )
                time.sleep(0.5)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, grace)  # SIGTERM first: JVM shutdown hooks stop Jetty and close Spring
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> HapiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.base_url} pid={self.pid}" if self.running else "stopped"
        return f"HapiServer({self.fhir_version}, {state})"
