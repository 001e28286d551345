"""Small HTTP servers on 127.0.0.1 for tests and benchmarks: a handler served from a thread, and a FHIR server
that trickles its answer (one byte every 0.2 s: each read is quick, the whole answer would take minutes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRICKLE_INTERVAL_S = 0.2


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], path: str = "") -> Iterator[str]:
    """Serve `handler` on a free loopback port in a daemon thread; yields the base URL (with `path`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()


class TrickleHandler(BaseHTTPRequestHandler):
    """Answers every GET and POST with 200 and a body that arrives one byte at a time, for a very long time."""

    protocol_version = "HTTP/1.1"
    body_bytes = 100_000

    def do_POST(self) -> None:  # e.g. the batch of a pull
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._trickle()

    def do_GET(self) -> None:
        self._trickle()

    def _trickle(self) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(self.body_bytes))
            self.end_headers()
            for _ in range(self.body_bytes):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(TRICKLE_INTERVAL_S)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass
