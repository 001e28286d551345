"""The CDS Hooks service as an EHR would use it: discovery, prefetch filled from a real HAPI R4 server, a signed
ES384 token, the cards; the fhirServer path; 412s; request validation and limits."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.catalog import TrialCatalog
from adapter.evaluation import observation_codes
from adapter.render.cards import md
from adapter.service import create_app, load_settings
from adapter.service.patient_data import fhir_server_allowed
from tests.fhir.test_against_hapi import _as_transaction
from tests.service import (
    ISS,
    SERVICE_PATH,
    Signer,
    fixture_bundle,
    fixture_prefetch,
    hook_body,
    patient_id,
    write_jwks,
)
from tests.support.hapi import HapiServer
from tests.support.prefetch import prefetch_from_resources
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
NAMES = ("p-eligible-us-units", "p-prior-bevacizumab", "p-missing-platelets")
EHR = Signer("ES384", "ehr-key-1")


@pytest.fixture(scope="module")
def jwks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jwks(tmp_path_factory.mktemp("cds") / "ehr.jwks.json", EHR)


def _client(jwks: Path, *, servers: tuple[str, ...] = (), closed: bool = True, **extra: Any) -> TestClient:
    settings = load_settings(trusted_clients=[f"{ISS}={jwks}"], allowed_fhir_servers=servers,
                             include_closed_trials=closed, as_of=AS_OF, environ={}, **extra)
    return TestClient(create_app(settings, CATALOG))


@pytest.fixture(scope="module")
def loaded(hapi_r4: HapiServer) -> HapiServer:
    with hapi_r4.client(timeout=120) as http:
        for name in NAMES:
            answer = http.post("", json=_as_transaction(fixture_bundle(name)))
            assert answer.status_code == 200, f"{name}: {answer.text[:2000]}"
    return hapi_r4


@pytest.fixture(scope="module")
def cds(jwks: Path, loaded: HapiServer) -> TestClient:
    return _client(jwks, servers=(loaded.base_url,))


def _post(client: TestClient, body: Any, **kwargs: Any) -> Any:
    return client.post(SERVICE_PATH, json=body, headers=EHR.headers(), **kwargs)


def _prefetch_from_hapi(client: TestClient, hapi: HapiServer, pid: str) -> dict[str, Any]:
    """What an EHR does: read discovery, fill each template with the patient id, run it on its FHIR server."""
    service = next(s for s in client.get("/cds-services").json()["services"] if s["id"] == "trial-eligibility")
    prefetch = {}
    with hapi.client() as http:
        for key, template in service["prefetch"].items():
            answer = http.get(template.replace("{{context.patientId}}", pid))
            assert answer.status_code == 200, answer.text[:500]
            prefetch[key] = answer.json()
    return prefetch


def _comparable(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in card.items() if k != "uuid"} for card in cards]


@pytest.mark.hapi
@pytest.mark.java
def test_discovery_asks_for_exactly_what_the_engine_reads(cds: TestClient, catalog: TrialCatalog) -> None:
    (service,) = cds.get("/cds-services").json()["services"]
    assert service["hook"] == "patient-view" and service["id"] == "trial-eligibility"
    assert service["title"] and service["description"]
    prefetch = service["prefetch"]
    codes = ",".join(observation_codes(catalog.all()))
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert prefetch["observations"] == (f"Observation?patient={{{{context.patientId}}}}&code={codes}"
                                        "&_sort=-date&_count=200")
    assert "http://loinc.org|85354-9" in prefetch["observations"]  # the BP panel
    assert prefetch["conditions"] == "Condition?patient={{context.patientId}}&_count=200"
    assert prefetch["allergies"] == "AllergyIntolerance?patient={{context.patientId}}&_count=200"
    assert set(prefetch) == {"patient", "observations", "conditions", "medicationStatements", "medicationRequests",
                             "medicationAdministrations", "procedures", "allergies"}


@pytest.mark.hapi
@pytest.mark.java
def test_eligible_patient_gets_two_info_cards(cds: TestClient, loaded: HapiServer) -> None:
    pid = patient_id(fixture_bundle("p-eligible-us-units"))
    answer = _post(cds, hook_body(pid, _prefetch_from_hapi(cds, loaded, pid)))
    assert answer.status_code == 200, answer.text[:500]
    body = answer.json()
    assert body["systemActions"] == []
    cards = body["cards"]
    assert [c["indicator"] for c in cards] == ["info", "info"]
    assert {c["source"]["url"] for c in cards} == {"https://clinicaltrials.gov/study/NCT03320629",
                                                   "https://clinicaltrials.gov/study/NCT03787251"}
    for card in cards:
        assert len(card["summary"]) < 140
        assert "potentially eligible" in card["summary"] and "criteria to review" in card["summary"]
        assert "(not recruiting: " in card["summary"]
        assert card["source"]["label"] == "trial-fhir-adapter"
        assert card["links"][0]["type"] == "absolute" and card["links"][0]["url"].startswith("https://clinicaltrials")
        assert "✔ **inc-age**" in card["detail"]
        assert "Tests that would settle it" not in card["detail"]
    assert "(not recruiting: WITHDRAWN)" in next(c["summary"] for c in cards if "NCT03787251" in c["summary"])
    hb = next(line for line in cards[0]["detail"].splitlines() if "**inc-hemoglobin**" in line)
    assert "13.2 g/dL (= 132 g/L), 2026-10-27" in hb  # evidence value, normalised value and date


@pytest.mark.hapi
@pytest.mark.java
def test_ineligible_patient_gets_no_cards(cds: TestClient, loaded: HapiServer) -> None:
    pid = patient_id(fixture_bundle("p-prior-bevacizumab"))
    answer = _post(cds, hook_body(pid, _prefetch_from_hapi(cds, loaded, pid)))
    assert answer.status_code == 200 and answer.json() == {"cards": [], "systemActions": []}


@pytest.mark.hapi
@pytest.mark.java
def test_missing_platelets_gives_warning_cards_naming_the_test(cds: TestClient, loaded: HapiServer) -> None:
    pid = patient_id(fixture_bundle("p-missing-platelets"))
    answer = _post(cds, hook_body(pid, _prefetch_from_hapi(cds, loaded, pid)))
    cards = answer.json()["cards"]
    assert [c["indicator"] for c in cards] == ["warning", "warning"]
    for card in cards:
        assert "1 criterion needs data" in card["summary"]
        settle = card["detail"].split("### Tests that would settle it", 1)[1].split("###", 1)[0]
        assert "Platelet count" in settle and "777-3" in settle
        assert "? **inc-platelets**" in card["detail"]


@pytest.mark.hapi
@pytest.mark.java
@pytest.mark.parametrize("name", NAMES)
def test_fhir_server_path_gives_the_same_cards(cds: TestClient, loaded: HapiServer, name: str) -> None:
    pid = patient_id(fixture_bundle(name))
    from_prefetch = _post(cds, hook_body(pid, _prefetch_from_hapi(cds, loaded, pid))).json()["cards"]
    body = hook_body(pid, fhirServer=loaded.base_url,
                     fhirAuthorization={"access_token": "opaque-token", "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": "trial-eligibility"})
    from_server = _post(cds, body)
    assert from_server.status_code == 200, from_server.text[:500]
    assert _comparable(from_server.json()["cards"]) == _comparable(from_prefetch)


@pytest.mark.hapi
@pytest.mark.java
def test_local_prefetch_gives_the_same_cards_as_hapi(cds: TestClient, loaded: HapiServer) -> None:
    pid, local = fixture_prefetch("p-missing-platelets")
    from_hapi = _post(cds, hook_body(pid, _prefetch_from_hapi(cds, loaded, pid))).json()["cards"]
    assert _comparable(_post(cds, hook_body(pid, local)).json()["cards"]) == _comparable(from_hapi)


@pytest.mark.hapi
@pytest.mark.java
def test_null_prefetch_value_is_fetched_from_an_allowed_server(cds: TestClient, loaded: HapiServer) -> None:
    pid, prefetch = fixture_prefetch("p-missing-platelets")
    expected = _post(cds, hook_body(pid, prefetch)).json()["cards"]
    prefetch["observations"] = None
    assert _post(cds, hook_body(pid, prefetch)).status_code == 412
    answer = _post(cds, hook_body(pid, prefetch, fhirServer=loaded.base_url))
    assert answer.status_code == 200
    assert _comparable(answer.json()["cards"]) == _comparable(expected)


@pytest.mark.hapi
@pytest.mark.java
@pytest.mark.parametrize("change", ["null", "OperationOutcome", "paged", "total", "not-a-bundle"])
def test_prefetch_that_lacks_data_and_no_server_is_412(cds: TestClient, change: str) -> None:
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    if change == "null":
        prefetch["conditions"] = None
    elif change == "OperationOutcome":
        prefetch["conditions"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                                 "code": "forbidden"}]}
    elif change == "paged":
        prefetch["conditions"]["link"] = [{"relation": "next", "url": "http://ehr.example/fhir?page=2"}]
    elif change == "total":  # the EHR says one match but sent none: a hidden entry could pass an exclusion
        prefetch["conditions"] = {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": []}
    else:  # a resource where a search result belongs
        prefetch["conditions"] = {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{pid}"}}
    answer = _post(cds, hook_body(pid, prefetch))
    assert answer.status_code == 412 and "conditions" in answer.json()["error"]


@pytest.mark.hapi
@pytest.mark.java
def test_fhir_server_not_on_the_allow_list_is_412(cds: TestClient, loaded: HapiServer) -> None:
    pid = patient_id(fixture_bundle("p-eligible-us-units"))
    for server in ("https://evil.example/fhir", loaded.base_url.replace("127.0.0.1", "localhost"),
                   loaded.base_url.rsplit("/", 1)[0] + "/other"):
        answer = _post(cds, hook_body(pid, fhirServer=server))
        assert answer.status_code == 412 and "allow-list" in answer.json()["error"], server


@pytest.mark.hapi
@pytest.mark.java
def test_no_prefetch_and_no_fhir_server_is_412(cds: TestClient) -> None:
    answer = _post(cds, hook_body("p-eligible-us-units"))
    assert answer.status_code == 412
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    del prefetch["procedures"]  # partial prefetch, no server
    assert _post(cds, hook_body(pid, prefetch)).status_code == 412


@pytest.mark.hapi
@pytest.mark.java
def test_unknown_patient_on_the_server_is_412(cds: TestClient, loaded: HapiServer) -> None:
    answer = _post(cds, hook_body("no-such-patient", fhirServer=loaded.base_url))
    assert answer.status_code == 412


def test_closed_trials_give_no_cards_without_the_flag(jwks: Path) -> None:
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    with _client(jwks, closed=False) as client:
        answer = _post(client, hook_body(pid, prefetch))
    assert answer.status_code == 200 and answer.json()["cards"] == []


@pytest.mark.hapi
@pytest.mark.java
def test_prefetch_of_another_patient_is_refused(cds: TestClient) -> None:
    _, prefetch = fixture_prefetch("p-eligible-us-units")
    answer = _post(cds, hook_body("someone-else", prefetch))
    assert answer.status_code == 400 and "context.patientId" in answer.json()["error"]
    # the right Patient, but results of another patient mixed in
    pid, mixed = fixture_prefetch("p-eligible-us-units")
    _, other = fixture_prefetch("p-missing-platelets")
    mixed["observations"]["entry"] += other["observations"]["entry"]
    answer = _post(cds, hook_body(pid, mixed))
    assert answer.status_code == 400 and "another patient" in answer.json()["error"]


@pytest.mark.hapi
@pytest.mark.java
def test_prefetch_values_may_be_plain_resources_or_bundles(cds: TestClient) -> None:
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    expected = _comparable(_post(cds, hook_body(pid, prefetch)).json()["cards"])
    prefetch["patient"] = {"resourceType": "Bundle", "type": "searchset",
                           "entry": [{"resource": prefetch["patient"]}]}
    assert _comparable(_post(cds, hook_body(pid, prefetch)).json()["cards"]) == expected


@pytest.mark.hapi
@pytest.mark.java
@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({"hook": "order-select", "hookInstance": "x", "context": {"patientId": "p"}}).encode(), "hook"),
    (json.dumps({"hook": "patient-view", "context": {"patientId": "p"}}).encode(), "hookInstance"),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {}}).encode(), "patientId"),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "a/../b"}}).encode(),
     "patientId"),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"},
                 "prefetch": {"patient": "Patient/p"}}).encode(), "prefetch"),
])
def test_bad_requests_are_400(cds: TestClient, content: bytes, reason: str) -> None:
    answer = cds.post(SERVICE_PATH, content=content,
                      headers={**EHR.headers(), "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["error"]


def test_oversized_body_is_413(jwks: Path) -> None:
    with _client(jwks, max_body_bytes=10_000) as client:
        big = json.dumps(hook_body("p1", {"padding": "x" * 20_000})).encode()
        answer = client.post(SERVICE_PATH, content=big, headers={**EHR.headers(), "Content-Type": "application/json"})
        assert answer.status_code == 413 and "larger than" in answer.json()["error"]

        def chunks() -> Any:  # no Content-Length: counted while reading
            for start in range(0, len(big), 4096):
                yield big[start:start + 4096]

        headers = {**EHR.headers(), "Content-Type": "application/json"}
        assert client.post(SERVICE_PATH, content=chunks(), headers=headers).status_code == 413
        assert _post(client, hook_body("p1", {})).status_code == 412  # small bodies still pass


def test_allow_list_matching() -> None:
    allowed = ("https://fhir.example.org/r4", "http://127.0.0.1:8080/fhir")
    assert fhir_server_allowed("https://fhir.example.org/r4", allowed)
    assert fhir_server_allowed("https://fhir.example.org/r4/", allowed)
    assert fhir_server_allowed("https://fhir.example.org/r4/tenant-a", allowed)
    assert fhir_server_allowed("http://127.0.0.1:8080/fhir", allowed)
    for refused in ("https://fhir.example.org/r4x", "https://fhir.example.org.evil.com/r4", "http://fhir.example.org/r4",
                    "https://fhir.example.org:8443/r4", "https://user@fhir.example.org/r4", "http://127.0.0.1:8081/fhir",
                    "not a url", "file:///etc/passwd", "https://fhir.example.org/r4/%2e%2e/admin",
                    "https://fhir.example.org/r4/%2E%2E/admin", "https://fhir.example.org/r4/../admin"):
        assert not fhir_server_allowed(refused, allowed), refused


def test_markdown_from_records_and_patient_data_is_inert() -> None:
    assert md("**bold** <script>alert(1)</script> [x](javascript:1)") == (
        "\\*\\*bold\\*\\* \\<script\\>alert(1)\\</script\\> \\[x\\]\\(javascript\\:1)")
    assert md("a\n\n# heading") == "a \\# heading"


def test_prefetch_from_resources_shape() -> None:
    bundle = fixture_bundle("p-eligible-us-units")
    prefetch = prefetch_from_resources(e["resource"] for e in bundle["entry"])
    assert prefetch["patient"]["resourceType"] == "Patient"
    assert prefetch["observations"]["type"] == "searchset" and prefetch["observations"]["entry"]
