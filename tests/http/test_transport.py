import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
import respx

from adapter.errors import DeadlineExceeded, FhirTimeout, ResponseTooLarge, TransportError
from adapter.http import USER_AGENT, Deadline, RetryPolicy, new_client, send
from tests.support.local_http import serve

pytestmark: list[pytest.MarkDecorator] = []

URL = "https://api.test/things/1"


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def call(sleeps):
    clients = []

    def call(method="GET", url=URL, **kwargs):
        kwargs.setdefault("max_bytes", 10_000)
        kwargs.setdefault("sleep", sleeps.append)
        client = kwargs.pop("client", None) or new_client()
        clients.append(client)
        return send(client, method, url, **kwargs)

    yield call
    for client in clients:
        client.close()


# -- the client ------------------------------------------------------------------------------------------------


def test_client_sends_the_user_agent_and_does_not_follow_redirects(router, call):
    route = router.get(URL).mock(return_value=httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
    elsewhere = router.get("https://elsewhere.test/").mock(return_value=httpx.Response(200))
    reply = call()
    assert reply.status == 302 and reply.headers["Location"] == "https://elsewhere.test/"
    assert elsewhere.call_count == 0
    assert route.calls.last.request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("trial-fhir-adapter/")


def test_reply_carries_status_headers_body_and_json(router, call):
    router.get(URL).mock(return_value=httpx.Response(200, json={"a": 1}, headers={"X-Thing": "y"}))
    reply = call()
    assert (reply.status, reply.reason, reply.ok, reply.attempts, reply.gave_up) == (200, "OK", True, 1, False)
    assert reply.headers["X-Thing"] == "y" and reply.json() == {"a": 1} and reply.url == URL


# -- the one retry policy --------------------------------------------------------------------------------------


def test_429_then_200(router, call, sleeps):
    route = router.get(URL).mock(side_effect=[httpx.Response(429), httpx.Response(200, text="ok")])
    reply = call(policy=RetryPolicy(backoff=0.25))
    assert reply.status == 200 and reply.body == b"ok" and reply.attempts == 2
    assert route.call_count == 2 and sleeps == [0.25]


def test_retry_after_honoured_and_capped(router, call, sleeps):
    router.get(URL).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": "86400"}),
            httpx.Response(200),
        ]
    )
    assert call(policy=RetryPolicy(max_retry_after=20.0)).ok
    assert sleeps == [7.0, 20.0]


def test_gives_up_and_hands_back_the_last_answer(router, call, sleeps):
    route = router.get(URL).mock(return_value=httpx.Response(502, text="bad gateway"))
    reply = call(policy=RetryPolicy(retries=2, backoff=1.0))
    assert (reply.status, reply.attempts, reply.gave_up, reply.body) == (502, 3, True, b"bad gateway")
    assert route.call_count == 3 and sleeps == [1.0, 2.0]


def test_other_statuses_are_answers_not_retries(router, call, sleeps):
    route = router.get(URL).mock(return_value=httpx.Response(500, text="boom"))
    reply = call()
    assert (reply.status, reply.gave_up, reply.body) == (500, False, b"boom")
    assert route.call_count == 1 and sleeps == []


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), httpx.ReadError("reset"), httpx.RemoteProtocolError("closed")]
)
def test_post_not_retried_after_it_may_have_been_sent(router, call, sleeps, failure):
    route = router.post(URL).mock(side_effect=[failure, httpx.Response(200)])
    with pytest.raises(TransportError, match="may have reached the server") as info:
        call("POST", content=b"{}")
    error = info.value
    assert error.may_have_arrived and error.transient and not error.gave_up and error.attempts == 1
    assert error.timed_out is isinstance(failure, httpx.TimeoutException)
    assert route.call_count == 1 and sleeps == []


def test_post_not_retried_on_a_gateway_error(router, call, sleeps):
    route = router.post(URL).mock(side_effect=[httpx.Response(504), httpx.Response(200)])
    reply = call("POST", content=b"{}")
    assert reply.status == 504 and not reply.gave_up and route.call_count == 1 and sleeps == []


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("busy"),
                httpx.Response(503), httpx.Response(429)],
)  # fmt: skip
def test_post_retried_when_it_certainly_was_not_processed(router, call, sleeps, failure):
    route = router.post(URL).mock(side_effect=[failure, httpx.Response(201)])
    assert call("POST", content=b"{}").status == 201
    assert route.call_count == 2 and sleeps == [0.5]


def test_post_marked_idempotent_is_retried_like_a_get(router, call, sleeps):
    route = router.post(URL).mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(504), httpx.Response(200)])
    assert call("POST", content=b"{}", idempotent=True).ok
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


def test_connect_error_retried_then_reported(router, call, sleeps):
    route = router.get(URL).mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(TransportError, match="ConnectError: connection refused; gave up after 3 attempts") as info:
        call(policy=RetryPolicy(retries=2))
    assert info.value.gave_up and not info.value.may_have_arrived and info.value.attempts == 3
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


def test_an_error_that_is_not_transient_is_not_retried(router, call, sleeps):
    router.get(URL).mock(side_effect=httpx.UnsupportedProtocol("nope"))
    with pytest.raises(TransportError, match="request failed: UnsupportedProtocol: nope") as info:
        call()
    assert not info.value.transient and sleeps == []


def test_a_fresh_form_for_every_attempt(router, call):
    forms = iter([{"n": "1"}, {"n": "2"}])
    route = router.post(URL).mock(side_effect=[httpx.Response(503), httpx.Response(200)])
    call("POST", form=lambda: next(forms), idempotent=True)
    assert [c.request.content for c in route.calls] == [b"n=1", b"n=2"]


# -- the cap ---------------------------------------------------------------------------------------------------


def test_an_oversized_success_body_is_refused(router, call):
    router.get(URL).mock(return_value=httpx.Response(200, content=b"x" * 101))
    with pytest.raises(ResponseTooLarge, match=f"GET {URL}: response larger than 100 bytes"):
        call(max_bytes=100)


def test_an_oversized_error_body_is_dropped_not_raised(router, call):
    router.get(URL).mock(return_value=httpx.Response(400, content=b"x" * 101))
    reply = call(max_bytes=10_000, max_error_bytes=100)
    assert reply.status == 400 and reply.body == b""


# -- the deadline ----------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_attempt_timeout_is_cut_to_what_remains(router, call):
    clock = Clock()
    route = router.get(URL).mock(side_effect=[httpx.Response(503), httpx.Response(200)])
    clock_sleep = lambda seconds: setattr(clock, "now", clock.now + seconds)  # noqa: E731
    call(timeout=30.0, deadline=Deadline(10.0, clock), sleep=clock_sleep, policy=RetryPolicy(backoff=4.0))
    timeouts = [c.request.extensions["timeout"]["read"] for c in route.calls]
    assert timeouts == [10.0, 6.0]


def test_a_timeout_that_was_the_deadline_is_a_deadline_error(router, call):
    clock = Clock()

    def slow(request):
        clock.now += 5.0
        raise httpx.ReadTimeout("slow")

    route = router.get(URL).mock(side_effect=slow)
    with pytest.raises(DeadlineExceeded, match=r"no complete answer within the 5s deadline") as info:
        call(deadline=Deadline(5.0, clock))
    assert isinstance(info.value, FhirTimeout) and route.call_count == 1


def test_no_pause_longer_than_what_remains(router, call, sleeps):
    router.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(200)])
    with pytest.raises(DeadlineExceeded, match="would have had to wait 30s"):
        call(deadline=5.0, policy=RetryPolicy(max_retry_after=60.0))
    assert sleeps == []


def test_no_attempt_after_the_deadline(router, call):
    clock = Clock()

    def busy(request):
        clock.now += 2.0
        return httpx.Response(503)

    route = router.get(URL).mock(side_effect=busy)
    with pytest.raises(DeadlineExceeded):
        call(deadline=Deadline(3.0, clock), policy=RetryPolicy(retries=10, backoff=0.0))
    assert route.call_count == 2


# -- the deadline against a real server that answers slowly ----------------------------------------------------


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        try:
            if self.path == "/stall-headers":
                time.sleep(5)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            if self.path == "/stall-body":
                self.wfile.write(b"[")
                self.wfile.flush()
                time.sleep(5)
                return
            for _ in range(100):  # one byte every 0.2 s: each read is quick, the whole body takes 20 s
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    with serve(_Slow) as url:
        yield url


@pytest.mark.parametrize("path", ["/trickle", "/stall-body", "/stall-headers"])
def test_a_slow_server_cannot_outlast_the_deadline(slow_server, path):
    started = time.monotonic()
    with new_client() as client, pytest.raises(DeadlineExceeded, match="within the 1s deadline"):
        send(client, "GET", slow_server + path, max_bytes=10_000, timeout=30.0, deadline=1.0)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.6
