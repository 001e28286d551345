import json

import httpx
import pytest
import respx

from adapter.errors import AdapterError, FetchError, ResponseTooLarge
from adapter.http import load_jwks
from adapter.http.jwks import MAX_JWKS_BYTES
from adapter.service.settings import load_jwks as settings_load_jwks

pytestmark: list[pytest.MarkDecorator] = []

JWKS = {"keys": [{"kty": "EC", "crv": "P-384", "kid": "k1", "x": "x", "y": "y"}]}
URL = "https://ehr.test/.well-known/jwks.json"


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def test_over_https(router):
    route = router.get(URL).mock(return_value=httpx.Response(200, json=JWKS))
    assert load_jwks(URL) == JWKS
    request = route.calls.last.request
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("trial-fhir-adapter/")


def test_the_settings_name_still_works(router):
    router.get(URL).mock(return_value=httpx.Response(200, json=JWKS))
    assert settings_load_jwks(URL, timeout=5.0) == JWKS


def test_retried_when_busy(router):
    sleeps: list[float] = []
    route = router.get(URL).mock(
        side_effect=[httpx.Response(503), httpx.ConnectError("x"), httpx.Response(200, json=JWKS)]
    )
    assert load_jwks(URL, sleep=sleeps.append) == JWKS
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


@pytest.mark.parametrize("url", ["http://ehr.test/jwks", "HTTP://ehr.test/jwks", "http://10.1.2.3/jwks"])
def test_plain_http_refused(router, url):
    anywhere = router.route().mock(return_value=httpx.Response(200, json=JWKS))
    with pytest.raises(FetchError, match="plain http"):
        load_jwks(url)
    assert anywhere.call_count == 0


def test_plain_http_to_loopback_allowed(router):
    router.get("http://127.0.0.1:8099/jwks").mock(return_value=httpx.Response(200, json=JWKS))
    assert load_jwks("http://127.0.0.1:8099/jwks") == JWKS


def test_size_cap_declared_and_streamed(router):
    big = b'{"keys": [' + b" " * MAX_JWKS_BYTES + b"]}"
    router.get(URL).mock(return_value=httpx.Response(200, content=big))
    with pytest.raises(ResponseTooLarge, match=f"larger than {MAX_JWKS_BYTES} bytes"):
        load_jwks(URL)

    def chunks():
        for _ in range(2 * MAX_JWKS_BYTES // 65536):
            yield b" " * 65536

    router.get(URL).mock(return_value=httpx.Response(200, content=chunks()))
    with pytest.raises(ResponseTooLarge):
        load_jwks(URL)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(404), "HTTP 404"),
        (httpx.Response(302, headers={"Location": "https://elsewhere.test/"}), "HTTP 302"),
        (httpx.Response(200, text="<html>"), "not valid JSON"),
        (httpx.Response(200, json={"keys": []}), "not a JWK Set"),
        (httpx.ConnectError("refused"), "cannot fetch"),
    ],
)
def test_unusable_answers(router, answer, message):
    router.get(URL).mock(side_effect=[answer] * 3)
    with pytest.raises(AdapterError, match=message):
        load_jwks(URL, sleep=lambda _seconds: None)


def test_from_a_file(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(JWKS), encoding="utf-8")
    assert load_jwks(str(path)) == JWKS


@pytest.mark.parametrize("content", ["[]", '{"keys": []}', '{"keys": {}}', "not json"])
def test_unusable_files(tmp_path, content):
    path = tmp_path / "k.json"
    path.write_text(content)
    with pytest.raises(AdapterError, match=f"JWKS {path}"):
        load_jwks(str(path))


def test_missing_and_oversized_files(tmp_path):
    with pytest.raises(AdapterError, match="cannot read"):
        load_jwks(str(tmp_path / "nope.json"))
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_JWKS_BYTES + 1))
    with pytest.raises(AdapterError, match="larger than"):
        load_jwks(str(big))
