"""The Bulk Data export client against scripted servers (respx): what a real server cannot easily show."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from adapter.errors import AdapterError
from adapter.fhir import BearerToken, FhirClient
from adapter.fhir.bulk import BulkExportError, ExportRequest, export_to_directory

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://fhir.test/fhir"
STATUS = f"{BASE}/$export-poll-status?_jobId=j1"
KICK_OFF = f"{BASE}/Patient/$export"
NDJSON = "application/fhir+ndjson"
OBS_1 = b'{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"}}\n'
OBS_2 = b'{"resourceType":"Observation","id":"o2","subject":{"reference":"Patient/p2"}}\n'
PATIENTS = b'{"resourceType":"Patient","id":"p1"}\n{"resourceType":"Patient","id":"p2"}\n'


def outcome(text: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                           "diagnostics": text}]}


def fhir(status: int, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Content-Type": "application/fhir+json", **(headers or {})})


def accepted() -> httpx.Response:
    return httpx.Response(202, headers={"Content-Location": STATUS})


def manifest(output: list[tuple[str, str]], *, errors: list[str] = (), token: bool = False) -> httpx.Response:
    body = {
        "transactionTime": "2026-12-01T10:00:00Z",
        "request": f"{KICK_OFF}?_type=Patient,Observation",
        "requiresAccessToken": token,
        "output": [{"type": kind, "url": url} for kind, url in output],
        "error": [{"type": "OperationOutcome", "url": url} for url in errors],
    }
    return httpx.Response(200, json=body, headers={"Content-Type": "application/json"})


def ndjson(content: bytes, status: int = 200, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, content=content, headers={"Content-Type": NDJSON, **(headers or {})})


class Broken(httpx.SyncByteStream):
    """A body that breaks off after `head`: the connection dropped mid-file."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self):
        yield self.head
        raise httpx.ReadError("connection reset by peer")


class Run:
    def __init__(self, tmp_path: Path, **client_kwargs) -> None:
        self.sleeps: list[float] = []
        self.progress: list[str] = []
        self.directory = tmp_path / "export"
        self.client = FhirClient(BASE, sleep=self.sleeps.append, **client_kwargs)

    def __call__(self, request: ExportRequest | None = None, **kwargs):
        with self.client:
            return export_to_directory(
                self.client, request or ExportRequest(), self.directory, on_progress=self.progress.append, **kwargs
            )


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


V2_CAPABILITIES = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "rest": [{"mode": "server"}]}


def v2_kick_off(mock: respx.MockRouter, url: str = KICK_OFF) -> respx.Route:
    """The GET kick-off route of a server that serves no export OperationDefinition: a Bulk Data v2 server, which
    the client asks by GET (its CapabilityStatement is read first, to know that)."""
    mock.get(f"{BASE}/metadata").mock(return_value=fhir(200, V2_CAPABILITIES))
    return mock.get(url)


def status_route(mock: respx.MockRouter, *responses: httpx.Response) -> respx.Route:
    route = mock.get(STATUS)
    route.side_effect = list(responses)
    return route


@respx.mock(assert_all_called=False)
def test_polls_with_retry_after_and_progress_then_downloads_and_deletes(respx_mock, run) -> None:
    kick = v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(
        respx_mock,
        httpx.Response(202, headers={"X-Progress": "10% done", "Retry-After": "7"}),
        httpx.Response(202, headers={"X-Progress": "90% done", "Retry-After": "120"}),
        manifest([("Patient", f"{BASE}/Binary/p"), ("Observation", f"{BASE}/Binary/o")]),
    )
    respx_mock.get(f"{BASE}/Binary/p").mock(return_value=ndjson(PATIENTS))
    respx_mock.get(f"{BASE}/Binary/o").mock(return_value=ndjson(OBS_1))
    delete = respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))

    result = run(ExportRequest(types=("Patient", "Observation"), since="2026-01-01T00:00:00Z"), max_poll_wait_s=30)

    sent = kick.calls.last.request
    assert sent.headers["Prefer"] == "respond-async"
    assert sent.headers["Accept"] == "application/fhir+json"
    assert sent.url.params.get_list("_type") == ["Patient,Observation"]
    assert sent.url.params["_since"] == "2026-01-01T00:00:00Z"
    assert sent.url.params["_outputFormat"] == NDJSON
    assert run.sleeps == [7.0, 30.0]  # Retry-After, the second one capped
    assert "export in progress: 10% done" in run.progress
    assert "export in progress: 90% done" in run.progress
    assert [p.name for p in result.files] == ["Patient.ndjson", "Observation.ndjson"]
    assert (run.directory / "Patient.ndjson").read_bytes() == PATIENTS
    assert (run.directory / "Observation.ndjson").read_bytes() == OBS_1
    assert result.transaction_time == "2026-12-01T10:00:00Z"
    assert result.request_url == f"{KICK_OFF}?_type=Patient,Observation"
    assert result.server_errors == ()
    assert delete.call_count == 1
    assert "export job deleted on the server" in run.progress


@respx.mock(assert_all_called=False)
def test_group_export_url(respx_mock, run) -> None:
    kick = v2_kick_off(respx_mock, f"{BASE}/Group/g-1/$export").mock(return_value=accepted())
    status_route(respx_mock, manifest([]))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    result = run(ExportRequest(group="g-1"))
    assert kick.call_count == 1
    assert result.files == ()


@respx.mock(assert_all_called=False)
def test_429_and_503_while_polling_are_waited_out(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    polls = status_route(
        respx_mock,
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503),
        httpx.Response(503),
        manifest([("Patient", f"{BASE}/Binary/p")]),
    )
    respx_mock.get(f"{BASE}/Binary/p").mock(return_value=ndjson(PATIENTS))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    result = run()
    assert polls.call_count == 4
    assert run.sleeps == [3.0, 1.0, 2.0]  # Retry-After, then the policy's backoff 0.5 * 2**n
    assert [p.name for p in result.files] == ["Patient.ndjson"]


@respx.mock(assert_all_called=False)
def test_failed_export_raises_the_servers_message_and_still_deletes(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, httpx.Response(202), fhir(500, outcome("Out of disk space on export volume")))
    delete = respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError) as caught:
        run()
    assert caught.value.status == 500
    assert "export failed: Out of disk space on export volume" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, AdapterError)
    assert delete.call_count == 1


@respx.mock(assert_all_called=False)
def test_kick_off_refused(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=fhir(400, outcome("HAPI-0512: Resource types [Foo] are invalid")))
    delete = respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError) as caught:
        run(ExportRequest(types=("Foo",)))
    assert caught.value.status == 400
    assert str(caught.value).endswith("export refused: HAPI-0512: Resource types [Foo] are invalid")
    assert delete.call_count == 0  # there is no job to delete


@respx.mock(assert_all_called=False)
def test_kick_off_without_content_location(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError, match="without a Content-Location"):
        run()


@respx.mock(assert_all_called=False)
def test_broken_download_is_resumed_with_range(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([("Patient", f"{BASE}/Binary/p")]))
    half = len(PATIENTS) // 2
    files = respx_mock.get(f"{BASE}/Binary/p")
    files.side_effect = [
        httpx.Response(200, stream=Broken(PATIENTS[:half]), headers={"Content-Type": NDJSON}),
        ndjson(PATIENTS[half:], 206, {"Content-Range": f"bytes {half}-{len(PATIENTS) - 1}/{len(PATIENTS)}"}),
    ]
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    result = run()
    assert "Range" not in files.calls[0].request.headers
    assert files.calls[1].request.headers["Range"] == f"bytes={half}-"
    assert result.files[0].read_bytes() == PATIENTS
    assert any("interrupted at" in line for line in run.progress)


@respx.mock(assert_all_called=False)
def test_server_ignoring_range_restarts_the_file(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([("Patient", f"{BASE}/Binary/p")]))
    files = respx_mock.get(f"{BASE}/Binary/p")
    files.side_effect = [
        httpx.Response(200, stream=Broken(PATIENTS[:10]), headers={"Content-Type": NDJSON}),
        ndjson(PATIENTS),  # 200: the whole file again, Range ignored
    ]
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    result = run()
    assert files.calls[1].request.headers["Range"] == "bytes=10-"
    assert result.files[0].read_bytes() == PATIENTS  # not the first 10 bytes twice
    assert any("ignored Range" in line for line in run.progress)


@respx.mock(assert_all_called=False)
def test_download_that_keeps_breaking_gives_up(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([("Patient", f"{BASE}/Binary/p")]))
    respx_mock.get(f"{BASE}/Binary/p").mock(side_effect=httpx.ConnectError("refused"))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError, match=r"download failed: ConnectError: refused; gave up after 4 attempts"):
        run()


@respx.mock(assert_all_called=False)
def test_token_goes_only_to_files_under_the_base(respx_mock, tmp_path) -> None:
    run = Run(tmp_path, auth=BearerToken("s3cret"))
    kick = v2_kick_off(respx_mock).mock(return_value=accepted())
    polls = status_route(
        respx_mock,
        manifest([("Patient", f"{BASE}/Binary/p"), ("Observation", "https://files.elsewhere.test/o.ndjson")],
                 token=True),
    )
    own = respx_mock.get(f"{BASE}/Binary/p").mock(return_value=ndjson(PATIENTS))
    foreign = respx_mock.get("https://files.elsewhere.test/o.ndjson").mock(return_value=ndjson(OBS_1))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    run(allowed_origins=["https://files.elsewhere.test"])
    assert kick.calls.last.request.headers["Authorization"] == "Bearer s3cret"
    assert polls.calls.last.request.headers["Authorization"] == "Bearer s3cret"
    assert own.calls.last.request.headers["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in foreign.calls.last.request.headers
    assert (run.directory / "Observation.ndjson").read_bytes() == OBS_1


@respx.mock(assert_all_called=False)
def test_no_token_to_files_when_the_manifest_does_not_require_it(respx_mock, tmp_path) -> None:
    run = Run(tmp_path, auth=BearerToken("s3cret"))
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([("Patient", f"{BASE}/Binary/p")], token=False))
    own = respx_mock.get(f"{BASE}/Binary/p").mock(return_value=ndjson(PATIENTS))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    run()
    assert "Authorization" not in own.calls.last.request.headers


@respx.mock(assert_all_called=False)
def test_several_files_of_one_type_and_error_files(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(
        respx_mock,
        manifest(
            [("Observation", f"{BASE}/Binary/o1"), ("Patient", f"{BASE}/Binary/p"),
             ("Observation", f"{BASE}/Binary/o2"), ("Observation", f"{BASE}/Binary/o3")],
            errors=[f"{BASE}/Binary/e"],
        ),
    )
    respx_mock.get(f"{BASE}/Binary/o1").mock(return_value=ndjson(OBS_1))
    respx_mock.get(f"{BASE}/Binary/o2").mock(return_value=ndjson(OBS_2))
    respx_mock.get(f"{BASE}/Binary/o3").mock(return_value=ndjson(b""))
    respx_mock.get(f"{BASE}/Binary/p").mock(return_value=ndjson(PATIENTS))
    errors = (json.dumps(outcome("Observation/o9 could not be read")) + "\n"
              + json.dumps(outcome("Condition/c3 is too large")) + "\n").encode()
    respx_mock.get(f"{BASE}/Binary/e").mock(return_value=ndjson(errors))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    result = run()
    assert [p.name for p in result.files] == [
        "Observation.ndjson", "Patient.ndjson", "Observation.2.ndjson", "Observation.3.ndjson"
    ]
    assert (run.directory / "Observation.2.ndjson").read_bytes() == OBS_2
    assert result.server_errors == ("Observation/o9 could not be read", "Condition/c3 is too large")
    assert result.error_files == (run.directory / "error" / "OperationOutcome.ndjson",)
    assert sorted(p.name for p in run.directory.iterdir()) == [
        "Observation.2.ndjson", "Observation.3.ndjson", "Observation.ndjson", "Patient.ndjson", "error"
    ]


@respx.mock(assert_all_called=False)
def test_poll_timeout(respx_mock, tmp_path) -> None:
    run = Run(tmp_path)
    run.client._sleep = __import__("time").sleep  # real waiting, so the poll timeout is reached
    v2_kick_off(respx_mock).mock(return_value=accepted())
    respx_mock.get(STATUS).mock(return_value=httpx.Response(202, headers={"X-Progress": "still busy",
                                                                          "Retry-After": "0.05"}))
    delete = respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError, match=r"not complete within the 0.3s export timeout \(still busy\)"):
        run(timeout_s=0.3)
    assert delete.call_count == 1  # the abandoned job is cancelled


@respx.mock(assert_all_called=False)
def test_failed_delete_is_reported_not_raised(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([]))
    respx_mock.delete(STATUS).mock(return_value=fhir(404, outcome("Job instance was already cancelled")))
    run()
    assert any("did not delete the export job" in line and "already cancelled" in line for line in run.progress)


@respx.mock(assert_all_called=False)
def test_type_filter_only_when_declared(respx_mock, run) -> None:
    capabilities = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "rest": [{"mode": "server",
        "resource": [{"type": "Patient", "operation": [
            {"name": "export", "definition": f"{BASE}/OperationDefinition/patient-export"}]}]}]}
    definition = {"resourceType": "OperationDefinition", "code": "export", "resource": ["Patient", "Group"],
                  "parameter": [{"name": "_type", "use": "in"}, {"name": "_typeFilter", "use": "in"}]}
    respx_mock.get(f"{BASE}/metadata").mock(return_value=fhir(200, capabilities))
    respx_mock.get(f"{BASE}/OperationDefinition/patient-export").mock(return_value=fhir(200, definition))
    kick = respx_mock.get(KICK_OFF).mock(return_value=accepted())
    status_route(respx_mock, manifest([]))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    # GET asked for: a served definition would make it a POST (tested in test_bulk_kickoff.py)
    result = run(ExportRequest(types=("Observation",), type_filters=("Observation?status=final",),
                               kick_off_method="get"))
    assert kick.calls.last.request.url.params["_typeFilter"] == "Observation?status=final"
    assert result.type_filters_sent


@respx.mock(assert_all_called=False)
def test_type_filter_left_out_when_not_declared(respx_mock, run) -> None:
    capabilities = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "rest": [{"mode": "server"}]}
    respx_mock.get(f"{BASE}/metadata").mock(return_value=fhir(200, capabilities))
    kick = v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([]))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    result = run(ExportRequest(type_filters=("Observation?status=final",)))
    assert "_typeFilter" not in kick.calls.last.request.url.params
    assert not result.type_filters_sent
    assert "the server does not declare _typeFilter; exporting without it" in run.progress


@respx.mock(assert_all_called=False)
def test_manifest_type_cannot_escape_the_directory(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([("../../etc/passwd", f"{BASE}/Binary/p")]))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError, match="needs a resource type and a url"):
        run()


@respx.mock(assert_all_called=False)
def test_binary_resource_instead_of_ndjson_is_refused(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    status_route(respx_mock, manifest([("Patient", f"{BASE}/Binary/p")]))
    respx_mock.get(f"{BASE}/Binary/p").mock(return_value=fhir(200, {"resourceType": "Binary"}))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(BulkExportError, match="expected NDJSON"):
        run()


def test_non_empty_directory_is_refused(tmp_path) -> None:
    (tmp_path / "Patient.ndjson").write_text("{}\n")
    with FhirClient(BASE) as client, pytest.raises(BulkExportError, match="is not empty"):
        export_to_directory(client, ExportRequest(), tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group": "../x"}, "is not a FHIR id"),
        ({"since": "yesterday"}, "_since must be a FHIR instant"),
        ({"types": ("observation",)}, "is not a FHIR resource type"),
        ({"type_filters": ("status=final",)}, "_typeFilter must look like"),
    ],
)
def test_request_is_checked(kwargs, message) -> None:
    with pytest.raises(BulkExportError, match=message):
        ExportRequest(**kwargs)


@respx.mock(assert_all_called=False)
def test_relative_content_location_and_file_urls_are_resolved(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=httpx.Response(202, headers={"Content-Location": "/fhir/status/j9"}))
    respx_mock.get(f"{BASE}/status/j9").mock(return_value=manifest([("Patient", "/fhir/files/p.ndjson")]))
    respx_mock.get(f"{BASE}/files/p.ndjson").mock(return_value=ndjson(PATIENTS))
    delete = respx_mock.delete(f"{BASE}/status/j9").mock(return_value=httpx.Response(202))
    result = run()
    assert result.files[0].read_bytes() == PATIENTS
    assert delete.call_count == 1


@respx.mock(assert_all_called=False)
def test_status_poll_that_cannot_connect_is_waited_out(respx_mock, run) -> None:
    v2_kick_off(respx_mock).mock(return_value=accepted())
    polls = status_route(respx_mock, httpx.ConnectError("refused"), manifest([]))
    respx_mock.delete(STATUS).mock(return_value=httpx.Response(202))
    run()
    assert polls.call_count == 2
