"""CDS Hooks client authentication: every way a token can be wrong is a 401; ES384 and RS384 tokens pass."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from adapter.errors import AdapterError
from adapter.service import create_app, load_settings
from adapter.service.settings import ServiceSettings, load_jwks
from tests.service import (
    AUD,
    DROP,
    ISS,
    SERVICE_PATH,
    Signer,
    b64url,
    fixture_prefetch,
    good_claims,
    hook_body,
    unsigned_parts,
    write_jwks,
)
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

ES = Signer("ES384", "es-1")
RS = Signer("RS384", "rs-1")


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jwks(tmp_path_factory.mktemp("jwks") / "ehr.jwks.json", ES, RS)


@pytest.fixture(scope="module")
def client(jwks_file: Path) -> TestClient:
    settings = load_settings(trusted_clients=[f"{ISS}={jwks_file}"], include_closed_trials=True,
                             as_of=date(2026, 11, 1), environ={})
    return TestClient(create_app(settings, CATALOG))


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    pid, prefetch = fixture_prefetch("p-eligible-us-units")
    return hook_body(pid, prefetch)


def _hs256_with_public_key() -> str:
    public_pem = ES.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = unsigned_parts({"alg": "HS256", "kid": ES.kid, "typ": "JWT"}, good_claims())
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _bad_signature() -> str:
    impostor = Signer("ES384", ES.kid)  # same kid, another key
    return impostor.token()


def _tampered() -> str:
    header, _, signature = ES.token().split(".")
    claims = good_claims()
    claims["sub"] = "someone-else"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


BAD_TOKENS = {
    "malformed": lambda: "not-a-jwt",
    "three garbage parts": lambda: "a.b.c",
    "alg none": lambda: unsigned_parts({"alg": "none", "kid": ES.kid}, good_claims()) + ".",
    "alg None": lambda: unsigned_parts({"alg": "None", "kid": ES.kid}, good_claims()) + ".",
    "HS256 with the public key as secret": _hs256_with_public_key,
    "RS256": lambda: RS.token(alg="RS256"),
    "ES256 header on an ES384 key": lambda: unsigned_parts({"alg": "ES256", "kid": ES.kid}, good_claims()) + ".x",
    "ES384 header naming an RSA key": lambda: unsigned_parts({"alg": "ES384", "kid": RS.kid}, good_claims()) + ".x",
    "no kid": lambda: ES.token(kid=DROP),
    "empty kid": lambda: ES.token(kid=""),
    "unknown iss": lambda: Signer("ES384", ES.kid, iss="https://evil.example").token(),
    "unknown kid": lambda: ES.token(kid="nope"),
    "bad signature": _bad_signature,
    "tampered payload": _tampered,
    "wrong aud": lambda: ES.token(aud="https://other.example/cds-services/trial-eligibility"),
    "aud of another service path": lambda: ES.token(aud="http://testserver/cds-services/other"),
    "expired": lambda: ES.token(exp=int(time.time()) - 300, iat=int(time.time()) - 600),
    "missing exp": lambda: ES.token(exp=DROP),
    "missing iat": lambda: ES.token(iat=DROP),
    "iat in the future": lambda: ES.token(iat=int(time.time()) + 600, exp=int(time.time()) + 900),
    "missing jti": lambda: ES.token(jti=DROP),
    "missing aud": lambda: ES.token(aud=DROP),
    "lifetime too long": lambda: ES.token(exp=int(time.time()) + 30 * 86400),
    "alg as a list": lambda: unsigned_parts({"alg": ["ES384"], "kid": ES.kid}, good_claims()) + ".x",
    "kid as an object": lambda: unsigned_parts({"alg": "ES384", "kid": {"k": 1}}, good_claims()) + ".x",
    "issued ten days ago": lambda: ES.token(iat=int(time.time()) - 10 * 86400),
}


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_bad_tokens_are_401(client: TestClient, body: dict[str, Any], make: Any) -> None:
    answer = client.post(SERVICE_PATH, json=body, headers={"Authorization": f"Bearer {make()}"})
    assert answer.status_code == 401, answer.text[:300]
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"] and len(answer.json()["error"]) < 100


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
                         ids=["missing", "basic", "empty bearer"])
def test_missing_token_is_401(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> None:
    answer = client.post(SERVICE_PATH, json=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "missing bearer token"}


@pytest.mark.parametrize("signer", [ES, RS], ids=["ES384", "RS384"])
def test_good_tokens_pass(client: TestClient, body: dict[str, Any], signer: Signer) -> None:
    answer = client.post(SERVICE_PATH, json=body, headers=signer.headers())
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["cards"]) == 2


def test_aud_as_a_list_holding_the_endpoint_passes(client: TestClient, body: dict[str, Any]) -> None:
    answer = client.post(SERVICE_PATH, json=body, headers=ES.headers(aud=[AUD, "https://x.example"]))
    assert answer.status_code == 200, answer.text


def test_replayed_jti_is_401(client: TestClient, body: dict[str, Any]) -> None:
    token = ES.token()
    first = client.post(SERVICE_PATH, json=body, headers={"Authorization": f"Bearer {token}"})
    second = client.post(SERVICE_PATH, json=body, headers={"Authorization": f"Bearer {token}"})
    assert first.status_code == 200
    assert second.status_code == 401 and "replayed" in second.json()["error"]


def test_auth_is_checked_before_the_body(client: TestClient) -> None:
    answer = client.post(SERVICE_PATH, content=b"{not json")
    assert answer.status_code == 401


def test_discovery_is_open(client: TestClient) -> None:
    assert client.get("/cds-services").status_code == 200


def test_feedback_needs_a_token_and_is_stored(client: TestClient) -> None:
    feedback = {"feedback": [{"card": "c0ffee", "outcome": "overridden", "outcomeTimestamp": "2026-11-01T10:00:00Z",
                              "overrideReason": {"reason": {"code": "not-relevant"}}}]}
    url = SERVICE_PATH + "/feedback"
    assert client.post(url, json=feedback).status_code == 401
    answer = client.post(url, json=feedback, headers=ES.headers(aud="http://testserver" + url))
    assert answer.status_code == 200, answer.text
    assert client.app.state.feedback.recent(1)[-1]["card"] == "c0ffee"
    # the service URL as audience is accepted for feedback too
    assert client.post(url, json=feedback, headers=ES.headers()).status_code == 200
    assert client.post(url, json={"feedback": []}, headers=ES.headers()).status_code == 400


def test_public_base_url_sets_the_audience(jwks_file: Path, body: dict[str, Any]) -> None:
    public = "https://cds.hospital.example/trials"
    settings = load_settings(trusted_clients=[f"{ISS}={jwks_file}"], public_base_url=public + "/",
                             include_closed_trials=True, as_of=date(2026, 11, 1), environ={})
    with TestClient(create_app(settings, CATALOG)) as client:
        assert client.post(SERVICE_PATH, json=body, headers=ES.headers()).status_code == 401
        answer = client.post(SERVICE_PATH, json=body, headers=ES.headers(aud=public + SERVICE_PATH))
        assert answer.status_code == 200, answer.text


def test_no_trusted_client_refuses_everything(body: dict[str, Any]) -> None:
    with TestClient(create_app(ServiceSettings(), CATALOG)) as client:
        assert client.post(SERVICE_PATH, json=body, headers=ES.headers()).status_code == 401


def test_unauthenticated_mode_needs_no_token(body: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        app = create_app(ServiceSettings(allow_unauthenticated=True, include_closed_trials=True,
                                         as_of=date(2026, 11, 1)), CATALOG)
    assert "authentication is OFF" in caplog.text
    with TestClient(app) as client:
        assert client.post(SERVICE_PATH, json=body).status_code == 200


def test_hook_logs_hold_no_patient_data(client: TestClient, body: dict[str, Any],
                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG"):
        assert client.post(SERVICE_PATH, json=body, headers=ES.headers()).status_code == 200
    assert "200, 2 cards" in caplog.text
    assert body["context"]["patientId"] not in caplog.text


# -- settings ------------------------------------------------------------------------------------------------------


def test_trusted_clients_from_the_environment_and_urls(jwks_file: Path) -> None:
    with respx.mock:
        respx.get("https://ehr2.example/jwks").mock(return_value=httpx.Response(200, json={"keys": [RS.jwk]}))
        settings = load_settings(environ={
            "TRIAL_ADAPTER_TRUSTED_CLIENTS": f"{ISS}={jwks_file}, https://ehr2.example=https://ehr2.example/jwks",
            "TRIAL_ADAPTER_ALLOWED_FHIR_SERVERS": "https://fhir.example/r4/,http://127.0.0.1:8080/fhir"})
    assert set(settings.trusted_clients) == {ISS, "https://ehr2.example"}
    assert settings.allowed_fhir_servers == ("https://fhir.example/r4", "http://127.0.0.1:8080/fhir")


@pytest.mark.parametrize("spec", ["no-equals", "=path", "iss=", "iss=/no/such/file"])
def test_bad_trusted_client_values_are_errors(spec: str) -> None:
    with pytest.raises(AdapterError):
        load_settings(trusted_clients=[spec], environ={})


def test_bad_jwks_contents_are_errors(tmp_path: Path) -> None:
    for content in ("[]", '{"keys": []}', "not json"):
        path = tmp_path / "k.json"
        path.write_text(content)
        with pytest.raises(AdapterError):
            load_jwks(str(path))
    path = tmp_path / "nokid.json"
    path.write_text(json.dumps({"keys": [{k: v for k, v in ES.jwk.items() if k != "kid"}]}))
    with pytest.raises(AdapterError, match="kid"):
        create_app(load_settings(trusted_clients=[f"{ISS}={path}"], environ={}), CATALOG)
    p256 = Signer("ES256", "p256")
    write_jwks(path, p256)
    with pytest.raises(AdapterError, match="P-384"):
        create_app(load_settings(trusted_clients=[f"{ISS}={path}"], environ={}), CATALOG)


def test_serve_with_a_bad_trusted_client_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from adapter.cli import main

    assert main(["serve", "--trusted-client", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ISS=JWKS" in err


# -- JWKS by URL: key rotation -------------------------------------------------------------------------------------

JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"


def _rotating_client(**limits: Any) -> TestClient:
    settings = load_settings(trusted_clients=[f"{ISS}={JWKS_URL}"], include_closed_trials=True,
                             as_of=date(2026, 11, 1), environ={}, **limits)
    return TestClient(create_app(settings, CATALOG, warm=False))


def test_an_unknown_kid_refreshes_the_jwks_once_a_minute(body: dict[str, Any]) -> None:
    old, new, newer = Signer("ES384", "2026-10"), Signer("ES384", "2026-11"), Signer("ES384", "2026-12")
    with respx.mock:
        route = respx.get(JWKS_URL).mock(side_effect=[httpx.Response(200, json={"keys": [old.jwk]}),
                                                      httpx.Response(200, json={"keys": [new.jwk]}),
                                                      httpx.Response(200, json={"keys": [newer.jwk]})])
        client = _rotating_client()
        assert route.call_count == 1  # at start-up
        assert client.post(SERVICE_PATH, json=body, headers=old.headers()).status_code == 200
        assert route.call_count == 1  # a known kid costs no fetch
        rotated = client.post(SERVICE_PATH, json=body, headers=new.headers())
        assert rotated.status_code == 200, rotated.text[:200]
        assert route.call_count == 2  # one refresh on the unknown kid
        unknown = client.post(SERVICE_PATH, json=body, headers=newer.headers())
        assert unknown.status_code == 401 and "unknown kid" in unknown.json()["error"]
        assert route.call_count == 2  # a second unknown kid within the minute: no fetch
        assert client.post(SERVICE_PATH, json=body, headers=new.headers()).status_code == 200
        assert client.post(SERVICE_PATH, json=body, headers=old.headers()).status_code == 401  # rotated out


def test_a_failed_refresh_keeps_the_old_keys(body: dict[str, Any]) -> None:
    old = Signer("ES384", "kept")
    with respx.mock:
        route = respx.get(JWKS_URL).mock(side_effect=[httpx.Response(200, json={"keys": [old.jwk]}),
                                                      httpx.Response(404),
                                                      httpx.Response(200, json={"keys": [{"kty": "oct"}]})])
        client = _rotating_client(jwks_refresh_interval=0.001)
        for expected_fetches in (2, 3):  # a 404, then a JWKS with no usable key
            assert client.post(SERVICE_PATH, json=body, headers=Signer("ES384", "new").headers()).status_code == 401
            assert route.call_count == expected_fetches
            assert client.post(SERVICE_PATH, json=body, headers=old.headers()).status_code == 200


def test_the_refresh_interval_elapses() -> None:
    from adapter.http.jwks import JwksRefresher

    now = [1000.0]
    refresher = JwksRefresher(JWKS_URL, min_interval=60, clock=lambda: now[0])
    with respx.mock:
        route = respx.get(JWKS_URL).mock(return_value=httpx.Response(200, json={"keys": [ES.jwk]}))
        assert refresher.refresh() == {"keys": [ES.jwk]}
        now[0] += 59
        assert refresher.refresh() is None
        now[0] += 2
        assert refresher.refresh() is not None
        assert route.call_count == 2


# -- issue 10 (13): the audience comes from configuration, and the API's description needs the API token -------


def test_a_token_for_the_host_header_is_not_the_audience(client: TestClient, body: dict[str, Any]) -> None:
    evil = "http://evil.example" + SERVICE_PATH
    answer = client.post(SERVICE_PATH, json=body, headers={**ES.headers(aud=evil), "Host": "evil.example"})
    assert answer.status_code == 401 and "audience" in answer.json()["error"]
    # the Host header changes nothing: the service's own URL is still the audience
    answer = client.post(SERVICE_PATH, json=body, headers={**ES.headers(), "Host": "evil.example"})
    assert answer.status_code == 200, answer.text


def test_bind_url_is_the_audience_without_a_public_base_url(jwks_file: Path, body: dict[str, Any]) -> None:
    from dataclasses import replace

    settings = replace(load_settings(trusted_clients=[f"{ISS}={jwks_file}"], include_closed_trials=True,
                                     as_of=date(2026, 11, 1), environ={}), bind_url="http://127.0.0.1:8000")
    with TestClient(create_app(settings, CATALOG, warm=False)) as bound:
        assert bound.post(SERVICE_PATH, json=body, headers=ES.headers()).status_code == 401  # aud http://testserver
        good = ES.headers(aud="http://127.0.0.1:8000" + SERVICE_PATH)
        assert bound.post(SERVICE_PATH, json=body, headers=good).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc"])
def test_docs_and_openapi_need_the_api_token_when_one_is_set(path: str) -> None:
    with TestClient(create_app(ServiceSettings(allow_unauthenticated=True, api_token="s3cret"), CATALOG,
                               warm=False)) as guarded:
        refused = guarded.get(path)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert guarded.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert guarded.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert guarded.get("/healthz").status_code == 200
    with TestClient(create_app(ServiceSettings(allow_unauthenticated=True), CATALOG, warm=False)) as open_:
        assert open_.get(path).status_code == 200  # no token configured: open, as before
