"""JSON from outside is bounded: depth, number length and size are input errors, never a crash."""

from __future__ import annotations

import pytest

from adapter.errors import PatientDataError
from adapter.jsonio import depth_exceeds, parse_json

pytestmark: list[pytest.MarkDecorator] = []


def test_ordinary_json() -> None:
    assert parse_json(b'{"resourceType": "Patient", "id": "p1", "x": [1, 2.5, {"y": null}]}', "f") == {
        "resourceType": "Patient", "id": "p1", "x": [1, 2.5, {"y": None}]}


@pytest.mark.parametrize(("content", "message"), [
    (b"[" * 10_000 + b"]" * 10_000, "nested"),
    (b"[" * 65 + b"]" * 65, "deeper than 64"),
    (b"1" * 4400, "digits"),
    (b'{"v": ' + b"9" * 41 + b"}", "digits"),
    (b"{nope", "not JSON"),
    (b"\xff\xfe", "not"),
    (b"", "not JSON"),
])
def test_hostile_json_is_a_named_input_error(content: bytes, message: str) -> None:
    with pytest.raises(PatientDataError, match=message):
        parse_json(content, "the body")


def test_size_limit() -> None:
    with pytest.raises(PatientDataError, match="larger than 10 bytes"):
        parse_json(b"[" + b" " * 20 + b"]", "f", max_bytes=10)


def test_depth_is_measured_without_recursion() -> None:
    value: list = []
    node = value
    for _ in range(50_000):
        child: list = []
        node.append(child)
        node = child
    assert depth_exceeds(value, 64)
    assert not depth_exceeds([[1], {"a": [2]}], 3)
    assert depth_exceeds([[1], {"a": [[2]]}], 3)
    assert not depth_exceeds(7, 0)


# Lone surrogates: `json.loads` accepts "\ud800" and every UTF-8 writer then crashes far from the input (REST
# `$evaluate` answered 500, `screen` crashed at the end). Refused here, named, like any other unusable JSON.
@pytest.mark.parametrize("content", [
    b'{"a": "\\ud800"}', b'{"a": "x\\uDFFF"}', b'{"\\udc00": 1}', b'["ok", {"deep": ["\\uDbFf"]}]',
    '{"a": "\\ud800"}', '{"a": "\ud800"}',  # text too: an escape, or a raw surrogate (surrogateescape input)
])
def test_lone_surrogates_are_refused(content: bytes | str) -> None:
    with pytest.raises(PatientDataError, match="lone surrogate"):
        parse_json(content, "the body")


@pytest.mark.parametrize(("content", "value"), [
    (b'{"a": "\\ud83d\\ude00"}', {"a": "\U0001F600"}),  # a pair is one character
    (b'{"a": "\\\\ud800"}', {"a": "\\ud800"}),  # an escaped backslash: six plain characters
    ('{"a": "é😀"}'.encode(), {"a": "é😀"}),
])
def test_surrogate_pairs_and_look_alikes_are_fine(content: bytes, value: object) -> None:
    assert parse_json(content, "f") == value


def test_the_caller_may_name_its_own_error() -> None:
    from adapter.errors import RecordFormatError
    from adapter.jsonio import NotJsonError

    with pytest.raises(RecordFormatError, match=r"record\.json: a string holds a lone surrogate"):
        parse_json(b'"\\ud800"', "record.json", error=RecordFormatError)
    with pytest.raises(NotJsonError):
        parse_json(b"{nope", "f")


def test_http_bodies_use_the_same_decoder() -> None:
    from adapter.http import NotJson, decode_json

    assert decode_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # a BOM is allowed
    for body in (b'{"a": "\\ud800"}', b"[" * 5_000 + b"]" * 5_000, b"9" * 5_000):
        with pytest.raises(NotJson):
            decode_json(body)


def test_ordinary_input_takes_the_fast_path() -> None:
    import json
    import time

    body = json.dumps([{"resourceType": "Observation", "id": str(i), "note": "é" * 20} for i in range(50_000)],
                      ensure_ascii=False).encode()
    started = time.perf_counter()
    parse_json(body, "f")
    plain = time.perf_counter() - started
    assert plain < 5  # measured ~0.15 s for 4 MB; no string walk without a \ud8xx-\udfxx escape in the bytes
