import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from adapter.errors import (
    BatchEntryError,
    FetchError,
    FhirServerError,
    FhirTimeout,
    ForeignLinkError,
    ResponseTooLarge,
)
from adapter.fhir import FhirClient
from adapter.fhir.client import FHIR_JSON

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://fhir.test/fhir"
PATIENT = {"resourceType": "Patient", "id": "p1"}


def fhir(status=200, body=None, headers=None):
    content = json.dumps(body if body is not None else PATIENT).encode()
    return httpx.Response(status, content=content, headers={"Content-Type": FHIR_JSON, **(headers or {})})


def outcome(*issues):
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def searchset(resources, next_url=None, extra_entries=()):
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources] + list(extra_entries),
    }
    if next_url:
        bundle["link"] = [{"relation": "self", "url": "ignored"}, {"relation": "next", "url": next_url}]
    return bundle


def capability(version="4.0.1", interactions=("transaction", "batch"), mode="server"):
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": version,
        "rest": [{"mode": mode, "interaction": [{"code": code} for code in interactions]}],
    }


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sleeps):
    clients = []

    def make(base=BASE, **kwargs):
        kwargs.setdefault("sleep", sleeps.append)
        client = FhirClient(base, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# -- basics, URL joining ---------------------------------------------------------------------------------------


def test_read_sends_fhir_headers_and_counts_requests(router, make_client):
    route = router.get(f"{BASE}/Patient/p1").mock(return_value=fhir())
    seen: list[httpx.Request] = []
    client = make_client(on_request=seen.append)
    assert client.read("Patient", "p1") == PATIENT
    assert client.read("Patient", "p1") == PATIENT
    request = route.calls.last.request
    assert request.headers["Accept"] == FHIR_JSON
    assert request.headers["User-Agent"].startswith("trial-fhir-adapter/")
    assert "Authorization" not in request.headers
    assert client.request_count == 2 and [str(r.url) for r in seen] == [f"{BASE}/Patient/p1"] * 2


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://fhir.test/fhir", "https://fhir.test/fhir/Patient/p1"),
        ("https://fhir.test/fhir/", "https://fhir.test/fhir/Patient/p1"),
        ("https://fhir.test/fhir//", "https://fhir.test/fhir/Patient/p1"),
        ("https://fhir.test", "https://fhir.test/Patient/p1"),
        ("https://fhir.test/", "https://fhir.test/Patient/p1"),
        ("https://fhir.test/api/fhir/r4", "https://fhir.test/api/fhir/r4/Patient/p1"),
        ("https://FHIR.test:443/fhir", "https://fhir.test/fhir/Patient/p1"),
        ("http://localhost:8080/fhir/", "http://localhost:8080/fhir/Patient/p1"),
    ],
)
def test_base_url_joining(router, make_client, base, expected):
    route = router.get(expected).mock(return_value=fhir())
    client = make_client(base)
    assert client.read("Patient", "p1") == PATIENT
    assert route.call_count == 1
    assert client.url("/metadata") == expected.replace("Patient/p1", "metadata")


@pytest.mark.parametrize(
    "base", ["ftp://fhir.test/fhir", "https://user:pw@fhir.test/fhir", "https://fhir.test/fhir?x=1", "not a url"]
)
def test_unusable_base_urls_refused(base):
    with pytest.raises(FetchError):
        FhirClient(base)


def test_credentials_not_sent_over_plain_http():
    from adapter.fhir import BearerToken

    with pytest.raises(FetchError, match="plain http"):
        FhirClient("http://fhir.example.org/fhir", auth=BearerToken("t"))
    FhirClient("http://127.0.0.1:8080/fhir", auth=BearerToken("t")).close()


@pytest.mark.parametrize("bad_id", ["../metadata", "p 1", "", "a/b", "x" * 65])
def test_read_refuses_bad_ids_without_a_request(router, make_client, bad_id):
    client = make_client()
    with pytest.raises(FetchError, match="not a FHIR id"):
        client.read("Patient", bad_id)
    with pytest.raises(FetchError, match="not a FHIR resource type"):
        client.read("../Patient", "p1")
    assert client.request_count == 0


def test_read_checks_the_resource_type(router, make_client):
    router.get(f"{BASE}/Patient/p1").mock(return_value=fhir(body={"resourceType": "Observation", "id": "p1"}))
    with pytest.raises(FhirServerError, match="asked for a Patient, got 'Observation'"):
        make_client().read("Patient", "p1")


def test_redirects_are_not_followed(router, make_client):
    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(302, headers={"Location": "https://elsewhere.test/Patient/p1"})
    )
    other = router.get("https://elsewhere.test/Patient/p1").mock(return_value=fhir())
    with pytest.raises(FhirServerError, match=r"redirected to 'https://elsewhere\.test/Patient/p1'") as info:
        make_client().read("Patient", "p1")
    assert info.value.status == 302 and other.call_count == 0


# -- retries ---------------------------------------------------------------------------------------------------


def test_timeouts_then_success(router, make_client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), fhir()]
    )
    assert make_client().read("Patient", "p1") == PATIENT
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


def test_429_retry_after_seconds_then_success(router, make_client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(429), fhir()]
    )
    assert make_client().read("Patient", "p1") == PATIENT
    assert route.call_count == 3 and sleeps == [7.0, 1.0]  # the second 429 had no Retry-After: backoff


def test_retry_after_capped_and_http_date(router, make_client, sleeps):
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(429, headers={"Retry-After": soon}),
            httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            fhir(),
        ]
    )
    assert make_client(max_retry_after=30.0).read("Patient", "p1") == PATIENT
    assert sleeps[0] == 30.0 and 17.0 < sleeps[1] <= 20.0 and sleeps[2] == 0.0


def test_503_then_success(router, make_client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(side_effect=[httpx.Response(503), fhir()])
    assert make_client().read("Patient", "p1") == PATIENT
    assert route.call_count == 2 and sleeps == [0.5]


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_retried_for_reads(router, make_client, sleeps, status):
    route = router.get(f"{BASE}/Patient/p1").mock(side_effect=[httpx.Response(status), fhir()])
    assert make_client().read("Patient", "p1") == PATIENT
    assert route.call_count == 2


@pytest.mark.parametrize("status", [500, 400, 401, 403, 404, 410, 422])
def test_other_errors_not_retried(router, make_client, sleeps, status):
    route = router.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(status))
    with pytest.raises(FhirServerError) as info:
        make_client().read("Patient", "p1")
    assert info.value.status == status and route.call_count == 1 and sleeps == []


def test_retries_exhausted(router, make_client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(503))
    with pytest.raises(FhirServerError, match="gave up after 4 attempts") as info:
        make_client().read("Patient", "p1")
    assert info.value.status == 503 and route.call_count == 4 and sleeps == [0.5, 1.0, 2.0]


def test_timeouts_exhausted_is_fhir_timeout(router, make_client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(FhirTimeout, match=r"no answer within 5s .*gave up after 3 attempts"):
        make_client(retries=2, timeout=5).read("Patient", "p1")
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


def test_connection_error_retried_then_reported(router, make_client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(FetchError, match="ConnectError: connection refused; gave up after 2 attempts") as info:
        make_client(retries=1, backoff=2).read("Patient", "p1")
    assert not isinstance(info.value, FhirServerError | FhirTimeout)
    assert route.call_count == 2 and sleeps == [2]


def test_the_deadline_bounds_a_call(router, make_client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "20"}), fhir()]
    )
    with pytest.raises(FhirTimeout, match=r"no complete answer within the 5s deadline"):
        make_client(deadline=5.0).read("Patient", "p1")
    assert route.call_count == 1 and sleeps == []  # no pause that would outlast the deadline


def test_connection_error_then_success(router, make_client, sleeps):
    router.get(f"{BASE}/Patient/p1").mock(side_effect=[httpx.ConnectError("reset"), fhir()])
    assert make_client().read("Patient", "p1") == PATIENT


# -- error bodies, content checks ------------------------------------------------------------------------------


def test_operation_outcome_diagnostics_surfaced(router, make_client):
    body = outcome(
        {"severity": "warning", "code": "informational", "diagnostics": "just a warning"},
        {"severity": "error", "code": "not-found", "diagnostics": "Resource Patient/p1 is not known"},
    )
    router.get(f"{BASE}/Patient/p1").mock(return_value=fhir(404, body))
    with pytest.raises(FhirServerError) as info:
        make_client().read("Patient", "p1")
    error = info.value
    assert error.status == 404 and error.message == "Resource Patient/p1 is not known"
    assert error.operation_outcome == body
    assert str(error) == f"GET {BASE}/Patient/p1: HTTP 404: Resource Patient/p1 is not known"


def test_operation_outcome_details_text_on_5xx_and_control_characters(router, make_client):
    body = outcome({"severity": "fatal", "code": "exception", "details": {"text": "db\x1b[31m down\n now"}})
    router.get(f"{BASE}/Patient/p1").mock(return_value=fhir(500, body))
    with pytest.raises(FhirServerError) as info:
        make_client().read("Patient", "p1")
    assert info.value.message == "db [31m down now"


def test_error_without_outcome_uses_reason_phrase(router, make_client):
    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(400, text="<html>oops</html>", headers={"Content-Type": "text/html"})
    )
    with pytest.raises(FhirServerError) as info:
        make_client().read("Patient", "p1")
    assert info.value.message == "Bad Request" and info.value.operation_outcome is None


def test_malformed_json(router, make_client):
    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(200, content=b'{"resourceType": "Pat', headers={"Content-Type": FHIR_JSON})
    )
    with pytest.raises(FhirServerError, match="not valid JSON") as info:
        make_client().read("Patient", "p1")
    assert info.value.status == 200


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"id": "x"}', b""])
def test_json_that_is_not_a_resource(router, make_client, body):
    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    )
    with pytest.raises(FhirServerError):
        make_client().read("Patient", "p1")


def test_non_json_content_type(router, make_client):
    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(200, text="<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    )
    with pytest.raises(FhirServerError, match="got Content-Type 'application/fhir\\+xml'"):
        make_client().read("Patient", "p1")


def test_json_content_type_with_parameters_accepted(router, make_client):
    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(
            200, json=PATIENT, headers={"Content-Type": "application/fhir+json; fhirVersion=4.0; charset=UTF-8"}
        )
    )
    assert make_client().read("Patient", "p1") == PATIENT


def test_oversized_body_declared(router, make_client):
    router.get(f"{BASE}/Patient/p1").mock(return_value=fhir(body={**PATIENT, "text": "x" * 5000}))
    with pytest.raises(ResponseTooLarge, match="larger than 1000 bytes"):
        make_client(max_response_bytes=1000).read("Patient", "p1")


def test_oversized_body_streamed_is_aborted(router, make_client):
    produced = []

    def chunks():
        for n in range(1000):
            produced.append(n)
            yield b" " * 100

    router.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(200, content=chunks(), headers={"Content-Type": FHIR_JSON})
    )
    with pytest.raises(ResponseTooLarge):
        make_client(max_response_bytes=1000).read("Patient", "p1")
    assert len(produced) < 20  # stopped reading early


# -- search and paging -----------------------------------------------------------------------------------------


def test_search_follows_three_pages(router, make_client):
    obs = [{"resourceType": "Observation", "id": str(n)} for n in range(5)]
    include = {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "include"}}
    note = {"resource": outcome({"severity": "information", "code": "informational"}), "search": {"mode": "outcome"}}
    first = router.get(f"{BASE}/Observation", params={"patient": "p1", "code": ["a", "b"]}).mock(
        return_value=fhir(body=searchset(obs[:2], f"{BASE}?_getpages=abc&offset=2", [include, note]))
    )
    second = router.get(f"{BASE}", params={"_getpages": "abc", "offset": "2"}).mock(
        return_value=fhir(body=searchset(obs[2:4], "Observation?page=3"))  # relative next link
    )
    third = router.get(f"{BASE}/Observation", params={"page": "3"}).mock(
        return_value=fhir(body={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": obs[4]}]})
    )
    client = make_client()
    results = list(client.search("Observation", {"patient": "p1", "code": ["a", "b"]}))
    assert results == obs
    assert (first.call_count, second.call_count, third.call_count) == (1, 1, 1)
    assert client.request_count == 3


def test_search_is_lazy_and_accepts_pairs(router, make_client):
    route = router.get(f"{BASE}/Observation").mock(return_value=fhir(body=searchset([])))
    client = make_client()
    pages = client.search("Observation", [("date", "ge2020"), ("date", "le2021")])
    assert route.call_count == 0
    assert list(pages) == []
    assert route.calls.last.request.url.params.get_list("date") == ["ge2020", "le2021"]


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.test/fhir/Observation?page=2",
        "http://fhir.test/fhir/Observation?page=2",
        "https://fhir.test:8443/fhir/Observation?page=2",
        "https://fhir.test/other/Observation?page=2",
        "https://fhir.test/fhirx/Observation?page=2",
        "https://fhir.test/fhir/%2e%2e/admin",
        "https://fhir.test/fhir/%2E%2e/admin",
        "https://fhir.test/fhir/Observation/../Patient",  # would land under the base: refused all the same
        "Observation/%2e%2e/%2e%2e/admin",
        "https://fhir.test/fhir\\..\\admin",
        "https://user@fhir.test/fhir/Observation?page=2",
        "//evil.test/fhir/Observation?page=2",
        "/admin?page=2",
    ],
)
def test_foreign_next_link_not_followed(router, make_client, link):
    router.get(f"{BASE}/Observation").mock(
        return_value=fhir(body=searchset([{"resourceType": "Observation", "id": "1"}], link))
    )
    anywhere_else = router.route().mock(return_value=fhir(body=searchset([])))
    client = make_client()
    got = []
    with pytest.raises(ForeignLinkError, match="outside the base URL"):
        got.extend(client.search("Observation"))
    assert got == [{"resourceType": "Observation", "id": "1"}]  # the first page still arrived
    assert anywhere_else.call_count == 0 and client.request_count == 1


def test_next_link_loop_detected(router, make_client):
    router.get(f"{BASE}/Observation", params={"page": "1"}).mock(
        return_value=fhir(body=searchset([], f"{BASE}/Observation?page=2"))
    )
    router.get(f"{BASE}/Observation", params={"page": "2"}).mock(
        return_value=fhir(body=searchset([], f"{BASE}/Observation?page=1"))
    )
    client = make_client()
    with pytest.raises(FhirServerError, match="paging loop"):
        list(client.search("Observation", {"page": "1"}))
    assert client.request_count == 2


def test_page_limit(router, make_client):
    def page(request):
        n = int(request.url.params["page"])
        return fhir(body=searchset([{"resourceType": "Observation", "id": str(n)}], f"{BASE}/Observation?page={n + 1}"))

    router.get(f"{BASE}/Observation").mock(side_effect=page)
    client = make_client()
    with pytest.raises(FhirServerError, match="more than 5 pages"):
        list(client.search("Observation", {"page": "1"}, max_pages=5))
    assert client.request_count == 5


def test_search_answer_that_is_not_a_searchset(router, make_client):
    router.get(f"{BASE}/Observation").mock(
        return_value=fhir(body=outcome({"severity": "error", "code": "processing", "diagnostics": "bad param"}))
    )
    with pytest.raises(FhirServerError, match="bad param"):
        list(make_client().search("Observation"))


# -- capabilities ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "expected"),
    [("4.0.1", "R4"), ("4.0.0", "R4"), ("4.3.0", "R4"), ("5.0.0", "R5"), ("5.0.0-ballot", "R5")],
)
def test_fhir_version(router, make_client, declared, expected):
    route = router.get(f"{BASE}/metadata").mock(return_value=fhir(body=capability(declared)))
    client = make_client()
    assert client.fhir_version() == expected
    assert client.capabilities()["fhirVersion"] == declared
    assert route.call_count == 1  # cached


@pytest.mark.parametrize("declared", ["3.0.2", "6.0.0", "banana", None, 4])
def test_fhir_version_unsupported(router, make_client, declared):
    router.get(f"{BASE}/metadata").mock(return_value=fhir(body=capability(declared)))
    with pytest.raises(FhirServerError, match="declares FHIR version"):
        make_client().fhir_version()


def test_capabilities_must_be_a_capability_statement(router, make_client):
    router.get(f"{BASE}/metadata").mock(return_value=fhir())
    with pytest.raises(FhirServerError, match="expected a CapabilityStatement"):
        make_client().capabilities()


@pytest.mark.parametrize(
    ("interactions", "mode", "expected"),
    [
        (("batch",), "server", True),
        (("transaction",), "server", True),
        (("transaction", "batch", "search-system"), "server", True),
        (("search-system", "history-system"), "server", False),
        ((), "server", False),
        (("batch",), "client", False),
    ],
)
def test_supports_batch(router, make_client, interactions, mode, expected):
    router.get(f"{BASE}/metadata").mock(return_value=fhir(body=capability("4.0.1", interactions, mode)))
    assert make_client().supports_batch() is expected


# -- batch -----------------------------------------------------------------------------------------------------


def test_batch_success_and_follow_pages(router, make_client):
    obs = [{"resourceType": "Observation", "id": str(n)} for n in range(3)]
    response = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {"resource": PATIENT, "response": {"status": "200 OK"}},
            {"resource": searchset(obs[:2], f"{BASE}/Observation?page=2"), "response": {"status": "200"}},
        ],
    }
    post = router.post(f"{BASE}/").mock(return_value=fhir(body=response))
    page2 = router.get(f"{BASE}/Observation", params={"page": "2"}).mock(return_value=fhir(body=searchset(obs[2:])))
    client = make_client()
    patient, bundle = client.batch(["Patient/p1", "/Observation?patient=p1&_count=2"])
    assert patient == PATIENT
    request = post.calls.last.request
    assert request.headers["Content-Type"] == FHIR_JSON
    assert json.loads(request.content) == {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient/p1"}},
            {"request": {"method": "GET", "url": "Observation?patient=p1&_count=2"}},
        ],
    }
    assert list(client.follow_pages(bundle)) == obs
    assert page2.call_count == 1 and client.request_count == 2


def test_batch_entry_with_404(router, make_client):
    response = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {"resource": searchset([]), "response": {"status": "200 OK"}},
            {
                "response": {
                    "status": "404 Not Found",
                    "outcome": outcome({"severity": "error", "code": "not-found", "diagnostics": "Patient/zz gone"}),
                }
            },
        ],
    }
    router.post(f"{BASE}/").mock(return_value=fhir(body=response))
    with pytest.raises(BatchEntryError) as info:
        make_client().batch(["Observation?patient=zz", "Patient/zz"])
    assert isinstance(info.value, FhirServerError)
    assert info.value.status == 404 and info.value.message == "Patient/zz gone"
    assert "batch entry 2 (GET Patient/zz)" in str(info.value)


def test_batch_entry_outcome_as_resource_and_count_mismatch(router, make_client):
    failing = {
        "resource": outcome({"severity": "error", "code": "invalid", "diagnostics": "unknown search parameter"}),
        "response": {"status": "400 Bad Request"},
    }
    router.post(f"{BASE}/").mock(
        side_effect=[
            fhir(body={"resourceType": "Bundle", "type": "batch-response", "entry": [failing]}),
            fhir(body={"resourceType": "Bundle", "type": "batch-response", "entry": []}),
        ]
    )
    client = make_client()
    with pytest.raises(BatchEntryError, match="unknown search parameter"):
        client.batch(["Observation?foo=1"])
    with pytest.raises(FhirServerError, match="sent 1 batch entries, got 0 back"):
        client.batch(["Observation?foo=1"])


def test_batch_refuses_absolute_urls_and_sends_nothing_for_none(router, make_client):
    client = make_client()
    for url in ["https://evil.test/Patient/1", "//evil.test/Patient/1", ""]:
        with pytest.raises(FetchError, match="relative to the FHIR base"):
            client.batch([url])
    assert client.batch([]) == []
    assert client.request_count == 0


def test_batch_of_reads_is_retried_on_read_timeout(router, make_client, sleeps):
    response = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"resource": PATIENT, "response": {"status": "200"}}],
    }
    route = router.post(f"{BASE}/").mock(side_effect=[httpx.ReadTimeout("slow"), fhir(body=response)])
    assert make_client().batch(["Patient/p1"]) == [PATIENT]
    assert route.call_count == 2 and sleeps == [0.5]


# -- transaction -----------------------------------------------------------------------------------------------

TRANSACTION = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "resource": {"resourceType": "Organization", "name": "x"},
            "request": {"method": "POST", "url": "Organization"},
        }
    ],
}
TRANSACTION_RESPONSE = {
    "resourceType": "Bundle",
    "type": "transaction-response",
    "entry": [{"response": {"status": "201 Created", "location": "Organization/1/_history/1"}}],
}


def test_transaction_success(router, make_client):
    route = router.post(f"{BASE}/").mock(return_value=fhir(body=TRANSACTION_RESPONSE))
    assert make_client().transaction(TRANSACTION) == TRANSACTION_RESPONSE
    request = route.calls.last.request
    assert request.method == "POST" and request.headers["Content-Type"] == FHIR_JSON
    assert json.loads(request.content) == TRANSACTION


def test_transaction_not_retried_on_read_timeout(router, make_client, sleeps):
    route = router.post(f"{BASE}/").mock(side_effect=[httpx.ReadTimeout("slow"), fhir(body=TRANSACTION_RESPONSE)])
    with pytest.raises(FhirTimeout, match="may or may not have been applied"):
        make_client().transaction(TRANSACTION)
    assert route.call_count == 1 and sleeps == []


@pytest.mark.parametrize(
    "failure", [httpx.ReadError("reset"), httpx.RemoteProtocolError("closed"), httpx.Response(502)]
)
def test_transaction_not_retried_after_it_may_have_arrived(router, make_client, sleeps, failure):
    route = router.post(f"{BASE}/").mock(side_effect=[failure, fhir(body=TRANSACTION_RESPONSE)])
    with pytest.raises(FetchError):
        make_client().transaction(TRANSACTION)
    assert route.call_count == 1 and sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "2"}),
    ],
)
def test_transaction_retried_when_certainly_not_processed(router, make_client, sleeps, failure):
    route = router.post(f"{BASE}/").mock(side_effect=[failure, fhir(body=TRANSACTION_RESPONSE)])
    assert make_client().transaction(TRANSACTION) == TRANSACTION_RESPONSE
    assert route.call_count == 2 and len(sleeps) == 1


def test_transaction_error_carries_outcome(router, make_client):
    body = outcome({"severity": "error", "code": "processing", "diagnostics": "Unknown status code 'not-a-status'"})
    router.post(f"{BASE}/").mock(return_value=fhir(400, body))
    with pytest.raises(FhirServerError, match="Unknown status code") as info:
        make_client().transaction(TRANSACTION)
    assert info.value.status == 400 and info.value.operation_outcome == body


def test_transaction_needs_a_transaction_bundle(make_client):
    client = make_client()
    with pytest.raises(FetchError, match="type 'transaction'"):
        client.transaction({**TRANSACTION, "type": "batch"})
    with pytest.raises(FetchError, match="needs a Bundle"):
        client.transaction(PATIENT)
    assert client.request_count == 0


def test_context_manager_closes():
    with FhirClient(BASE) as client:
        pass
    assert client._http.is_closed
