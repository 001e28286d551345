"""`trial-adapter serve --workers N`: settings handed to uvicorn's worker processes, and the app factory they call.

uvicorn starts each worker as a fresh interpreter that imports `create_app_from_env` by name, so the parent
cannot hand over objects. It writes the loaded settings (JWKS contents included — already fetched, so the
workers do not fetch N times; never on a command line) to a 0600 JSON file, in the state directory when there is
one, and names the file in `TRIAL_ADAPTER_SERVICE_SETTINGS`. Each worker loads the catalog again from the same
mapping folders and opens the shared state (SQLite in the state directory, Redis).

`TRIAL_ADAPTER_DEBUG_WORKER_HEADER=1` adds `X-Worker: <pid>` to every response (tests of several workers).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adapter.errors import AdapterError
from adapter.service.settings import ServiceSettings

ENV_SETTINGS_FILE = "TRIAL_ADAPTER_SERVICE_SETTINGS"
ENV_WORKER_HEADER = "TRIAL_ADAPTER_DEBUG_WORKER_HEADER"
FORMAT = 1


def settings_to_json(settings: ServiceSettings, *, mappings: Sequence[str] = (), log_level: str = "info") -> str:
    data: dict[str, Any] = {}
    for item in fields(ServiceSettings):
        value = getattr(settings, item.name)
        if isinstance(value, Mapping):
            value = {k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, date):
            value = value.isoformat()
        data[item.name] = value
    return json.dumps({"format": FORMAT, "settings": data, "mappings": list(mappings), "log_level": log_level})


def settings_from_json(text: str) -> tuple[ServiceSettings, list[str], str]:
    """(settings, mapping folders, log level) as `settings_to_json` wrote them."""
    raw = json.loads(text)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise AdapterError("service settings file: unknown format")
    values: dict[str, Any] = {}
    for item in fields(ServiceSettings):
        if item.name not in raw["settings"]:
            continue
        value = raw["settings"][item.name]
        if item.name == "as_of" and value is not None:
            value = date.fromisoformat(value)
        elif isinstance(value, list):
            value = tuple(value)
        elif isinstance(value, dict):
            value = MappingProxyType(value)
        values[item.name] = value
    return ServiceSettings(**values), [str(m) for m in raw.get("mappings", [])], str(raw.get("log_level", "info"))


def write_settings_file(text: str, folder: str | None) -> Path:
    """The settings in a new file only this user can read (it may hold the REST API token)."""
    directory = Path(folder) if folder else Path(tempfile.gettempdir())
    handle, name = tempfile.mkstemp(prefix="serve-settings-", suffix=".json", dir=directory)  # mode 0600
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    return Path(name)


class WorkerHeader:
    """ASGI wrapper adding `X-Worker: <pid>`: lets a test see which worker process answered."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.value = str(os.getpid()).encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_pid(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-worker", self.value)]}
            await send(message)

        await self.app(scope, receive, send_with_pid if scope["type"] == "http" else send)


def create_app_from_env() -> Any:
    """The app for one uvicorn worker, from the file named in TRIAL_ADAPTER_SERVICE_SETTINGS."""
    from adapter.catalog import load_catalog
    from adapter.service.app import create_app

    path = os.environ.get(ENV_SETTINGS_FILE)
    if not path:
        raise AdapterError(f"{ENV_SETTINGS_FILE} is not set: start workers with `trial-adapter serve --workers N`")
    settings, mappings, log_level = settings_from_json(Path(path).read_text(encoding="utf-8"))
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    table = None
    if settings.reference_ranges:  # each worker reads the table the parent checked
        from adapter.eligibility.reference_ranges import load_reference_ranges

        table = load_reference_ranges(settings.reference_ranges)
    app: Any = create_app(settings, load_catalog(mappings, reference_ranges=table))
    if os.environ.get(ENV_WORKER_HEADER) == "1":
        app = WorkerHeader(app)
    return app


def serve_workers(settings: ServiceSettings, mappings: Sequence[str], *, host: str, port: int, workers: int,
                  log_level: str) -> int:
    """Run uvicorn with `workers` processes; the settings file is removed when uvicorn returns."""
    import uvicorn

    from adapter.service.protocol import UVICORN_LIMITS
    from adapter.service.state import open_state_for

    open_state_for(settings)  # fail here, once, with exit 2, rather than in every worker
    path = write_settings_file(settings_to_json(settings, mappings=mappings, log_level=log_level),
                               settings.state_dir)
    os.environ[ENV_SETTINGS_FILE] = str(path)  # inherited by the worker processes
    try:
        uvicorn.run("adapter.service.factory:create_app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, **UVICORN_LIMITS)
    finally:
        path.unlink(missing_ok=True)
        os.environ.pop(ENV_SETTINGS_FILE, None)
    return 0
