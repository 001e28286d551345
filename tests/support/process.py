"""Stopping a server process the test harness started: SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import contextlib
import signal
import subprocess


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
