"""JSON from outside is bounded: depth, number length and size are input errors, never a crash."""

from __future__ import annotations

import pytest

from adapter.errors import PatientDataError
from adapter.jsonio import depth_exceeds, parse_json


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
