"""A cache of parsed YAML as JSON, keyed by the text's SHA-256: the concept library is ~1,900 codes of YAML, and
JSON reads ten times faster. The edge (the CLI) decides where it lives; a missing, corrupt or foreign entry is
ignored and the YAML parsed again — the cache can only save time, never change what is read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapter.atomic import write_atomic

FORMAT = "trial-adapter-parsed-yaml-1"

Parse = Callable[[str, str], Any]  # (text, source) -> data


class ParsedYamlCache:
    def __init__(self, directory: Path, parse: Parse) -> None:
        self.directory = directory
        self._parse = parse

    def __call__(self, text: str, source: str) -> Any:
        digest = hashlib.sha256(f"{FORMAT}\0{text}".encode()).hexdigest()
        path = self.directory / f"yaml-{digest[:32]}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(stored, dict) and stored.get("format") == FORMAT and stored.get("sha256") == digest:
                return stored["data"]
        except (OSError, ValueError, KeyError):
            pass
        data = self._parse(text, source)  # errors surface as they would without the cache
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # atomic: a concurrent reader never sees half a file
            write_atomic(path, json.dumps({"format": FORMAT, "sha256": digest, "data": data}))
        except (OSError, TypeError, ValueError):
            pass  # not JSON-representable (e.g. YAML dates) or not writable: only costs time
        return data
