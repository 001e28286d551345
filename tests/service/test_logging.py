"""Issue 10 (9): logs hold no patient id, name, value or token at any level; request-derived text cannot forge a
line; one access line per request with the route's path template."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from adapter.service import ServiceSettings, create_app
from tests.service import SERVICE_PATH, hook_body
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

FHIR = "https://fhir.test/fhir"
PID = "pt-secret-4711"
NAME = "Zebulon Quixotefield"
TOKEN = "tok-SECRET-abc123"
LAB = "13.37"  # g/dL: a value no other number in the app's output looks like
SECRETS = (PID, NAME, TOKEN, LAB)


def _resources() -> list[dict[str, Any]]:
    patient = {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1960-05-01",
               "name": [{"text": NAME}]}
    hb = {"resourceType": "Observation", "id": "hb-1", "status": "final", "subject": {"reference": f"Patient/{PID}"},
          "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
          "effectiveDateTime": "2026-10-27T08:00:00Z",
          "valueQuantity": {"value": float(LAB), "unit": "g/dL", "system": "http://unitsofmeasure.org",
                            "code": "g/dL"}}
    return [patient, hb]


def _batch(request: httpx.Request) -> httpx.Response:
    sent = json.loads(request.content)["entry"]
    patient, hb = _resources()
    entries = [{"resource": patient, "response": {"status": "200 OK"}}]
    for n, _ in enumerate(sent[1:]):
        found = [hb] if n == 0 else []
        entries.append({"resource": {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                                     "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]},
                        "response": {"status": "200 OK"}})
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries},
                          headers={"Content-Type": "application/fhir+json"})


@pytest.fixture
def client() -> TestClient:
    settings = ServiceSettings(allow_unauthenticated=True, include_closed_trials=True, as_of=date(2026, 11, 1),
                               allowed_fhir_servers=(FHIR,))
    return TestClient(create_app(settings, CATALOG, warm=False))


def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the handler sees INFO from everyone (httpx included) …
    caplog.set_level(logging.DEBUG, logger="adapter")  # … and DEBUG from ours


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_a_hook_with_a_server_pull_and_an_evaluate_log_nothing_about_the_patient(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    _capture(caplog)
    with respx.mock(assert_all_called=True) as router:
        batch = router.post(FHIR + "/").mock(side_effect=_batch)
        body = hook_body(PID, fhirServer=FHIR, fhirAuthorization={
            "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
            "subject": "trial-eligibility"})
        answer = client.post(SERVICE_PATH, json=body)
    assert answer.status_code == 200, answer.text
    assert batch.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"  # the pull did happen
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in _resources()]}
    evaluated = client.post("/trials/NCT03320629/$evaluate", json=bundle)
    assert evaluated.status_code == 200 and PID in evaluated.text and LAB in evaluated.text  # answers have them
    lines = _lines(caplog)
    assert lines, "nothing was logged at all"
    for line in [*lines, caplog.text]:
        for secret in SECRETS:
            assert secret not in line, (secret, line)
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


def test_one_access_line_per_request_with_the_path_template(client: TestClient,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    _capture(caplog)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in _resources()]}
    assert client.post("/trials/NCT03320629/$evaluate", json=bundle).status_code == 200
    assert client.get("/trials/NCT99999999").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    access = [r.getMessage() for r in caplog.records if r.name == "adapter.service.access"]
    assert access[0].startswith("method=POST path=/trials/{nct}/$evaluate status=200 ms=")
    assert access[1].startswith("method=GET path=/trials/{nct} status=404 ms=")
    assert access[2].startswith("method=GET path=(no route) status=404 ms=")
    assert len(access) == 3
    assert not any("NCT03320629" in line or "NCT99999999" in line for line in _lines(caplog))


def test_request_text_with_a_newline_cannot_forge_a_log_line(client: TestClient,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    _capture(caplog)
    body = hook_body("p1", hookInstance="abc\nINFO adapter.service.cds: hook forged: 200, 9 cards")
    assert client.post(SERVICE_PATH, json=body).status_code == 412
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message, message
    assert any("abc\\x0aINFO" in line for line in _lines(caplog))
