"""The REST API: health, trials, a trial as FHIR, `$evaluate`; errors as OperationOutcome; and a property-based
run of schemathesis over the API's own OpenAPI (no generated input may cause a 5xx)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.fhir_build import build_bundle
from adapter.render.report import report_json
from adapter.service import ServiceSettings, create_app
from tests.service import PATIENTS, fixture_bundle
from tests.support.trials import CATALOG, TRIAL_IDS

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
APP = create_app(ServiceSettings(allow_unauthenticated=True, include_closed_trials=True, as_of=AS_OF,
                                 max_body_bytes=1024 * 1024), CATALOG)
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(APP)


def _outcome(answer: Any, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["severity"] == "error" and issue["code"] == code
    return issue["diagnostics"]


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_trials(client: TestClient) -> None:
    trials = client.get("/trials").json()
    assert [t["id"] for t in trials] == TRIAL_IDS
    by_id = {t["id"]: t for t in trials}
    assert by_id["NCT03787251"] == {"id": "NCT03787251", "title": CATALOG.get("NCT03787251").record.brief_title,
                                    "status": "WITHDRAWN", "recruiting": False, "draft": False}


def test_trials_name_a_draft(tmp_path: Path) -> None:
    from adapter.catalog import load_catalog
    from tests.render.drafted import NCT, drafted_site

    catalog = load_catalog([drafted_site(tmp_path / "site")])
    app = create_app(ServiceSettings(allow_unauthenticated=True, as_of=AS_OF), catalog, warm=False)
    with TestClient(app) as client:
        drafts = {t["id"]: t["draft"] for t in client.get("/trials").json()}
    assert drafts == {NCT: True, **{nct: False for nct in TRIAL_IDS if nct != NCT}}


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_trial_bundle(client: TestClient, version: str) -> None:
    answer = client.get("/trials/NCT03320629", params={"fhirVersion": version})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(FHIR_JSON)
    assert answer.json() == build_bundle(CATALOG.get("NCT03320629"), version)  # type: ignore[arg-type]
    assert client.get("/trials/nct03320629").json() == build_bundle(CATALOG.get("NCT03320629"), "R5")


def test_trial_errors(client: TestClient) -> None:
    assert "NCT00000000" in _outcome(client.get("/trials/NCT00000000"), 404, "not-found")
    assert "fhirVersion" in _outcome(client.get("/trials/NCT03320629?fhirVersion=R3"), 422, "invalid")
    _outcome(client.get("/no-such-path"), 404, "not-found")
    _outcome(client.delete("/trials"), 405, "not-supported")


@pytest.mark.parametrize("name", ["p-eligible-us-units", "p-missing-platelets", "p-prior-bevacizumab",
                                  "p-eligible-si-units"])
@pytest.mark.parametrize("nct", TRIAL_IDS)
def test_evaluate_gives_the_core_report(client: TestClient, name: str, nct: str) -> None:
    bundle = fixture_bundle(name)
    answer = client.post(f"/trials/{nct}/$evaluate", params={"asOf": "2026-11-01"}, json=bundle)
    assert answer.status_code == 200, answer.text[:500]
    expected = report_json(evaluate_trial(CATALOG.get(nct), facts_from_bundle(bundle, CATALOG.units), AS_OF))
    assert answer.json() == expected


def test_evaluate_defaults_to_the_configured_date(client: TestClient) -> None:
    bundle = fixture_bundle("p-eligible-us-units")
    assert client.post("/trials/NCT03320629/$evaluate", json=bundle).json()["as_of"] == "2026-11-01"
    later = client.post("/trials/NCT03320629/$evaluate?asOf=2027-06-01", json=bundle).json()
    assert later["as_of"] == "2027-06-01" and later["verdict"] == "insufficient-data"  # results too old by then


def test_evaluate_errors(client: TestClient) -> None:
    url = "/trials/NCT03320629/$evaluate"
    assert "not JSON" in _outcome(client.post(url, content=b"{nope"), 400, "invalid")
    not_fhir = json.loads((PATIENTS / "p-not-fhir.json").read_text())
    _outcome(client.post(url, json=not_fhir), 400, "invalid")
    assert "more than one Patient" in _outcome(client.post(url, json=fixture_bundle("p-two-patients")), 400, "invalid")
    _outcome(client.post(url, json=[1, 2]), 400, "invalid")
    _outcome(client.post(url, json={"resourceType": "Bundle", "type": "collection"}), 400, "invalid")
    assert "asOf" in _outcome(client.post(url + "?asOf=yesterday", json=fixture_bundle("p-hiv")), 422, "invalid")
    _outcome(client.post("/trials/NCT00000000/$evaluate", json=fixture_bundle("p-hiv")), 404, "not-found")
    too_large = b'{"resourceType": "Bundle", "entry": [' + b" " * (1024 * 1024) + b"]}"
    _outcome(client.post(url, content=too_large), 413, "too-long")


def test_optional_api_token() -> None:
    app = create_app(ServiceSettings(allow_unauthenticated=True, api_token="s3cret"), CATALOG)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        answer = client.get("/trials")
        _outcome(answer, 401, "security")
        assert answer.headers["www-authenticate"] == "Bearer"
        _outcome(client.get("/trials", headers={"Authorization": "Bearer wrong"}), 401, "security")
        assert client.get("/trials", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/trials", "/trials/{nct}", "/trials/{nct}/$evaluate", "/cds-services",
            "/cds-services/trial-eligibility", "/cds-services/trial-eligibility/feedback"} <= set(paths)
    assert client.get("/docs").status_code == 200


# -- property-based: schemathesis over the REST API ------------------------------------------------------------------

SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP).include(tag="REST API")


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
def test_rest_api_never_answers_5xx(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])


@pytest.mark.parametrize("nct", TRIAL_IDS)
def test_evaluate_a_deceased_patient_is_ineligible(client: TestClient, nct: str) -> None:
    bundle = fixture_bundle("p-eligible-us-units")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["deceasedDateTime"] = "2026-10-30T10:00:00Z"
    answer = client.post(f"/trials/{nct}/$evaluate", params={"asOf": "2026-11-01"}, json=bundle).json()
    assert answer["verdict"] == "ineligible"
    assert answer["criteria"][0] == {**answer["criteria"][0], "id": "record-deceased", "result": "fail",
                                     "reason": "recorded as deceased on 2026-10-30"}
