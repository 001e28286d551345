"""The package as a user installs it: a wheel built with `python -m build`, installed into a fresh virtual
environment, and `trial-adapter map`, `evaluate` and `serve` run from a directory outside the checkout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.trials import PATIENTS, ROOT

pytestmark = pytest.mark.packaging


def _run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                               check=False, env={k: v for k, v in os.environ.items() if not k.startswith("TRIAL_")})
    assert completed.returncode == 0, f"{command}: {completed.stderr[-3000:]}"
    return completed


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the fresh environment's bin directory, a working directory that is not the checkout)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT, cwd=base)
    (wheel,) = dist.glob("trial_fhir_adapter-*.whl")
    env_dir = base / "env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, cwd=base)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    yield bin_dir, elsewhere


def test_the_wheel_carries_the_reviewed_data(installed: tuple[Path, Path]) -> None:
    bin_dir, cwd = installed
    code = ("import importlib.resources as r, adapter; d = r.files('adapter') / 'mappings'; "
            "print(sorted(p.name for p in d.iterdir())); print(adapter.__file__)")
    out = _run(bin_dir / "python", "-c", code, cwd=cwd).stdout.splitlines()
    names = json.loads(out[0].replace("'", '"'))
    assert {"concepts.yaml", "concepts-conditions.yaml", "units.yaml", "NCT03787251.yaml", "NCT03787251.json",
            "NCT03320629.yaml",
            "NCT03320629.json"} <= set(names)
    assert str(ROOT) not in out[1], "the installed package, not the checkout, must be imported"


def test_map_and_evaluate_from_any_directory(installed: tuple[Path, Path]) -> None:
    bin_dir, cwd = installed
    _run(bin_dir / "trial-adapter", "map", "--fhir-version", "R4", "--out", "bundles", cwd=cwd)
    assert sorted(p.name for p in (cwd / "bundles").iterdir()) == ["NCT03320629-r4.json", "NCT03787251-r4.json"]
    out = _run(bin_dir / "trial-adapter", "evaluate", "--trial", "NCT03320629", "--bundle",
               PATIENTS / "p-eligible-us-units.json", "--as-of", "2026-11-01", cwd=cwd).stdout
    (report,) = json.loads(out)  # a list, one report per trial
    assert report["trial"] == "NCT03320629" and report["verdict"] == "potentially-eligible"


def test_serve_from_any_directory(installed: tuple[Path, Path]) -> None:
    bin_dir, cwd = installed
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([str(bin_dir / "trial-adapter"), "serve", "--allow-unauthenticated", "--port",
                               str(port), "--log-level", "warning"], cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/trials", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else "server exited"
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.3)
        assert [t["id"] for t in answer.json()] == ["NCT03320629", "NCT03787251"]
        discovery = httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=5).json()
        assert discovery["services"][0]["id"] == "trial-eligibility"
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_demo_and_trials_from_any_directory(installed: tuple[Path, Path]) -> None:
    """The sample patients ship inside the package: `demo` needs no checkout and no --patients."""
    bin_dir, cwd = installed
    table = _run(bin_dir / "trial-adapter", "demo", "--out", "demo-out", cwd=cwd).stdout
    assert "p-eligible-us-units" in table and "potentially-eligible" in table
    assert (cwd / "demo-out" / "evaluations" / "p-hiv.NCT03787251.fhir.json").is_file()
    rows = json.loads(_run(bin_dir / "trial-adapter", "trials", "--format", "json", cwd=cwd).stdout)
    assert [r["id"] for r in rows] == ["NCT03320629", "NCT03787251"]
