"""Python side of the offline HL7 FHIR validator harness (``tools/fhir-validator``).

The Java tool runs the official validation engine (``org.hl7.fhir.validation``, through HAPI FHIR's
``FhirInstanceValidator``) on JSON files, for FHIR R4 or R5, with no network: no terminology server, no package
server. This module builds it when needed, runs it and parses its JSON answer.

    from tests.support.fhir_validator import validate
    results = validate([bundle], "R4")
    assert not results[0].errors, format_issues(results)

Nothing here skips: when Java, Maven or the build is missing, :class:`ValidatorUnavailable` is raised, so a test
that needs the validator fails instead of passing unchecked.

One JVM start costs ~2 s (R4) / ~15 s (R5, it parses the R5 core, extensions and terminology packages) on this
machine, so :func:`validate` keeps one warm ``--serve`` process per FHIR version (and set of definitions) for the
life of the Python process (closed at exit). Pass ``persistent=False`` for a one-shot run of the plain command line.

The engine never takes conformance resources from the instance it validates: an extension, profile or code system
the project defines itself must be handed over with ``definitions=[FILE_OR_DIR, ...]`` (``--definitions``): JSON
files holding StructureDefinition / CodeSystem / ValueSet resources, alone or as Bundle entries (a trial Bundle
carries the project's own definitions, so it can be given as its own definitions)::

    results = validate_files(bundle_paths, "R4", definitions=bundle_paths)
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_DIR = REPO_ROOT / "tools" / "fhir-validator"
POM = TOOL_DIR / "pom.xml"
JAR = TOOL_DIR / "target" / "fhir-validator.jar"

#: JVM options used by this module (override with TRIAL_FHIR_VALIDATOR_JAVA_OPTS). The serial collector and a
#: bounded heap keep the R5 run at ~1.2 GB resident instead of ~4 GB with the default G1 sizing; R5 needs ~1 GB.
DEFAULT_JAVA_OPTS = ("-Xmx1536m", "-XX:+UseSerialGC")

BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 900

ERROR_SEVERITIES = frozenset({"error", "fatal"})


class ValidatorUnavailable(RuntimeError):
    """The validator could not be built or run (this is a failure, never a reason to skip)."""


@dataclass(frozen=True)
class Issue:
    severity: str  # "fatal" | "error" | "warning" | "information"
    location: str
    message: str
    message_id: str | None = None
    line: int | None = None
    col: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity in ERROR_SEVERITIES

    def __str__(self) -> str:
        where = f"{self.location}" + (f" (line {self.line}, col {self.col})" if self.line else "")
        return f"{self.severity.upper()} {where}: {self.message} [{self.message_id}]"


@dataclass
class ValidationResult:
    file: str
    resource_type: str | None
    resource_id: str | None
    issues: list[Issue] = field(default_factory=list)
    #: Where the engine validated a resource in this file, in its order: "Bundle", "Bundle.entry[3].resource",
    #: contained resources... (recorded by the tool's policy advisor; proof that nothing was skipped).
    validated: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity in ERROR_SEVERITIES]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def label(self) -> str:
        return f"{self.resource_type}/{self.resource_id} ({self.file})"


def format_issues(results: Iterable[ValidationResult], severities: Iterable[str] = ERROR_SEVERITIES) -> str:
    """Readable list of the issues of the given severities, for assertion messages."""
    wanted = set(severities)
    lines = []
    for r in results:
        for i in r.issues:
            if i.severity in wanted:
                lines.append(f"{r.label()}: {i}")
    return "\n".join(lines) if lines else "(no issues)"


# --------------------------------------------------------------------------------------------------- build


def _sources() -> list[Path]:
    return [POM, *(p for p in (TOOL_DIR / "src").rglob("*") if p.is_file())]


def _jar_is_fresh() -> bool:
    if not JAR.is_file() or not (JAR.parent / "lib").is_dir():
        return False
    built = JAR.stat().st_mtime
    return all(p.stat().st_mtime <= built for p in _sources())


_build_lock = threading.Lock()


def ensure_built() -> Path:
    """Return the path of ``fhir-validator.jar``, building it with Maven first if it is missing or stale."""
    with _build_lock:
        if _jar_is_fresh():
            return JAR
        if shutil.which("java") is None:
            raise ValidatorUnavailable("`java` is not on PATH: the FHIR validator needs Java 17+")
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ValidatorUnavailable("`mvn` is not on PATH: cannot build tools/fhir-validator")
        cmd = [mvn, "-q", "-B", "-f", str(POM), "package", "-DskipTests"]
        try:
            proc = subprocess.run(
                cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise ValidatorUnavailable(f"{shlex.join(cmd)} timed out after {BUILD_TIMEOUT_S} s") from e
        if proc.returncode != 0 or not JAR.is_file():
            tail = _tail((proc.stdout or "") + (proc.stderr or ""))
            raise ValidatorUnavailable(f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
        # Maven keeps the jar's old mtime when nothing needed repackaging; mark it as checked.
        os.utime(JAR)
        return JAR


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------------------------- running


def normalize_version(fhir_version: str) -> str:
    v = fhir_version.strip().upper()
    if v in {"R4", "4.0", "4.0.1"}:
        return "R4"
    if v in {"R5", "5.0", "5.0.0"}:
        return "R5"
    raise ValueError(f"unsupported FHIR version {fhir_version!r} (R4 or R5)")


Definitions = tuple[str, ...]


def _definitions(definitions: Iterable[str | os.PathLike[str]] | None) -> Definitions:
    """Absolute paths, checked to exist, order kept, duplicates dropped."""
    if definitions is None:
        return ()
    if isinstance(definitions, str | os.PathLike):
        raise TypeError("definitions must be a list of paths, not one path")
    out: list[str] = []
    for d in definitions:
        p = str(Path(d).resolve())
        if not Path(p).exists():
            raise FileNotFoundError(p)
        if p not in out:
            out.append(p)
    return tuple(out)


def _definition_args(definitions: Definitions) -> list[str]:
    return [arg for d in definitions for arg in ("--definitions", d)]


def _fingerprint(definitions: Definitions) -> tuple[tuple[str, int, int], ...]:
    """What the files behind ``definitions`` look like now (a warm server loaded them once, at its start)."""
    files: list[Path] = []
    for d in definitions:
        p = Path(d)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() == ".json"))
        else:
            files.append(p)
    return tuple((str(f), (st := f.stat()).st_mtime_ns, st.st_size) for f in files)


def _java_cmd(jar: Path, version: str, extra: Sequence[str]) -> list[str]:
    opts_env = os.environ.get("TRIAL_FHIR_VALIDATOR_JAVA_OPTS")
    opts = shlex.split(opts_env) if opts_env is not None else list(DEFAULT_JAVA_OPTS)
    return ["java", *opts, "-jar", str(jar), "--fhir-version", version, *extra]


def _parse_document(doc: dict[str, Any]) -> list[ValidationResult]:
    if "error" in doc:
        raise ValidatorUnavailable(f"validator refused the request: {doc['error']}")
    try:
        return [
            ValidationResult(
                file=r["file"],
                resource_type=r.get("resourceType"),
                resource_id=r.get("id"),
                issues=[
                    Issue(
                        severity=i["severity"],
                        location=i.get("location") or "",
                        message=i.get("message") or "",
                        message_id=i.get("messageId"),
                        line=i.get("line"),
                        col=i.get("col"),
                    )
                    for i in r["issues"]
                ],
                validated=[v["path"] for v in r.get("validated") or []],
            )
            for r in doc["results"]
        ]
    except (KeyError, TypeError) as e:
        raise ValidatorUnavailable(f"unexpected validator output: {e!r}: {json.dumps(doc)[:2000]}") from e


def run_once(
    paths: Sequence[str | os.PathLike[str]],
    fhir_version: str,
    *,
    definitions: Iterable[str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """Run the plain command line once on ``paths``; return its JSON document."""
    version = normalize_version(fhir_version)
    defs = _definitions(definitions)
    jar = ensure_built()
    cmd = _java_cmd(jar, version, [*_definition_args(defs), *(str(p) for p in paths)])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise ValidatorUnavailable(f"validator timed out after {RUN_TIMEOUT_S} s") from e
    if proc.returncode != 0:
        raise ValidatorUnavailable(
            f"{shlex.join(cmd)} exited {proc.returncode}:\n{_tail(proc.stderr or proc.stdout or '')}"
        )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise ValidatorUnavailable(
            f"validator printed no JSON ({e}); stdout: {proc.stdout[:2000]!r}; stderr: {_tail(proc.stderr)}"
        ) from e


class _Server:
    """One warm ``--serve`` process: a request is a JSON line of paths, the answer one JSON line."""

    def __init__(self, version: str, definitions: Definitions = ()) -> None:
        self.version = version
        self.definitions = definitions
        self.fingerprint = _fingerprint(definitions)
        self.lock = threading.Lock()
        # Lives as long as the process; closed in close().
        self.stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.jar_mtime = ensure_built().stat().st_mtime
        self.proc = subprocess.Popen(
            _java_cmd(JAR, version, [*_definition_args(definitions), "--serve"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return _tail(self.stderr.read())

    def request(self, paths: Sequence[str]) -> dict[str, Any]:
        with self.lock:
            if not self.alive():
                raise ValidatorUnavailable(
                    f"validator process ({self.version}) exited {self.proc.returncode}:\n{self.stderr_tail()}"
                )
            assert self.proc.stdin is not None and self.proc.stdout is not None
            result: list[str] = []

            def read() -> None:
                result.append(self.proc.stdout.readline())  # type: ignore[union-attr]

            try:
                self.proc.stdin.write(json.dumps(list(paths)) + "\n")
                self.proc.stdin.flush()
            except OSError as e:
                raise ValidatorUnavailable(f"validator process died: {e}\n{self.stderr_tail()}") from e
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            reader.join(RUN_TIMEOUT_S)
            if reader.is_alive():
                self.close()
                raise ValidatorUnavailable(f"validator timed out after {RUN_TIMEOUT_S} s")
            line = result[0] if result else ""
            if not line:
                self.proc.wait(timeout=30)
                raise ValidatorUnavailable(
                    f"validator process ({self.version}) exited {self.proc.returncode}:\n{self.stderr_tail()}"
                )
            try:
                return json.loads(line)
            except json.JSONDecodeError as e:
                raise ValidatorUnavailable(f"validator printed no JSON ({e}): {line[:2000]!r}") from e

    def close(self) -> None:
        if self.alive():
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


_servers: dict[tuple[str, Definitions], _Server] = {}
_servers_lock = threading.Lock()


def _server(version: str, definitions: Definitions = ()) -> _Server:
    """The warm process for (version, definitions); restarted when the jar or a definition file changed."""
    key = (version, definitions)
    with _servers_lock:
        jar = ensure_built()
        s = _servers.get(key)
        if s is not None and (
            not s.alive() or s.jar_mtime != jar.stat().st_mtime or s.fingerprint != _fingerprint(definitions)
        ):
            s.close()
            s = None
        if s is None:
            s = _servers[key] = _Server(version, definitions)
        return s


@atexit.register
def shutdown() -> None:
    """Stop the warm validator processes (also done automatically at interpreter exit)."""
    with _servers_lock:
        for s in _servers.values():
            s.close()
        _servers.clear()


def validate_files(
    paths: Sequence[str | os.PathLike[str]],
    fhir_version: str,
    *,
    persistent: bool = True,
    definitions: Iterable[str | os.PathLike[str]] | None = None,
) -> list[ValidationResult]:
    """Validate JSON files (a directory means every ``*.json`` below it), in one validator run.

    ``definitions``: files or directories whose StructureDefinition / CodeSystem / ValueSet resources (alone or in
    a Bundle) the validator loads before validating (see the module documentation).
    """
    version = normalize_version(fhir_version)
    defs = _definitions(definitions)
    if not paths:
        return []
    str_paths = [str(Path(p).resolve()) for p in paths]
    for p in str_paths:
        if not Path(p).exists():
            raise FileNotFoundError(p)
    doc = _server(version, defs).request(str_paths) if persistent else run_once(str_paths, version, definitions=defs)
    return _parse_document(doc)


def validate(
    resources: Sequence[dict[str, Any]],
    fhir_version: str,
    *,
    persistent: bool = True,
    definitions: Iterable[str | os.PathLike[str]] | None = None,
) -> list[ValidationResult]:
    """Validate resources (dicts as emitted, e.g. a Bundle) in one validator run; results in input order.

    ``definitions``: paths of files or directories with conformance resources to load first (see
    :func:`validate_files`).
    """
    if not resources:
        return []
    with tempfile.TemporaryDirectory(prefix="fhir-validate-") as tmp:
        paths = []
        for n, res in enumerate(resources):
            if not isinstance(res, dict):
                raise TypeError(f"resource #{n} is {type(res).__name__}, not a dict")
            name = f"{n:04d}-{_safe(res.get('resourceType'))}-{_safe(res.get('id'))}.json"
            path = Path(tmp) / name
            path.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
            paths.append(path)
        results = validate_files(paths, fhir_version, persistent=persistent, definitions=definitions)
    if len(results) != len(resources):
        raise ValidatorUnavailable(f"asked for {len(resources)} results, got {len(results)}")
    return results


def _safe(value: Any) -> str:
    s = str(value) if value is not None else "none"
    return "".join(c if c.isalnum() or c in "-." else "_" for c in s)[:64]
