"""Bulk Data STU3/STU4 in the export client, against a scripted server on 127.0.0.1 (tests/support/
fake_bulk_server.py) — what HAPI FHIR 8.8 does not do: `_elements`, `organizeOutputBy`, `allowPartialManifests`,
the manifest's `deleted`, a POST kick-off refused as a method. POST on HAPI: test_bulk_hapi.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir import FhirClient
from adapter.fhir.bulk import BulkExportError, ExportRequest, ExportResult, elements_value, export_to_directory
from tests.support.bulk_export import fixture_resources, read_ndjson, write_patient_blocks
from tests.support.fake_bulk_server import STATUS_PATH, Answer, FakeBulk, manifest, serve_fake

pytestmark: list[pytest.MarkDecorator] = []

OBS = b'{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"}}\n'
PAT = b'{"resourceType":"Patient","id":"p1"}\n'
SINCE = "2026-11-01T00:00:00Z"


def _run(fake: FakeBulk, request: ExportRequest, directory: Path,
         on_file: Any = None) -> tuple[ExportResult, list[str]]:
    progress: list[str] = []
    with serve_fake(fake) as base, FhirClient(base) as client:
        result = export_to_directory(client, request, directory, timeout_s=30, min_poll_wait_s=0.01,
                                     max_poll_wait_s=0.05, on_progress=progress.append, on_file=on_file)
    return result, progress


def _done(output: list[dict[str, Any]], **fields: Any) -> FakeBulk:
    return FakeBulk(script={STATUS_PATH: [Answer(202), Answer(200, manifest(output, **fields), final=True)]},
                    files={"/files/o": OBS, "/files/p": PAT})


def _parameters(body: dict[str, Any]) -> list[tuple[str, Any]]:
    assert body["resourceType"] == "Parameters"
    return [(p["name"], next(v for k, v in p.items() if k.startswith("value"))) for p in body["parameter"]]


def test_post_kick_off_carries_every_declared_parameter_in_a_parameters_body(tmp_path: Path) -> None:
    fake = _done([{"type": "Observation", "url": "/files/o"}])
    request = ExportRequest(since=SINCE, types=("Patient", "Observation"), type_filters=("Observation?code=1-8",),
                            elements=elements_value({"Observation": ["code", "value"]}), organize_by_patient=True,
                            allow_partial_manifests=True, patients=("p1", "p2"))
    result, progress = _run(fake, request, tmp_path / "out")

    (kick,) = fake.kick_offs()
    assert (kick.method, kick.path, kick.query) == ("POST", "/Patient/$export", "")
    assert _parameters(kick.body) == [
        ("_outputFormat", "application/fhir+ndjson"), ("_type", "Patient,Observation"), ("_since", SINCE),
        ("_typeFilter", "Observation?code=1-8"),
        ("_elements", "Observation.code,Observation.subject,Observation.value"),
        ("organizeOutputBy", "Patient"), ("allowPartialManifests", True),
        ("patient", {"reference": "Patient/p1"}), ("patient", {"reference": "Patient/p2"})]
    assert kick.body["parameter"][2] == {"name": "_since", "valueInstant": SINCE}
    assert result.kick_off_method == "POST" and result.elements_sent and result.type_filters_sent
    # asked for, but this manifest is by type: said so, and the result says so too
    assert not result.organized_by_patient
    assert "the server did not organize the output by patient; files are by resource type" in progress
    assert [p.name for p in result.files] == ["Observation.ndjson"]


def test_parameters_the_server_does_not_declare_are_left_out(tmp_path: Path) -> None:
    fake = _done([])
    fake.declared = ("_outputFormat", "_type", "_since")
    request = ExportRequest(types=("Observation",), elements=("Observation.code",), organize_by_patient=True,
                            allow_partial_manifests=True)
    result, progress = _run(fake, request, tmp_path / "out")

    (kick,) = fake.kick_offs()
    assert kick.method == "POST"  # the server serves its definition: a FHIR operation, invoked by POST
    assert [name for name, _ in _parameters(kick.body)] == ["_outputFormat", "_type"]
    for name in ("_elements", "organizeOutputBy", "allowPartialManifests"):
        assert f"the server does not declare {name}; exporting without it" in progress
    assert not result.elements_sent and not result.organized_by_patient


@pytest.mark.parametrize(("status", "body"), [
    (405, None),
    (501, None),
    (400, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported",
                                                          "diagnostics": "HTTP method POST is not supported here"}]}),
    (400, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics":
           "HAPI-0389: Invalid request: The FHIR endpoint on this server does not know how to handle POST "
           "operation[Patient/$export] with parameters [[]]"}]}),
])
def test_a_post_refused_as_a_method_is_sent_again_as_get(tmp_path: Path, status: int, body: Any) -> None:
    fake = _done([{"type": "Patient", "url": "/files/p"}])
    fake.post_status, fake.post_body = status, body
    request = ExportRequest(since=SINCE, types=("Patient",), elements=("Patient.birthDate",))
    result, progress = _run(fake, request, tmp_path / "out")

    assert [k.method for k in fake.kick_offs()] == ["POST", "GET"]  # once each
    query = fake.kick_offs()[1].query
    assert "_since=2026-11-01T00%3A00%3A00Z" in query and "_elements=Patient.birthDate" in query
    assert result.kick_off_method == "GET"
    assert any(line.startswith("POST kick-off refused (") and line.endswith("sending it as GET") for line in progress)
    assert result.files[0].read_bytes() == PAT


def test_another_refusal_of_a_post_is_not_retried(tmp_path: Path) -> None:
    fake = _done([])
    fake.post_status = 400
    fake.post_body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
                                                                    "diagnostics": "Unknown _type Foo"}]}
    with pytest.raises(BulkExportError, match="export refused: Unknown _type Foo"):
        _run(fake, ExportRequest(), tmp_path / "out")
    assert [k.method for k in fake.kick_offs()] == ["POST"]


def test_patients_need_a_post(tmp_path: Path) -> None:
    fake = _done([])
    fake.post_status = 405
    with pytest.raises(BulkExportError, match="the patient parameter needs a POST kick-off"):
        _run(fake, ExportRequest(patients=("p1",)), tmp_path / "out")
    assert [k.method for k in fake.kick_offs()] == ["POST"]
    with pytest.raises(BulkExportError, match="sent only by POST"):
        ExportRequest(patients=("p1",), kick_off_method="get")


def test_get_when_asked_even_if_post_is_offered(tmp_path: Path) -> None:
    fake = _done([])
    result, _ = _run(fake, ExportRequest(types=("Patient",), kick_off_method="get"), tmp_path / "out")
    assert [k.method for k in fake.kick_offs()] == ["GET"] and result.kick_off_method == "GET"
    assert not any(r.path == "/metadata" for r in fake.requests)  # nothing optional: nothing to look up


def test_output_organized_by_patient_gets_safe_names_and_continuations(tmp_path: Path) -> None:
    header = (b'{"resourceType":"Parameters","parameter":[{"name":"header",'
              b'"valueReference":{"reference":"Patient/p1"}}]}\n')
    fake = _done([{"url": "/files/1"}, {"url": "/files/2", "continuesInFile": "/files/3"}, {"url": "/files/3"},
                  {"type": "Observation", "url": "/files/4"}], outputOrganizedBy="Patient")
    fake.files.update({f"/files/{n}": header + PAT + OBS for n in range(1, 5)})
    result, _ = _run(fake, ExportRequest(organize_by_patient=True), tmp_path / "out")

    assert result.organized_by_patient
    names = [p.name for p in result.files]
    assert names == ["output.ndjson", "output.2.ndjson", "output.3.ndjson", "output.4.ndjson"]
    assert result.continued == ((result.files[1], result.files[2]),)
    assert result.files[0].read_bytes() == header + PAT + OBS


def test_an_entry_without_type_in_a_type_organized_manifest_is_named_output(tmp_path: Path) -> None:
    fake = _done([{"type": "Observation", "url": "/files/o"}, {"url": "/files/p"}])
    result, _ = _run(fake, ExportRequest(), tmp_path / "out")
    assert [p.name for p in result.files] == ["Observation.ndjson", "output.ndjson"]
    assert not result.organized_by_patient


def test_partial_manifests_are_followed_and_each_file_handed_over_once_as_it_arrives(tmp_path: Path) -> None:
    error = [{"type": "OperationOutcome", "url": "/files/e"}]
    page_1 = manifest([{"type": "Patient", "url": "/files/a"}, {"type": "Observation", "url": "/files/b"}],
                      error=error)
    page_1_linked = {**page_1, "link": [{"relation": "next", "url": "/manifest/2"}]}
    page_2 = manifest([{"type": "Observation", "url": "/files/c"}], error=error)
    page_2_linked = {**page_2, "link": [{"relation": "next", "url": "/manifest/3"}]}
    page_3 = manifest([{"type": "Observation", "url": "/files/d"}], error=error,
                      deleted=[{"type": "Bundle", "url": "/files/del"}])
    fake = FakeBulk(script={
        STATUS_PATH: [Answer(202), Answer(202, page_1), Answer(202, page_1), Answer(202, page_1_linked)],
        "/manifest/2": [Answer(202), Answer(202, page_2), Answer(202, page_2_linked)],
        "/manifest/3": [Answer(202, page_3), Answer(200, page_3, final=True)],
    }, files={"/files/a": PAT, "/files/b": OBS, "/files/c": OBS, "/files/d": OBS,
              "/files/del": _deleted("Condition/c1"),
              "/files/e": b'{"resourceType":"OperationOutcome","issue":[{"severity":"warning","diagnostics":"w"}]}\n'})
    handed: list[tuple[str, bool]] = []
    result, _ = _run(fake, ExportRequest(allow_partial_manifests=True), tmp_path / "out",
                     on_file=lambda path: handed.append((path.name, fake.complete.is_set())))

    assert _parameters(fake.kick_offs()[0].body)[-1] == ("allowPartialManifests", True)
    # every file handed over once, in order, the first three before the export was complete
    assert handed == [("Patient.ndjson", False), ("Observation.ndjson", False), ("Observation.2.ndjson", False),
                      ("Observation.3.ndjson", False)]
    assert fake.complete.is_set()
    assert set(fake.downloads.values()) == {1} and len(fake.downloads) == 6  # nothing twice, nothing lost
    assert [p.name for p in result.files] == ["Patient.ndjson", "Observation.ndjson", "Observation.2.ndjson",
                                              "Observation.3.ndjson"]
    assert result.server_errors == ("w",)
    assert result.deleted == ("Condition/c1",)
    assert result.manifest_pages == 3
    deletes = [r for r in fake.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [STATUS_PATH]


def test_a_manifest_linking_back_fails_rather_than_loops(tmp_path: Path) -> None:
    looping = manifest([{"type": "Patient", "url": "/files/p"}], link=[{"relation": "next",
                                                                         "url": f"/fhir{STATUS_PATH}"}])
    fake = FakeBulk(script={STATUS_PATH: [Answer(200, looping)]}, files={"/files/p": PAT})
    with pytest.raises(BulkExportError, match="links back to a page already read"):
        _run(fake, ExportRequest(), tmp_path / "out")
    assert [r.method for r in fake.requests][-1] == "DELETE"


def test_a_manifest_page_on_another_origin_is_not_followed(tmp_path: Path) -> None:
    away = manifest([], link=[{"relation": "next", "url": "https://elsewhere.test/manifest/2"}])
    fake = FakeBulk(script={STATUS_PATH: [Answer(200, away)]})
    with pytest.raises(BulkExportError, match=r"links to a page on https://elsewhere\.test:443, not the server's"):
        _run(fake, ExportRequest(), tmp_path / "out")


def _deleted(*references: str, method: str = "DELETE") -> bytes:
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"request": {"method": method, "url": ref}} for ref in references]}
    return json.dumps(bundle).encode() + b"\n"


def test_deleted_entries_become_references_and_error_lines(tmp_path: Path) -> None:
    good = _deleted("Condition/c1", "Observation/o2") + _deleted("Condition/c1")  # the same one twice: once
    bad = (b"not json\n" + b'{"resourceType":"Patient","id":"p"}\n' + _deleted("Condition/c9", method="PUT")
           + _deleted("http://evil/../x", "Condition") + b"\n" + _deleted("MedicationRequest/m-3"))
    fake = _done([{"type": "Observation", "url": "/files/o"}],
                 deleted=[{"type": "Bundle", "url": "/files/d1"}, {"url": "/files/d2"}])
    fake.files.update({"/files/d1": good, "/files/d2": bad})
    result, _ = _run(fake, ExportRequest(since=SINCE), tmp_path / "out")

    assert result.deleted == ("Condition/c1", "Observation/o2", "MedicationRequest/m-3")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in result.deleted_files] == [
        "deleted/Bundle.ndjson", "deleted/Bundle.2.ndjson"]
    assert [p.name for p in result.files] == ["Observation.ndjson"]  # deleted files are not data files
    errors = result.deleted_errors
    assert len(errors) == 5
    assert errors[0].startswith("deleted/Bundle.2.ndjson line 1")
    assert errors[1] == "deleted/Bundle.2.ndjson line 2: not a Bundle"
    assert errors[2] == "deleted/Bundle.2.ndjson line 3 entry 0: request.method is 'PUT', not DELETE"
    assert errors[3] == "deleted/Bundle.2.ndjson line 4 entry 0: request.url 'http://evil/../x' is not Type/id"
    assert errors[4] == "deleted/Bundle.2.ndjson line 4 entry 1: request.url 'Condition' is not Type/id"


def test_elements_value_and_record_entries() -> None:
    assert elements_value({"Observation": ["value", "code"], "Patient": ["birthDate"]}) == (
        "Observation.code", "Observation.subject", "Observation.value", "Patient.birthDate")
    for wanted, message in [({"Condition": ["code"]}, "may narrow only Observation, Patient, not Condition"),
                            ({"MedicationRequest": ["status"]}, "not MedicationRequest"),
                            ({"Observation": ["../x"]}, "entries look like")]:
        with pytest.raises(BulkExportError, match=message):
            elements_value(wanted)
    for entries in [("code",), ("Procedure.code",), ("AllergyIntolerance.code",)]:
        with pytest.raises(BulkExportError):
            ExportRequest(elements=entries)


def test_patient_blocks_arrive_whole(tmp_path: Path) -> None:
    """The fixture patients as a server organizes them by patient: every file arrives byte for byte, each block a
    header, its Patient, that patient's resources (what the screening side reads without regrouping)."""
    written = write_patient_blocks(tmp_path / "server", fixture_resources(), patients_per_file=3)
    fake = _done([{"url": f"/files/{n}"} for n in range(len(written))], outputOrganizedBy="Patient")
    fake.files.update({f"/files/{n}": path.read_bytes() for n, path in enumerate(written)})
    result, _ = _run(fake, ExportRequest(organize_by_patient=True), tmp_path / "out")

    assert result.organized_by_patient and len(result.files) == len(written) > 1
    patients = 0
    for got, sent in zip(result.files, written, strict=True):
        assert got.read_bytes() == sent.read_bytes()
        owner = None
        for resource in read_ndjson(got):
            if resource["resourceType"] == "Parameters":
                owner = resource["parameter"][0]["valueReference"]["reference"]
            elif resource["resourceType"] == "Patient":
                assert f"Patient/{resource['id']}" == owner
                patients += 1
            else:
                assert (resource.get("subject") or resource.get("patient"))["reference"] == owner
    assert patients == len([r for r in fixture_resources() if r["resourceType"] == "Patient"])
