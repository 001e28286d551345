import json
from pathlib import Path

import httpx
import pytest
import respx

from adapter.ctgov import fetch_record, load_record, save_record
from adapter.ctgov.fetch import MAX_RETRY_AFTER
from adapter.errors import FetchError, RecordFormatError

pytestmark: list[pytest.MarkDecorator] = []

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://ctgov.test/api/v2"
NCT = "NCT03320629"
# The sample records live beside the mappings now (formerly fixtures/ctgov/); take them from where they are.
_HOMES = (ROOT / "mappings", ROOT / "adapter" / "mappings", ROOT / "fixtures" / "ctgov")
FIXTURES = next((home for home in _HOMES if (home / f"{NCT}.json").exists()), _HOMES[0])
URL = f"{BASE}/studies/{NCT}"


@pytest.fixture
def record():
    return json.loads((FIXTURES / f"{NCT}.json").read_text(encoding="utf-8"))


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def fetch(sleeps):
    def call(nct_id=NCT, **kwargs):
        kwargs.setdefault("base_url", BASE)
        return fetch_record(nct_id, sleep=sleeps.append, **kwargs)

    return call


@respx.mock
def test_success(fetch, record, sleeps):
    route = respx.get(URL).mock(return_value=httpx.Response(200, json=record))
    assert fetch() == record
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.url.params["format"] == "json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("trial-fhir-adapter/")
    assert sleeps == []


@respx.mock
def test_lowercase_id_and_passed_client(fetch, record):
    respx.get(URL).mock(return_value=httpx.Response(200, json=record))
    with httpx.Client() as client:
        assert fetch(" nct03320629 ", client=client) == record
        assert not client.is_closed


@respx.mock
def test_404_is_no_such_study(fetch, sleeps):
    route = respx.get(URL).mock(return_value=httpx.Response(404, json={"message": "not found"}))
    with pytest.raises(FetchError, match=r"no such study on ClinicalTrials.gov \(HTTP 404\)"):
        fetch()
    assert route.call_count == 1
    assert sleeps == []


@respx.mock
def test_other_client_error_is_not_retried(fetch):
    route = respx.get(URL).mock(return_value=httpx.Response(400))
    with pytest.raises(FetchError, match="HTTP 400"):
        fetch()
    assert route.call_count == 1


@respx.mock
def test_429_honours_retry_after(fetch, record, sleeps):
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=record)]
    )
    assert fetch() == record
    assert route.call_count == 2
    assert sleeps == [7.0]


@respx.mock
def test_retry_after_is_capped(fetch, record, sleeps):
    respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200, json=record)]
    )
    fetch()
    assert sleeps == [MAX_RETRY_AFTER]


@respx.mock
def test_429_without_usable_retry_after_backs_off(fetch, record, sleeps):
    respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "soon"}), httpx.Response(200, json=record)]
    )
    fetch(backoff=0.25)
    assert sleeps == [0.25]


@respx.mock
def test_500_is_not_retried(fetch, sleeps):
    route = respx.get(URL).mock(return_value=httpx.Response(500))
    with pytest.raises(FetchError, match=r"HTTP 500 from ClinicalTrials\.gov"):
        fetch()
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_redirects_are_not_followed(fetch):
    respx.get(URL).mock(return_value=httpx.Response(301, headers={"Location": "https://elsewhere.test/x"}))
    other = respx.get("https://elsewhere.test/x").mock(return_value=httpx.Response(200))
    with pytest.raises(FetchError, match="redirects are not followed"):
        fetch()
    assert other.call_count == 0


@respx.mock
def test_503_then_success(fetch, record, sleeps):
    route = respx.get(URL).mock(side_effect=[httpx.Response(503), httpx.Response(200, json=record)])
    assert fetch() == record
    assert route.call_count == 2
    assert sleeps == [0.5]


@respx.mock
def test_timeout_then_success(fetch, record, sleeps):
    route = respx.get(URL).mock(
        side_effect=[httpx.ReadTimeout("read timed out"), httpx.Response(200, json=record)]
    )
    assert fetch() == record
    assert route.call_count == 2
    assert sleeps == [0.5]


@respx.mock
def test_connection_error_then_success(fetch, record, sleeps):
    respx.get(URL).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=record)])
    assert fetch() == record
    assert sleeps == [0.5]


@respx.mock
def test_retries_exhausted(fetch, sleeps):
    route = respx.get(URL).mock(return_value=httpx.Response(502))
    with pytest.raises(FetchError, match=r"HTTP 502; gave up after 4 attempts"):
        fetch(retries=3, backoff=0.5)
    assert route.call_count == 4
    assert sleeps == [0.5, 1.0, 2.0]


@respx.mock
def test_no_retries(fetch, sleeps):
    route = respx.get(URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(FetchError, match="ConnectTimeout: slow; gave up after 1 attempts"):
        fetch(retries=0)
    assert route.call_count == 1
    assert sleeps == []


@pytest.mark.parametrize("bad", ["", "NCT123", "NCT0332062X", "03320629", "NCT033206290", "NCT03320629/../x"])
def test_invalid_id(fetch, bad):
    with respx.mock(assert_all_called=False) as mock:
        with pytest.raises(FetchError, match="is not an NCT number"):
            fetch(bad)
        assert not mock.calls


@respx.mock
def test_non_json_body(fetch):
    respx.get(URL).mock(return_value=httpx.Response(200, text="<html>Service unavailable</html>"))
    with pytest.raises(FetchError, match="response is not JSON"):
        fetch()


@respx.mock
def test_body_that_is_not_a_v2_record(fetch):
    respx.get(URL).mock(return_value=httpx.Response(200, json={"FullStudiesResponse": {}}))
    with pytest.raises(RecordFormatError, match=r"retired ClinicalTrials\.gov API v1 format"):
        fetch()


@respx.mock
def test_body_for_another_study(fetch, record):
    record["protocolSection"]["identificationModule"]["nctId"] = "NCT03787251"
    respx.get(URL).mock(return_value=httpx.Response(200, json=record))
    with pytest.raises(FetchError, match="asked for NCT03320629 but the response describes NCT03787251"):
        fetch()


@respx.mock
def test_oversized_body_is_refused(fetch, record):
    padded = json.dumps(record) + " " * 5000
    respx.get(URL).mock(return_value=httpx.Response(200, content=padded.encode()))
    with pytest.raises(FetchError, match="response larger than 4096 bytes"):
        fetch(max_bytes=4096)


@respx.mock
def test_oversized_body_without_content_length_is_refused(fetch):
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    respx.get(URL).mock(return_value=httpx.Response(200, content=chunks()))
    with pytest.raises(FetchError, match="response larger than 10000 bytes"):
        fetch(max_bytes=10_000)


def test_save_record_round_trips(tmp_path, record):
    path = save_record(record, tmp_path / "out")
    assert path == tmp_path / "out" / f"{NCT}.json"
    text = path.read_text(encoding="utf-8")
    assert "HB≥100g/L" in text  # UTF-8, not \u escapes
    assert text.startswith('{\n  "protocolSection"') and text.endswith("}\n")
    assert json.loads(text) == record
    assert load_record(path).nct_id == NCT
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_save_record_refuses_a_non_record(tmp_path):
    with pytest.raises(RecordFormatError):
        save_record({"hello": "world"}, tmp_path)
    assert list(tmp_path.iterdir()) == []
