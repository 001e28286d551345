"""A scripted Bulk Data server on 127.0.0.1 (a real HTTP server in a thread) for what HAPI FHIR 8.8 does not do:
`_elements`, `organizeOutputBy`, `allowPartialManifests`, the manifest's `deleted`, a refused POST kick-off.

It declares an export OperationDefinition (with the parameters in `declared`) on Patient and Group, accepts a
kick-off by POST (unless `post_status` says otherwise) or GET, and answers each other path from a script: a list
of answers per path, the last one repeated once the others are used up. Manifest URLs may be relative ("/files/a"):
the client resolves them. Every request is recorded (`requests`), every file download counted (`downloads`).

    fake = FakeBulk(script={"/status": [Answer(202), Answer(200, manifest)]}, files={"/files/a": b"…"})
    with serve_fake(fake) as base:  # http://127.0.0.1:<port>/fhir
        ...
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.support.local_http import serve

BASE_PATH = "/fhir"
STATUS_PATH = "/status/job-1"
ALL_PARAMETERS = ("_outputFormat", "_type", "_since", "_typeFilter", "_elements", "patient", "organizeOutputBy",
                  "allowPartialManifests")


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-able, sent as application/json (a manifest) or application/fhir+json (a resource)
    headers: dict[str, str] = field(default_factory=dict)
    final: bool = False  # serving it marks the export complete (`FakeBulk.complete`)


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    body: Any


@dataclass
class FakeBulk:
    script: dict[str, list[Answer]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    declared: tuple[str, ...] = ALL_PARAMETERS
    post_status: int | None = None  # an error status for a POST kick-off (None: accepted)
    post_body: Any = None  # the error body sent with it
    requests: list[Recorded] = field(default_factory=list)
    downloads: Counter[str] = field(default_factory=Counter)
    complete: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def kick_offs(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/$export")]

    def answer(self, path: str) -> Answer | None:
        with self._lock:
            queue = self.script.get(path)
            if not queue:
                return None
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer.final:
            self.complete.set()
        return answer


def manifest(output: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A manifest body with `output` and any other fields (`deleted`, `error`, `link`, `outputOrganizedBy`)."""
    return {"transactionTime": "2026-12-01T10:00:00Z", "request": "http://fake/fhir/Patient/$export",
            "requiresAccessToken": False, "output": output, "error": [], **fields}


@contextmanager
def serve_fake(fake: FakeBulk) -> Iterator[str]:
    """Serve `fake` on a free loopback port; yields its FHIR base URL."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    with serve(handler, BASE_PATH) as base:
        yield base


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeBulk

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = parts.path[len(BASE_PATH):] if parts.path.startswith(BASE_PATH) else parts.path
        self.fake.requests.append(Recorded(method, path, parts.query, json.loads(raw) if raw else None))
        base = f"http://{self.headers['Host']}{BASE_PATH}"
        if method == "GET" and path == "/metadata":
            self._json(200, _capabilities(base), "application/fhir+json")
        elif method == "GET" and path == "/OperationDefinition/export":
            self._json(200, _definition(self.fake.declared), "application/fhir+json")
        elif path.endswith("/$export"):
            if method == "POST" and self.fake.post_status is not None:
                self._json(self.fake.post_status, self.fake.post_body, "application/fhir+json")
            else:
                self._send(202, b"", {"Content-Location": f"{base}{STATUS_PATH}"})
        elif method == "DELETE":
            self._send(202, b"", {})
        elif method == "GET" and path in self.fake.files:
            self.fake.downloads[path] += 1
            self._send(200, self.fake.files[path], {"Content-Type": "application/fhir+ndjson"})
        elif method == "GET" and (answer := self.fake.answer(path)) is not None:
            if answer.body is None:
                self._send(answer.status, b"", answer.headers)
            else:
                self._json(answer.status, answer.body, "application/json", answer.headers)
        else:
            self._send(404, b"", {})

    def _json(self, status: int, body: Any, mime: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": mime, **(headers or {})})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _capabilities(base: str) -> dict[str, Any]:
    export = [{"name": "export", "definition": f"{base}/OperationDefinition/export"}]
    return {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active", "kind": "instance",
            "format": ["json"], "rest": [{"mode": "server", "resource": [
                {"type": "Patient", "operation": export}, {"type": "Group", "operation": export}]}]}


def _definition(declared: tuple[str, ...]) -> dict[str, Any]:
    return {"resourceType": "OperationDefinition", "code": "export", "resource": ["Patient", "Group"],
            "parameter": [{"name": name, "use": "in", "min": 0, "max": "*"} for name in declared]}
