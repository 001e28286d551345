"""What the test harnesses share for the servers they start: a FHIR JSON client, and stopping the process."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"


def fhir_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client on a test server's FHIR base that speaks FHIR JSON (the caller closes it)."""
    headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON, **kwargs.pop("headers", {})}
    kwargs.setdefault("timeout", 60.0)
    return httpx.Client(base_url=base_url + "/", headers=headers, **kwargs)


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float) -> None:
    """Ask `proc` to stop (its shutdown hooks run), kill it after `grace` seconds, and close its stdin."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
