import json
import time
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapter.errors import AuthError, FetchError, FhirServerError
from adapter.fhir import BearerToken, FhirClient, SmartBackendAuth
from adapter.fhir.auth import ASSERTION_TYPE

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://fhir.test/fhir"
TOKEN_URL = "https://auth.test/oauth2/token"
PATIENT = {"resourceType": "Patient", "id": "p1"}


def pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def fhir(status=200, body=PATIENT):
    return httpx.Response(status, json=body, headers={"Content-Type": "application/fhir+json"})


def token_response(token="tok-1", expires_in=300):
    return httpx.Response(200, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def form(request):
    return {name: values[0] for name, values in parse_qs(request.content.decode()).items()}


def smart(key, **kwargs):
    kwargs.setdefault("kid", "key-1")
    kwargs.setdefault("sleep", lambda _seconds: None)
    return SmartBackendAuth(TOKEN_URL, "client-123", pem(key), **kwargs)


# -- bearer ----------------------------------------------------------------------------------------------------


def test_bearer_header_present(router):
    route = router.get(f"{BASE}/Patient/p1").mock(return_value=fhir())
    with FhirClient(BASE, auth=BearerToken("abc.def")) as client:
        client.read("Patient", "p1")
    assert route.calls.last.request.headers["Authorization"] == "Bearer abc.def"


@pytest.mark.parametrize("token", ["", "  ", "a b", "a\nb"])
def test_bearer_token_must_be_one_word(token):
    with pytest.raises(AuthError):
        BearerToken(token)


def test_bearer_repr_hides_the_token():
    assert "secret" not in repr(BearerToken("secret"))


# -- SMART Backend Services: the assertion ---------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "key_name"), [("RS384", "rsa_key"), ("ES384", "ec_key")])
def test_assertion_verifies_with_public_key(router, request, algorithm, key_name):
    key = request.getfixturevalue(key_name)
    token_route = router.post(TOKEN_URL).mock(return_value=token_response())
    auth = smart(key, algorithm=algorithm, scope="system/Patient.read system/Observation.read")
    before = int(time.time())
    assert auth.token() == "tok-1"
    sent = form(token_route.calls.last.request)
    assert sent["grant_type"] == "client_credentials"
    assert sent["scope"] == "system/Patient.read system/Observation.read"
    assert sent["client_assertion_type"] == ASSERTION_TYPE == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assertion = sent["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": algorithm, "kid": "key-1", "typ": "JWT"}
    claims = jwt.decode(assertion, key.public_key(), algorithms=[algorithm], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == "client-123"
    assert claims["aud"] == TOKEN_URL
    assert before < claims["exp"] <= int(time.time()) + 300
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    with pytest.raises(jwt.InvalidSignatureError):
        other = (
            rsa.generate_private_key(65537, 2048) if algorithm == "RS384" else ec.generate_private_key(ec.SECP384R1())
        )
        jwt.decode(assertion, other.public_key(), algorithms=[algorithm], audience=TOKEN_URL)


def test_jti_unique_per_assertion(rsa_key):
    auth = smart(rsa_key)
    ids = {jwt.decode(auth.assertion(), options={"verify_signature": False})["jti"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("algorithm", ["none", "HS256", "HS384", "RS256", "ES256", "PS384", "rs384"])
def test_other_algorithms_refused_at_construction(rsa_key, algorithm):
    with pytest.raises(AuthError, match="refusing algorithm"):
        smart(rsa_key, algorithm=algorithm)


def test_key_must_match_algorithm(rsa_key, ec_key):
    with pytest.raises(AuthError, match="RS384 needs an RSA private key"):
        smart(ec_key, algorithm="RS384")
    with pytest.raises(AuthError, match="P-384"):
        smart(rsa_key, algorithm="ES384")
    with pytest.raises(AuthError, match="P-384"):
        smart(ec.generate_private_key(ec.SECP256R1()), algorithm="ES384")
    with pytest.raises(AuthError, match="at least 2048"):
        smart(rsa.generate_private_key(65537, 1024))
    with pytest.raises(AuthError, match="not a PEM private key"):
        SmartBackendAuth(TOKEN_URL, "c", "not a key", kid="k")
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(AuthError, match="encrypted"):
        SmartBackendAuth(TOKEN_URL, "c", encrypted, kid="k")


def test_settings_checked(rsa_key):
    with pytest.raises(AuthError, match="plain http"):
        SmartBackendAuth("http://auth.example.org/token", "c", pem(rsa_key), kid="k")
    with pytest.raises(AuthError, match="kid"):
        SmartBackendAuth(TOKEN_URL, "c", pem(rsa_key), kid="")
    with pytest.raises(AuthError, match="client id"):
        SmartBackendAuth(TOKEN_URL, " ", pem(rsa_key), kid="k")
    SmartBackendAuth("http://localhost:9000/token", "c", pem(rsa_key).decode(), kid="k")  # str PEM, local http
    assert "BEGIN" not in repr(smart(rsa_key))


# -- SMART Backend Services: tokens in use ---------------------------------------------------------------------


def test_token_cached_across_requests(router, rsa_key):
    token_route = router.post(TOKEN_URL).mock(return_value=token_response("tok-1"))
    fhir_route = router.get(f"{BASE}/Patient/p1").mock(return_value=fhir())
    auth = smart(rsa_key)
    with FhirClient(BASE, auth=auth) as client:
        for _ in range(5):
            client.read("Patient", "p1")
        assert client.request_count == 5  # token requests are not FHIR round trips
    assert token_route.call_count == 1 and auth.token_requests == 1
    assert {call.request.headers["Authorization"] for call in fhir_route.calls} == {"Bearer tok-1"}


def test_token_refreshed_after_expiry(router, rsa_key):
    now = [1_000_000.0]
    token_route = router.post(TOKEN_URL).mock(side_effect=[token_response("tok-1", 300), token_response("tok-2", 300)])
    fhir_route = router.get(f"{BASE}/Patient/p1").mock(return_value=fhir())
    auth = smart(rsa_key, clock=lambda: now[0], token_lifetime_margin=30)
    with FhirClient(BASE, auth=auth) as client:
        client.read("Patient", "p1")
        now[0] += 269  # still inside expires_in - margin
        client.read("Patient", "p1")
        now[0] += 1  # 270 s: within the margin, refresh
        client.read("Patient", "p1")
    assert token_route.call_count == 2
    assert [c.request.headers["Authorization"] for c in fhir_route.calls] == ["Bearer tok-1"] * 2 + ["Bearer tok-2"]
    assert (
        jwt.decode(form(token_route.calls.last.request)["client_assertion"], options={"verify_signature": False})["exp"]
        == int(now[0]) + 300
    )


def test_refresh_once_on_401(router, rsa_key):
    token_route = router.post(TOKEN_URL).mock(side_effect=[token_response("revoked"), token_response("fresh")])
    fhir_route = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[fhir(401, {"resourceType": "OperationOutcome"}), fhir()]
    )
    seen: list[httpx.Request] = []
    with FhirClient(BASE, auth=smart(rsa_key), on_request=seen.append) as client:
        assert client.read("Patient", "p1") == PATIENT
        assert client.request_count == 2 and len(seen) == 2
    assert token_route.call_count == 2
    assert [c.request.headers["Authorization"] for c in fhir_route.calls] == ["Bearer revoked", "Bearer fresh"]


def test_persistent_401_refreshes_only_once(router, rsa_key):
    token_route = router.post(TOKEN_URL).mock(side_effect=[token_response("a"), token_response("b")])
    fhir_route = router.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(401))
    with FhirClient(BASE, auth=smart(rsa_key), sleep=lambda _s: None) as client, pytest.raises(FhirServerError) as info:
        client.read("Patient", "p1")
    assert info.value.status == 401
    assert token_route.call_count == 2 and fhir_route.call_count == 2


def test_token_endpoint_error_message(router, rsa_key):
    router.post(TOKEN_URL).mock(
        return_value=httpx.Response(400, json={"error": "invalid_client", "error_description": "unknown kid 'key-1'"})
    )
    fhir_route = router.get(f"{BASE}/Patient/p1").mock(return_value=fhir())
    with FhirClient(BASE, auth=smart(rsa_key)) as client, pytest.raises(AuthError) as info:
        client.read("Patient", "p1")
    assert isinstance(info.value, FetchError)
    assert str(info.value) == (
        f"token endpoint {TOKEN_URL} refused the request: HTTP 400: invalid_client: unknown kid 'key-1'"
    )
    assert fhir_route.call_count == 0


def test_token_endpoint_error_without_json(router, rsa_key):
    router.post(TOKEN_URL).mock(return_value=httpx.Response(403, text="<html>nope</html>"))
    with pytest.raises(AuthError, match="HTTP 403: Forbidden"):
        smart(rsa_key).token()


def test_token_endpoint_retried_when_busy(router, rsa_key):
    sleeps: list[float] = []
    token_route = router.post(TOKEN_URL).mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "4"}), httpx.ConnectError("refused"), token_response()]
    )
    auth = smart(rsa_key, sleep=sleeps.append)
    assert auth.token() == "tok-1"
    assert sleeps == [4.0, 1.0] and token_route.call_count == 3
    jtis = {
        jwt.decode(form(c.request)["client_assertion"], options={"verify_signature": False})["jti"]
        for c in token_route.calls
    }
    assert len(jtis) == 3  # every attempt carries a fresh assertion


def test_token_endpoint_gives_up(router, rsa_key):
    router.post(TOKEN_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(AuthError, match="gave up after 3 attempts"):
        smart(rsa_key).token()


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "bearer", "expires_in": 300},
        {"access_token": "t", "token_type": "mac", "expires_in": 300},
        {"access_token": "t", "token_type": "bearer", "expires_in": -5},
        {"access_token": "t", "token_type": "bearer", "expires_in": "soon"},
        ["not", "an", "object"],
    ],
)
def test_unusable_token_responses(router, rsa_key, body):
    router.post(TOKEN_URL).mock(return_value=httpx.Response(200, content=json.dumps(body).encode()))
    with pytest.raises(AuthError):
        smart(rsa_key).token()


def test_expires_in_as_string_and_missing(router, rsa_key):
    now = [0.0]
    router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "t1", "token_type": "bearer", "expires_in": "100"}),
            httpx.Response(200, json={"access_token": "t2", "token_type": "bearer"}),
        ]
    )
    auth = smart(rsa_key, clock=lambda: now[0], token_lifetime_margin=10)
    assert auth.token() == "t1"
    now[0] = 89
    assert auth.token() == "t1"
    now[0] = 90
    assert auth.token() == "t2"  # missing expires_in: assumed 300 s
    now[0] = 90 + 289
    assert auth.token() == "t2"
