from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from adapter.errors import DeadlineExceeded, FhirTimeout
from adapter.http import Deadline, RetryPolicy, retry_after_seconds
from adapter.http.retry import is_idempotent

pytestmark: list[pytest.MarkDecorator] = []


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(retries=6, backoff=0.5, max_backoff=3.0)
    assert [policy.backoff_delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.attempts == 7
    assert RetryPolicy(retries=-2).attempts == 1


def test_retry_after_honoured_within_its_cap_else_backoff():
    policy = RetryPolicy(backoff=0.25, max_retry_after=10.0)
    assert policy.delay(0, "7") == 7.0
    assert policy.delay(0, "86400") == 10.0
    assert policy.delay(0, "-3") == 0.0
    assert policy.delay(2, "soon") == 1.0  # unusable: the backoff for attempt 2
    assert policy.delay(1, None) == 0.5


def test_retry_after_http_dates():
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    seconds = retry_after_seconds(soon, 30.0)
    assert seconds is not None and 17.0 < seconds <= 20.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 30.0) == 0.0
    assert retry_after_seconds("nan", 30.0) is None
    assert retry_after_seconds(None, 30.0) is None


@pytest.mark.parametrize(
    ("status", "idempotent", "expected"),
    [
        (429, True, True), (502, True, True), (503, True, True), (504, True, True),
        (429, False, True), (503, False, True),  # refused before processing: safe to send again
        (502, False, False), (504, False, False),  # may have been processed
        (500, True, False), (404, True, False), (401, True, False), (200, True, False),
    ],
)  # fmt: skip
def test_which_statuses_are_retried(status, idempotent, expected):
    assert RetryPolicy().retries_status(status, idempotent) is expected


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (httpx.ConnectError("refused"), False, True),
        (httpx.ConnectTimeout("slow"), False, True),
        (httpx.PoolTimeout("busy"), False, True),
        (httpx.ReadTimeout("slow"), True, True),
        (httpx.ReadTimeout("slow"), False, False),
        (httpx.WriteTimeout("slow"), False, False),
        (httpx.ReadError("reset"), True, True),
        (httpx.ReadError("reset"), False, False),
        (httpx.RemoteProtocolError("closed"), True, True),
        (httpx.RemoteProtocolError("closed"), False, False),
        (httpx.UnsupportedProtocol("gopher"), True, False),
        (httpx.DecodingError("bad gzip"), True, False),
    ],
)
def test_which_transport_errors_are_retried(error, idempotent, expected):
    assert RetryPolicy().retries_error(error, idempotent) is expected


def test_idempotency():
    assert all(is_idempotent(m) for m in ("GET", "get", "HEAD", "PUT", "DELETE", "OPTIONS"))
    assert not is_idempotent("POST") and not is_idempotent("PATCH")
    assert is_idempotent("POST", True) and not is_idempotent("GET", False)


def test_policy_is_frozen():
    with pytest.raises(AttributeError):
        RetryPolicy().retries = 9  # type: ignore[misc]


def test_deadline_counts_down_and_bounds_waits():
    clock = Clock()
    deadline = Deadline(5.0, clock)
    assert deadline.remaining() == 5.0 and not deadline.expired
    clock.now += 3.0
    assert deadline.remaining() == 2.0
    assert deadline.bound(30.0) == 2.0 and deadline.bound(1.0) == 1.0 and deadline.bound(None) == 2.0
    assert deadline.timeout(30.0) == httpx.Timeout(2.0)
    deadline.check("GET x")
    clock.now += 2.0
    assert deadline.expired and deadline.remaining() == 0.0
    with pytest.raises(DeadlineExceeded, match=r"GET x: no complete answer within the 5s deadline") as info:
        deadline.check("GET x")
    assert isinstance(info.value, FhirTimeout)  # the project's timeout error


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_deadline_must_be_positive(seconds):
    with pytest.raises(ValueError):
        Deadline(seconds)
