import httpx
import pytest

from adapter.errors import DeadlineExceeded
from adapter.http import BodyTooLarge, Deadline, NotJson, clean_text, decode_json, read_body, read_capped
from adapter.http.body import decode_json_object

pytestmark: list[pytest.MarkDecorator] = []


def streamed(chunks, headers=None):
    """A response whose body arrives chunk by chunk, like a streamed one; `produced` counts what was pulled."""
    produced = []

    def body():
        for chunk in chunks:
            produced.append(chunk)
            yield chunk

    return httpx.Response(200, content=body(), headers=headers), produced


def test_reads_the_whole_body_under_the_cap():
    response, _ = streamed([b"ab", b"cd", b"e"])
    assert read_body(response, 5) == b"abcde"


def test_declared_length_over_the_cap_is_refused_before_reading():
    response, produced = streamed([b"x" * 10], headers={"Content-Length": "10"})
    with pytest.raises(BodyTooLarge, match="response larger than 9 bytes"):
        read_body(response, 9)
    assert produced == []


def test_streamed_body_stops_at_the_cap():
    response, produced = streamed([b" " * 100] * 1000)
    with pytest.raises(BodyTooLarge):
        read_body(response, 1000)
    assert len(produced) == 11  # stopped at the first chunk past the cap


def test_read_capped_says_none_when_too_large():
    response, _ = streamed([b" " * 100] * 3)
    assert read_capped(response, 250) is None
    response, _ = streamed([b"{}"])
    assert read_capped(response, 250) == b"{}"


def test_the_deadline_is_checked_between_chunks():
    now = [0.0]
    deadline = Deadline(1.0, clock=lambda: now[0])

    def slow():
        for _ in range(100):
            now[0] += 0.2  # each byte takes 0.2 s to arrive
            yield b"x"

    with pytest.raises(DeadlineExceeded, match="GET x: no complete answer within the 1s deadline"):
        read_body(httpx.Response(200, content=slow()), 1000, deadline=deadline, where="GET x")
    assert now[0] == pytest.approx(1.0)


def test_decode_json():
    assert decode_json(b'\xef\xbb\xbf{"a": [1]}') == {"a": [1]}  # a BOM is fine
    for bad in (b"<html>", b'{"a": ', b"\xff\xfe", b"[" * 100_000):
        with pytest.raises(NotJson, match=r"not valid JSON \(starts '"):
            decode_json(bad)
    with pytest.raises(NotJson) as info:
        decode_json(b"<html>\x1b[31m\n oops")
    assert info.value.snippet == "<html> [31m oops"


def test_decode_json_object_is_best_effort():
    assert decode_json_object(b'{"a": 1}') == {"a": 1}
    assert decode_json_object(b"[1]") is None
    assert decode_json_object(b"  ") is None
    assert decode_json_object(b"nope") is None


def test_clean_text():
    assert clean_text("a\x1b[0m\n\tb  c") == "a [0m b c"
    assert clean_text("x" * 10, 5) == "xxxx…"
