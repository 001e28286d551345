"""The Bulk Data export client against a real HAPI FHIR 8.8 JPA server (R4) with bulk export enabled.

The session's HAPI server is shared with other tests, so every export here is narrowed to this test's data:
by a unique tag through `_typeFilter` (which HAPI declares), or by a Group of this test's patients. HAPI writes
at most 5 resources per file on the test server (tools/hapi-server), so 7 Observations span two files.
A HAPI that cannot start fails these tests (the fixture raises), it never skips them.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.fhir import FhirClient
from adapter.fhir.bulk import ExportRequest, ExportResult, export_to_directory

pytestmark = [pytest.mark.hapi, pytest.mark.java]

OBSERVATIONS_PER_PATIENT = (7, 2, 0)  # patient 0 has more Observations than fit in one HAPI file


@pytest.fixture
def loaded(hapi_r4: Any) -> dict[str, Any]:
    """Three tagged patients with Observations and a Condition each, and a Group of the first two."""
    tag = f"bulk-{uuid.uuid4().hex[:12]}"
    meta = {"tag": [{"system": "urn:trial-fhir-adapter:test", "code": tag}]}
    entries: list[dict[str, Any]] = []
    for n, observations in enumerate(OBSERVATIONS_PER_PATIENT):
        patient = f"urn:uuid:{uuid.uuid4()}"
        entries.append(_entry(patient, {"resourceType": "Patient", "meta": meta, "name": [{"family": f"Bulk{n}"}]}))
        for k in range(observations):
            entries.append(_entry(None, {
                "resourceType": "Observation", "meta": meta, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
                "subject": {"reference": patient}, "valueQuantity": {"value": 1.0 + k, "unit": "mg/dL"},
            }))  # fmt: skip
        entries.append(_entry(None, {
            "resourceType": "Condition", "meta": meta, "subject": {"reference": patient},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        }))  # fmt: skip
    patients = [e["fullUrl"] for e in entries if e["resource"]["resourceType"] == "Patient"]
    group = {"resourceType": "Group", "meta": meta, "type": "person", "actual": True,
             "member": [{"entity": {"reference": ref}} for ref in patients[:2]]}  # fmt: skip
    entries.append(_entry(None, group))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    with FhirClient(hapi_r4.base_url) as client:
        response = client.transaction(bundle)
    ids: dict[str, list[str]] = {}
    for entry in response["entry"]:
        kind, ident = entry["response"]["location"].split("/")[:2]
        ids.setdefault(kind, []).append(ident)
    return {"tag": tag, "ids": ids}


def _entry(full_url: str | None, resource: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _read(result: ExportResult) -> dict[str, list[dict[str, Any]]]:
    """The resources of each file by type, every line checked to be one JSON resource of the file's type."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for path in result.files:
        kind = path.name.split(".")[0]
        for line in path.read_text(encoding="utf-8").splitlines():
            resource = json.loads(line)
            assert resource["resourceType"] == kind, path.name
            by_type.setdefault(kind, []).append(resource)
    return by_type


def _export(hapi_r4: Any, request: ExportRequest, directory: Path) -> tuple[ExportResult, list[str], list[str]]:
    progress: list[str] = []
    requests: list[str] = []
    with FhirClient(hapi_r4.base_url, on_request=lambda r: requests.append(f"{r.method} {r.url}")) as client:
        result = export_to_directory(
            client, request, directory, timeout_s=120, max_poll_wait_s=1.0, on_progress=progress.append
        )
    return result, progress, requests


def test_patient_export_with_type_filter(hapi_r4: Any, loaded: dict[str, Any], tmp_path: Path) -> None:
    tag, ids = loaded["tag"], loaded["ids"]
    types = ("Patient", "Observation", "Condition")
    request = ExportRequest(types=types, type_filters=tuple(f"{kind}?_tag={tag}" for kind in types))
    result, progress, requests = _export(hapi_r4, request, tmp_path / "out")

    assert result.type_filters_sent
    by_type = _read(result)
    assert sorted(r["id"] for r in by_type["Patient"]) == sorted(ids["Patient"])
    assert sorted(r["id"] for r in by_type["Observation"]) == sorted(ids["Observation"])
    assert sorted(r["id"] for r in by_type["Condition"]) == sorted(ids["Condition"])
    patients = {f"Patient/{ident}" for ident in ids["Patient"]}
    for resource in by_type["Observation"] + by_type["Condition"]:
        assert resource["subject"]["reference"] in patients
    # 9 Observations at 5 per file: the second file of the type is named like servers name it.
    names = sorted(p.name for p in result.files)
    assert "Observation.ndjson" in names and "Observation.2.ndjson" in names
    assert {p.parent for p in result.files} == {tmp_path / "out"}
    assert result.server_errors == ()
    assert result.transaction_time
    assert "/Patient/$export" in result.request_url
    # The job was deleted at the end (HAPI answers a DELETE of a completed job with 404 "nothing to do").
    status_url = next(line for line in progress if line.startswith("export started; polling ")).split()[-1]
    assert requests[-1] == f"DELETE {httpx.URL(status_url)}"
    assert any("export job" in line for line in progress[-1:])


def test_group_export_with_type(hapi_r4: Any, loaded: dict[str, Any], tmp_path: Path) -> None:
    ids = loaded["ids"]
    (group_id,) = ids["Group"]
    result, _, _ = _export(hapi_r4, ExportRequest(group=group_id, types=("Observation", "Condition")), tmp_path)

    by_type = _read(result)
    assert set(by_type) == {"Observation", "Condition"}
    members = ids["Patient"][:2]
    member_refs = {f"Patient/{ident}" for ident in members}
    # Exactly the members' resources: 7 + 2 Observations, one Condition each; nothing of patient 3.
    assert len(by_type["Observation"]) == 9
    assert len(by_type["Condition"]) == 2
    for resource in by_type["Observation"] + by_type["Condition"]:
        assert resource["subject"]["reference"] in member_refs
    assert sorted(r["id"] for r in by_type["Condition"]) == sorted(ids["Condition"][:2])


def test_unknown_group_is_refused_with_hapis_message(hapi_r4: Any, tmp_path: Path) -> None:
    from adapter.fhir.bulk import BulkExportError

    with pytest.raises(BulkExportError) as caught:
        _export(hapi_r4, ExportRequest(group="no-such-group"), tmp_path)
    assert caught.value.status == 404
    assert "export refused: HAPI-2001: Resource Group/no-such-group is not known" in str(caught.value)


def test_r5_patient_export(hapi_r5: Any, tmp_path: Path) -> None:
    """The R5 server has bulk export enabled too."""
    tag = f"bulk-{uuid.uuid4().hex[:12]}"
    meta = {"tag": [{"system": "urn:trial-fhir-adapter:test", "code": tag}]}
    patient = f"urn:uuid:{uuid.uuid4()}"
    observation = {"resourceType": "Observation", "meta": meta, "status": "final", "code": {"text": "creatinine"},
                   "subject": {"reference": patient}}  # fmt: skip
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        _entry(patient, {"resourceType": "Patient", "meta": meta}), _entry(None, observation)]}  # fmt: skip
    with FhirClient(hapi_r5.base_url) as client:
        response = client.transaction(bundle)
        patient_id = response["entry"][0]["response"]["location"].split("/")[1]
        request = ExportRequest(
            types=("Patient", "Observation"), type_filters=(f"Patient?_tag={tag}", f"Observation?_tag={tag}")
        )
        result = export_to_directory(client, request, tmp_path / "r5", max_poll_wait_s=1.0)
    by_type = _read(result)
    assert [r["id"] for r in by_type["Patient"]] == [patient_id]
    assert [r["subject"]["reference"] for r in by_type["Observation"]] == [f"Patient/{patient_id}"]


# --- Bulk Data STU3/4 on HAPI 8.8: POST with Parameters (what HAPI supports); the rest on tests/fhir/
# test_bulk_stu3.py's scripted server. HAPI serves `OperationDefinition/GroupPatient-its-export` on Patient (with
# `_typeFilter` and `patient`; no `_elements`, `organizeOutputBy`, `allowPartialManifests`), and its manifests
# have no `deleted` array (8.8's BulkExportResponseJson: transactionTime, request, requiresAccessToken, output,
# error).


def test_post_kick_off_with_parameters(hapi_r4: Any, loaded: dict[str, Any], tmp_path: Path) -> None:
    tag, ids = loaded["tag"], loaded["ids"]
    types = ("Patient", "Observation", "Condition")
    request = ExportRequest(types=types, type_filters=tuple(f"{kind}?_tag={tag}" for kind in types))
    result, _, requests = _export(hapi_r4, request, tmp_path / "out")

    kick_offs = [line for line in requests if "/$export" in line and "poll-status" not in line]
    assert kick_offs == [f"POST {hapi_r4.base_url}/Patient/$export"]  # no GET: HAPI took the Parameters body
    assert result.kick_off_method == "POST" and result.type_filters_sent
    by_type = _read(result)
    for kind in types:  # the same export a GET brings (test_patient_export_with_type_filter)
        assert sorted(r["id"] for r in by_type[kind]) == sorted(ids[kind])


def test_post_kick_off_narrowed_to_one_patient(hapi_r4: Any, loaded: dict[str, Any], tmp_path: Path) -> None:
    tag, ids = loaded["tag"], loaded["ids"]
    first = ids["Patient"][0]
    request = ExportRequest(types=("Observation", "Condition"), patients=(first,),
                            type_filters=(f"Observation?_tag={tag}", f"Condition?_tag={tag}"))
    result, _, _ = _export(hapi_r4, request, tmp_path / "out")

    by_type = _read(result)
    assert len(by_type["Observation"]) == OBSERVATIONS_PER_PATIENT[0]
    assert [r["id"] for r in by_type["Condition"]] == [ids["Condition"][0]]
    for resource in by_type["Observation"] + by_type["Condition"]:
        assert resource["subject"]["reference"] == f"Patient/{first}"


def test_what_hapi_does_not_declare_is_not_sent(hapi_r4: Any, loaded: dict[str, Any], tmp_path: Path) -> None:
    tag, ids = loaded["tag"], loaded["ids"]
    request = ExportRequest(types=("Observation",), type_filters=(f"Observation?_tag={tag}",),
                            elements=("Observation.code",), organize_by_patient=True, allow_partial_manifests=True)
    result, progress, _ = _export(hapi_r4, request, tmp_path / "out")

    for name in ("_elements", "organizeOutputBy", "allowPartialManifests"):
        assert f"the server does not declare {name}; exporting without it" in progress
    assert "the server did not organize the output by patient; files are by resource type" in progress
    assert result.kick_off_method == "POST" and result.type_filters_sent
    assert not result.elements_sent and not result.organized_by_patient and result.manifest_pages == 1
    observations = _read(result)["Observation"]
    assert sorted(r["id"] for r in observations) == sorted(ids["Observation"])
    assert all("valueQuantity" in r for r in observations)  # whole resources: nothing narrowed


def test_group_kick_off_is_get_on_hapi(hapi_r4: Any, loaded: dict[str, Any], tmp_path: Path) -> None:
    """HAPI lists the canonical IG definition (not one it serves) for Group/$export: nothing declared, so GET."""
    (group_id,) = loaded["ids"]["Group"]
    result, _, requests = _export(hapi_r4, ExportRequest(group=group_id, types=("Condition",)), tmp_path)
    assert result.kick_off_method == "GET"
    assert any(line.startswith(f"GET {hapi_r4.base_url}/Group/{group_id}/$export?") for line in requests)
    assert len(_read(result)["Condition"]) == 2


def test_hapi_reports_no_deleted_resources(hapi_r4: Any, tmp_path: Path) -> None:
    """A Condition deleted after `_since`: HAPI 8.8's manifest has no `deleted` array, so `result.deleted` is empty
    and the Condition is simply absent (the screening side cannot learn of the deletion from the export)."""
    import time
    from datetime import UTC, datetime

    tag = f"bulk-{uuid.uuid4().hex[:12]}"
    meta = {"tag": [{"system": "urn:trial-fhir-adapter:test", "code": tag}]}
    with FhirClient(hapi_r4.base_url) as client:
        patient = client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
            _entry(None, {"resourceType": "Patient", "meta": meta})]})["entry"][0]["response"]["location"]
        patient_ref = "/".join(patient.split("/")[:2])
        condition = client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [_entry(None, {
            "resourceType": "Condition", "meta": meta, "subject": {"reference": patient_ref},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}})]})
        condition_ref = "/".join(condition["entry"][0]["response"]["location"].split("/")[:2])
        time.sleep(1.1)
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        time.sleep(1.1)
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "DELETE", "url": condition_ref}}]})
    request = ExportRequest(since=since, types=("Condition",), type_filters=(f"Condition?_tag={tag}",))
    result, _, _ = _export(hapi_r4, request, tmp_path / "out")
    assert result.deleted == () and result.deleted_files == ()
    assert "Condition" not in _read(result)
