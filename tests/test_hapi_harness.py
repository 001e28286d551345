"""The local HAPI FHIR JPA servers (R4 and R5) start and behave the way the adapter relies on.

Real servers, nothing mocked or skipped: if HAPI cannot be built or started these tests fail. Each server is
started once per session (R4 ~10-20 s, R5 ~30-50 s on 2 cores) and every test uses fresh identifiers, so tests
do not depend on each other or on their order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.hapi import HapiServer

pytestmark = [pytest.mark.hapi, pytest.mark.java]

LOINC = "http://loinc.org"
ID_SYSTEM = "https://example.org/trial-fhir-adapter/test-id"


@pytest.fixture
def fhir(hapi: HapiServer) -> Iterator[httpx.Client]:
    with hapi.client() as client:
        yield client


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _ok(resp: httpx.Response, *codes: int) -> dict[str, Any]:
    assert resp.status_code in (codes or (200,)), f"{resp.request.method} {resp.url}: {resp.status_code}\n{resp.text}"
    return resp.json()


def _search_total(fhir: httpx.Client, resource_type: str, **params: Any) -> int:
    bundle = _ok(fhir.get(resource_type, params={**params, "_total": "accurate"}))
    assert bundle["type"] == "searchset"
    return int(bundle["total"])


def _next_link(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)


def test_metadata_reports_fhir_version(hapi: HapiServer, fhir: httpx.Client) -> None:
    assert hapi.base_url.startswith("http://127.0.0.1:")
    assert hapi.base_url.endswith("/fhir")
    cs = _ok(fhir.get("metadata"))
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == hapi.fhir_release == {"R4": "4.0.1", "R5": "5.0.0"}[hapi.fhir_version]
    types = {r["type"] for r in cs["rest"][0]["resource"]}
    needed = {
        "Patient",
        "Observation",
        "Condition",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationAdministration",
        "Procedure",
        "AllergyIntolerance",
        "ResearchStudy",
        "PlanDefinition",
        "ActivityDefinition",
        "EvidenceVariable",
        "Group",
        "Organization",
        "Bundle",
    }
    assert needed <= types, needed - types
    # HAPI lists only "transaction"; batch Bundles go to the same endpoint (see the batch test below).
    assert "transaction" in {i["code"] for i in cs["rest"][0].get("interaction", [])}


def test_transaction_conditional_create_is_idempotent(fhir: httpx.Client) -> None:
    mrn = _unique("mrn")
    patient_url = f"urn:uuid:{uuid.uuid4()}"

    def transaction() -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": patient_url,
                    "resource": {"resourceType": "Patient", "identifier": [{"system": ID_SYSTEM, "value": mrn}]},
                    "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={ID_SYSTEM}|{mrn}"},
                },
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": {
                        "resourceType": "Condition",
                        "subject": {"reference": patient_url},
                        "code": {"text": "type 2 diabetes"},
                    },
                    "request": {"method": "POST", "url": "Condition"},
                },
            ],
        }

    first = _ok(fhir.post("", json=transaction()))
    second = _ok(fhir.post("", json=transaction()))
    assert first["type"] == second["type"] == "transaction-response"
    assert first["entry"][0]["response"]["status"].startswith("201")
    assert second["entry"][0]["response"]["status"].startswith("200")  # matched, not created again
    patient_id = first["entry"][0]["response"]["location"].split("/")[1]
    assert second["entry"][0]["response"]["location"].split("/")[1] == patient_id

    assert _search_total(fhir, "Patient", identifier=f"{ID_SYSTEM}|{mrn}") == 1
    # Both Conditions point at the one Patient: the urn:uuid reference was rewritten to the real id.
    conditions = _ok(fhir.get("Condition", params={"patient": patient_id}))
    assert len(conditions["entry"]) == 2
    for entry in conditions["entry"]:
        assert entry["resource"]["subject"]["reference"] == f"Patient/{patient_id}"


def test_conditional_update_creates_then_updates(hapi: HapiServer, fhir: httpx.Client) -> None:
    nct = _unique("NCT")
    study = {
        "resourceType": "ResearchStudy",
        "status": "active",
        "identifier": [{"system": ID_SYSTEM, "value": nct}],
        "title": "first title",
    }
    url = f"ResearchStudy?identifier={ID_SYSTEM}|{nct}"
    created = _ok(fhir.put(url, json=study), 201)
    study["title"] = "second title"
    updated = _ok(fhir.put(url, json=study), 200)
    assert updated["id"] == created["id"]
    assert updated["meta"]["versionId"] == "2"
    assert updated["title"] == "second title"
    assert _search_total(fhir, "ResearchStudy", identifier=f"{ID_SYSTEM}|{nct}") == 1


def test_search_paging_follows_next_links(fhir: httpx.Client) -> None:
    patient = _ok(fhir.post("Patient", json={"resourceType": "Patient"}), 201)
    code = _unique("code")
    for day in range(1, 6):
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "effectiveDateTime": f"2024-03-0{day}",
        }
        _ok(fhir.post("Observation", json=observation), 201)

    params = {"patient": patient["id"], "code": f"{LOINC}|{code}", "_count": 2, "_sort": "-date"}
    bundle = _ok(fhir.get("Observation", params=params))
    pages, dates = 0, []
    while True:
        pages += 1
        assert len(bundle.get("entry", [])) <= 2
        dates += [entry["resource"]["effectiveDateTime"] for entry in bundle.get("entry", [])]
        next_url = _next_link(bundle)
        if next_url is None:
            break
        assert next_url.startswith(fhir.base_url.scheme + "://127.0.0.1:")
        bundle = _ok(fhir.get(next_url))
    assert pages == 3
    assert dates == [f"2024-03-0{day}" for day in range(5, 0, -1)]  # _sort=-date, newest first


def test_batch_of_searches_returns_one_searchset_per_entry(fhir: httpx.Client) -> None:
    mrn = _unique("mrn")
    patient = _ok(
        fhir.post("Patient", json={"resourceType": "Patient", "identifier": [{"system": ID_SYSTEM, "value": mrn}]}),
        201,
    )
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient['id']}"}}
    _ok(fhir.post("Condition", json=condition), 201)
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Patient?identifier={ID_SYSTEM}|{mrn}"}},
            {"request": {"method": "GET", "url": f"Condition?patient={patient['id']}&_count=10"}},
        ],
    }
    response = _ok(fhir.post("", json=batch))
    assert response["type"] == "batch-response"
    assert len(response["entry"]) == 2
    for entry in response["entry"]:
        assert entry["response"]["status"].startswith("200")
        assert entry["resource"]["resourceType"] == "Bundle"
        assert entry["resource"]["type"] == "searchset"
        assert len(entry["resource"]["entry"]) == 1
    assert response["entry"][0]["resource"]["entry"][0]["resource"]["id"] == patient["id"]


def test_validate_operation_reports_errors(fhir: httpx.Client) -> None:
    # HAPI answers $validate with 200 and an OperationOutcome; problems are issues of severity error.
    outcome = _ok(fhir.post("Observation/$validate", json={"resourceType": "Observation", "status": "final"}))
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert any("Observation.code" in i.get("diagnostics", "") for i in errors), outcome

    valid = {"resourceType": "Patient", "name": [{"family": "Doe"}], "birthDate": "1970-01-01"}
    outcome = _ok(fhir.post("Patient/$validate", json=valid))
    assert not [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")], outcome
