"""The Bulk Data client against hostile or broken servers (respx): every case ends in a clear one-line error or a
reported refusal, within the export's deadline, under the byte caps — never a traceback, a busy loop, or a
file fetched from an origin nobody allowed. Big bodies are generators; each test runs in about a second."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from adapter.fhir import FhirClient
from adapter.fhir.bulk import BulkExportError, DownloadLimits, ExportRequest, export_to_directory
from adapter.http import RetryPolicy
from tests.fhir.test_bulk import (
    BASE,
    KICK_OFF,
    NDJSON,
    PATIENTS,
    STATUS,
    Broken,
    Run,
    accepted,
    manifest,
    ndjson,
    v2_kick_off,
)
from tests.fhir.test_bulk import run as run  # the fixture, re-exported

pytestmark: list[pytest.MarkDecorator] = []

FILE = f"{BASE}/Binary/p"


class Endless(httpx.SyncByteStream):
    """`total` bytes of body in 64 KiB chunks, made as read; `pause` seconds before each chunk."""

    def __init__(self, total: int, pause: float = 0.0, chunk: bytes = b"y" * 65536) -> None:
        self.total, self.pause, self.chunk, self.sent = total, pause, chunk, 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.total:
            time.sleep(self.pause)
            self.sent += len(self.chunk)
            yield self.chunk


def _export(respx_mock: respx.MockRouter, *files: tuple[str, str], errors: list[str] = ()) -> respx.Route:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    respx_mock.get(STATUS).mock(return_value=manifest(list(files), errors=errors))
    return respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))


class _Stop(Exception):
    pass


@respx.mock(assert_all_called=False)
def test_retry_after_zero_is_floored_not_a_busy_loop(respx_mock, tmp_path) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    polls = respx_mock.get(STATUS).mock(return_value=httpx.Response(202, headers={"Retry-After": "0"}))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    run = Run(tmp_path)
    run.client._sleep = time.sleep  # real waiting: the timeout is reached by the clock
    started = time.monotonic()
    with pytest.raises(BulkExportError, match=r"not complete within the 1.5s export timeout"):
        run(timeout_s=1.5)
    assert polls.call_count == 2  # one poll a second at most; it was 1,024 in 1.4 s, then OverflowError
    assert time.monotonic() - started < 3


@respx.mock(assert_all_called=False)
def test_a_thousand_polls_without_retry_after_do_not_overflow(respx_mock, tmp_path) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    respx_mock.get(STATUS).mock(return_value=httpx.Response(202))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    run = Run(tmp_path)

    def sleep(seconds: float) -> None:
        run.sleeps.append(seconds)
        if len(run.sleeps) >= 1100:
            raise _Stop

    run.client._sleep = sleep
    with pytest.raises(_Stop):
        run(max_poll_wait_s=60)
    assert min(run.sleeps) >= 1.0 and run.sleeps[-1] == 30.0  # floor, and the policy's max_backoff
    assert RetryPolicy().backoff_delay(5000) == 30.0


@respx.mock(assert_all_called=False)
def test_one_deadline_covers_the_downloads(respx_mock, run) -> None:
    delete = _export(respx_mock, ("Patient", FILE))
    respx_mock.get(FILE).mock(return_value=httpx.Response(200, stream=Endless(10 << 20, pause=0.1),
                                                          headers={"Content-Type": NDJSON}))
    started = time.monotonic()
    with pytest.raises(BulkExportError, match=r"not complete within the 1s export timeout \(downloading\)"):
        run(timeout_s=1.0)
    assert time.monotonic() - started < 2
    assert delete.call_count == 1
    assert not (run.directory / "Patient.ndjson").exists()  # nothing half-downloaded stays


@respx.mock(assert_all_called=False)
def test_a_file_over_the_cap_is_refused_while_streaming(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE))
    body = Endless(1 << 30)
    respx_mock.get(FILE).mock(return_value=httpx.Response(200, stream=body, headers={"Content-Type": NDJSON}))
    with pytest.raises(BulkExportError, match=r"larger than the 1000000-byte cap per file; not downloaded"):
        run(limits=DownloadLimits(max_file_bytes=1_000_000))
    assert body.sent < 2_000_000  # stopped at the cap, not at the end of a gigabyte
    assert not (run.directory / "Patient.ndjson").exists()


@respx.mock(assert_all_called=False)
def test_a_declared_length_over_the_cap_is_refused_before_reading(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE))
    body = Endless(1 << 20)
    respx_mock.get(FILE).mock(return_value=httpx.Response(
        200, stream=body, headers={"Content-Type": NDJSON, "Content-Length": str(5 << 30)}))
    with pytest.raises(BulkExportError, match=r"file of 5368709120 bytes is larger than the"):
        run()
    assert body.sent == 0


@respx.mock(assert_all_called=False)
def test_the_total_cap_counts_every_file(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE), ("Observation", f"{BASE}/Binary/o"))
    respx_mock.get(FILE).mock(return_value=ndjson(b"x" * 600))
    respx_mock.get(f"{BASE}/Binary/o").mock(return_value=ndjson(b"y" * 600))
    with pytest.raises(BulkExportError, match=r"exceed the 1000-byte total cap"):
        run(limits=DownloadLimits(max_total_bytes=1000))


@respx.mock(assert_all_called=False)
def test_identity_is_asked_gzip_is_inflated_under_the_cap(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE))
    files = respx_mock.get(FILE).mock(return_value=httpx.Response(
        200, content=zlib.compress(PATIENTS, wbits=31), headers={"Content-Type": NDJSON, "Content-Encoding": "gzip"}))
    result = run()
    assert files.calls.last.request.headers["Accept-Encoding"] == "identity"
    assert result.files[0].read_bytes() == PATIENTS


@respx.mock(assert_all_called=False)
def test_a_gzip_bomb_body_is_refused_in_bounded_memory(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE))
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(64)) + packer.flush()  # 64 MiB inflated
    assert len(bomb) < 500_000
    # A stream, as a socket delivers it (respx would read a `content=` body, inflated, before the client sees it).
    stream = httpx.ByteStream(bomb)
    respx_mock.get(FILE).mock(return_value=httpx.Response(
        200, stream=stream, headers={"Content-Type": NDJSON, "Content-Encoding": "gzip"}))
    with pytest.raises(BulkExportError, match=r"larger than the 4194304-byte cap per file"):
        run(limits=DownloadLimits(max_file_bytes=4 << 20))


@pytest.mark.parametrize("encoding", ["br", "compress"])
@respx.mock(assert_all_called=False)
def test_another_content_encoding_is_refused(respx_mock, run, encoding) -> None:
    _export(respx_mock, ("Patient", FILE))
    respx_mock.get(FILE).mock(return_value=httpx.Response(
        200, content=b"\x0b\x02\x80", headers={"Content-Type": NDJSON, "Content-Encoding": encoding}))
    with pytest.raises(BulkExportError, match=rf"Content-Encoding '{encoding}' is not supported"):
        run()


@respx.mock(assert_all_called=False)
def test_tiny_206_answers_to_a_lying_content_length_give_up(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE))
    sent = {"offset": 0}

    def trickle(request: httpx.Request) -> httpx.Response:
        offset = sent["offset"]
        sent["offset"] += 1
        status, headers = (206, {"Content-Range": f"bytes {offset}-999999/1000000"}) if offset else (200, {})
        return httpx.Response(status, stream=Broken(b"x"), headers={"Content-Type": NDJSON,
                                                                     "Content-Length": "1000000", **headers})

    files = respx_mock.get(FILE).mock(side_effect=trickle)
    with pytest.raises(BulkExportError, match=r"gave up after 4 attempts \(4 bytes received\)"):
        run()
    assert files.call_count == 4  # a byte each is no progress: the retry count is not reset


@respx.mock(assert_all_called=False)
def test_resumes_are_capped_even_with_progress(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE))
    state = {"offset": 0}

    def chunks(request: httpx.Request) -> httpx.Response:
        offset = state["offset"]
        state["offset"] += 100
        headers = {"Content-Range": f"bytes {offset}-99999/100000"} if offset else {}
        return httpx.Response(206 if offset else 200, stream=Broken(b"x" * 100), headers={"Content-Type": NDJSON,
                                                                                          **headers})

    files = respx_mock.get(FILE).mock(side_effect=chunks)
    with pytest.raises(BulkExportError, match=r"gave up after 6 attempts"):
        run(limits=DownloadLimits(max_resumes=5, min_progress_bytes=50))
    assert files.call_count == 6


@respx.mock(assert_all_called=False)
def test_files_on_another_origin_are_reported_not_fetched(respx_mock, run) -> None:
    _export(respx_mock, ("Patient", FILE), ("Observation", "https://evil.test/o.ndjson"),
            ("Condition", "http://fhir.test/fhir/Binary/c"), errors=["https://evil.test/e.ndjson"])
    respx_mock.get(FILE).mock(return_value=ndjson(PATIENTS))
    foreign = respx_mock.get(url__startswith="https://evil.test/").mock(return_value=ndjson(b"{}\n"))
    downgraded = respx_mock.get("http://fhir.test/fhir/Binary/c").mock(return_value=ndjson(b"{}\n"))
    result = run()
    assert foreign.call_count == 0 and downgraded.call_count == 0  # http is another origin than https
    assert [p.name for p in result.files] == ["Patient.ndjson"]
    assert len(result.refused_files) == 3
    assert result.refused_files[0].startswith("Observation file on https://evil.test:443 not fetched")
    assert all(message in run.progress for message in result.refused_files)


@respx.mock(assert_all_called=False)
def test_an_unusable_allowed_origin_is_refused_before_anything_is_sent(respx_mock, run) -> None:
    kick = v2_kick_off(respx_mock).mock(return_value=accepted())
    with pytest.raises(BulkExportError, match=r"allowed file origin: 'https://files.test/path' is not an origin"):
        run(allowed_origins=["https://files.test/path"])
    assert kick.call_count == 0


@pytest.mark.parametrize(("body", "message"), [
    (b'{"output": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
    (b'{"output": [], "n": ' + b"9" * 5000 + b"}", "integer literal"),
    (b"\xff\xfe{}", "not JSON"),
])
@respx.mock(assert_all_called=False)
def test_a_hostile_manifest_is_one_line(respx_mock, run, body, message) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    respx_mock.get(STATUS).mock(return_value=httpx.Response(200, content=body,
                                                            headers={"Content-Type": "application/json"}))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError, match=message) as caught:
        run()
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 500


def _manifest(respx_mock: Any, body: bytes) -> None:
    """A kick-off accepted at once, a status answer of `body` as the manifest, the job deletable."""
    v2_kick_off(respx_mock).mock(return_value=accepted())
    respx_mock.get(STATUS).mock(return_value=httpx.Response(200, content=body,
                                                            headers={"Content-Type": "application/json"}))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))


@pytest.mark.parametrize("body", [
    b'{"transactionTime": "2026\\ud800", "output": [], "requiresAccessToken": false}',
    b'{"output": [{"type": "Patient", "url": "https://fhir.test/fhir/\\udc80"}]}',
], ids=["in-a-field", "in-a-file-url"])
@respx.mock(assert_all_called=False)
def test_a_lone_surrogate_in_the_manifest_is_one_clear_error(respx_mock, run, body: bytes) -> None:
    # the one JSON decoder refuses it: nothing of the manifest goes further (no file fetched, no time kept)
    _manifest(respx_mock, body)
    with pytest.raises(BulkExportError, match="the export manifest: a string holds a lone surrogate"):
        run()


@respx.mock(assert_all_called=False)
def test_control_characters_in_the_manifest_go_no_further(respx_mock, run) -> None:
    _manifest(respx_mock, b'{"transactionTime": "2026\\u0007", "request": "x\\u001b[2J", "output": [], '
                          b'"requiresAccessToken": false}')
    result = run()
    assert result.transaction_time is None and result.request_url == KICK_OFF


@respx.mock(assert_all_called=False)
def test_hostile_error_files_become_clean_messages(respx_mock, run) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    surrogate = json.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "bad \ud800 \x1b[31mred"}]}).encode()
    long = b'{"x": "' + b"z" * (2 << 20) + b'"}'
    _export(respx_mock, errors=[f"{BASE}/Binary/e"])
    respx_mock.get(f"{BASE}/Binary/e").mock(return_value=ndjson(b"\n".join([deep, surrogate, long, b"[1]"])))
    result = run()
    deep_message, surrogate_message, long_message, list_message = result.server_errors
    assert "nested" in deep_message
    assert surrogate_message == ("OperationOutcome.ndjson line 2: a string holds a lone surrogate (\\ud800-\\udfff), "
                                 "not Unicode text")
    assert long_message == "OperationOutcome.ndjson line 3: an error line longer than 1048576 bytes (not read)"
    assert list_message == "[1]"
    orjson.dumps(list(result.server_errors))  # what errors.ndjson is written with: no lone surrogate left


def test_an_export_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "export").symlink_to(tmp_path / "elsewhere")
    with FhirClient(BASE) as client, pytest.raises(BulkExportError, match="is a symbolic link"):
        export_to_directory(client, ExportRequest(), tmp_path / "export")


# --- trial-adapter screen --server: the same refusals, as a user meets them ---

CAPABILITIES = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active",
                "kind": "instance", "format": ["json"], "rest": [{"mode": "server"}]}


def _screen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from adapter.cli import main

    code = main(["screen", "--server", BASE, "--timeout", "5", "--workers", "1", "--as-of", "2026-11-01", *args])
    return code, capsys.readouterr().err


@respx.mock(assert_all_called=False)
def test_screen_reports_a_file_on_another_origin_as_an_export_error(respx_mock, capsys, tmp_path) -> None:
    respx_mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200, json=CAPABILITIES))
    respx_mock.get(url__startswith=KICK_OFF).mock(return_value=accepted())
    respx_mock.get(STATUS).mock(return_value=manifest([("Patient", FILE), ("Observation", "https://evil.test/o")]))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    respx_mock.get(FILE).mock(return_value=ndjson(PATIENTS))
    evil = respx_mock.get("https://evil.test/o").mock(return_value=ndjson(b"{}\n"))
    code, stderr = _screen(capsys, "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    assert evil.call_count == 0
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.ndjson").read_text().splitlines()]
    assert [(e["kind"], e["reason"][:53]) for e in errors] == [
        ("export-error", "Observation file on https://evil.test:443 not fetched")]


@pytest.mark.parametrize(("setup", "args", "message"), [
    ("symlink", [], "is a symbolic link or not a folder"),
    (None, ["--allow-file-origin", "files.test"], "is not an origin such as"),
])
@respx.mock(assert_all_called=False)
def test_screen_refusals_are_one_line(respx_mock, capsys, tmp_path, setup, args, message) -> None:
    respx_mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200, json=CAPABILITIES))
    kick = respx_mock.get(url__startswith=KICK_OFF).mock(return_value=accepted())
    out = tmp_path / "out"
    out.mkdir()
    if setup == "symlink":
        (tmp_path / "elsewhere").mkdir()
        (out / "export").symlink_to(tmp_path / "elsewhere")
    code, stderr = _screen(capsys, *args, "--out", str(out))
    assert code == 2
    assert stderr.count("\n") == 1 and message in stderr
    assert kick.call_count == 0
