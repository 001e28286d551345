"""A real headless Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright, offline.

    with chromium_context() as context:
        page = context.new_page()

Playwright's own browser download is never used (closed network): the Makefile installs the Debian package
(`tools/ensure-debian-packages.sh chromium:chromium`). A missing Playwright or Chromium is a
BrowserUnavailable, a test FAILURE with the fix in its message, never a skip. `CHROMIUM` names another binary.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM_DEFAULT = "/usr/bin/chromium"
# Root in a container, no network: no sandbox, no GPU, and none of Chromium's background connections
# (component updates, sync, QUIC probes), which are otherwise refused many at a time.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 90_000  # a loaded 2-core machine has needed ~30 s


class BrowserUnavailable(RuntimeError):
    """Playwright or Chromium is missing, or Chromium would not start."""


def chromium_binary() -> str:
    binary = os.environ.get("CHROMIUM", CHROMIUM_DEFAULT)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise BrowserUnavailable(
            f"Chromium not found at {binary}: run `bash tools/ensure-debian-packages.sh chromium:chromium` "
            "(or `make test-fast`, which does), or set CHROMIUM to a Chromium binary"
        )
    return binary


@contextmanager
def chromium_context(viewport: tuple[int, int] = (1280, 900)) -> Iterator[BrowserContext]:
    """One browser with a fresh, throw-away profile; closed and removed afterwards."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        raise BrowserUnavailable(
            f"the Python package playwright is missing ({exc}): `.venv/bin/pip install playwright`"
        ) from exc
    binary = chromium_binary()
    profile = tempfile.mkdtemp(prefix="trial-adapter-chromium-")
    try:
        with sync_playwright() as playwright:
            try:
                context = playwright.chromium.launch_persistent_context(
                    profile,
                    executable_path=binary,
                    headless=True,
                    args=ARGS,
                    viewport={"width": viewport[0], "height": viewport[1]},
                    timeout=LAUNCH_TIMEOUT_MS,
                )
            except Error as exc:
                raise BrowserUnavailable(f"Chromium ({binary}) would not start: {exc}") from exc
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
