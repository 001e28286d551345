"""Every file the project writes is whole or absent: a temporary file in the same folder, then a rename."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.atomic import write_atomic

pytestmark: list[pytest.MarkDecorator] = []


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "NCT01234567.json"
    assert write_atomic(target, "first\n") == target and target.read_text() == "first\n"
    write_atomic(target, b"second\n")
    assert target.read_bytes() == b"second\n" and [p.name for p in tmp_path.iterdir()] == [target.name]
    assert target.stat().st_mode & 0o777 == 0o644


def test_text_that_is_not_unicode_leaves_the_earlier_file(tmp_path: Path) -> None:
    target = tmp_path / "NCT01234567.json"
    target.write_text("earlier\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "title \ud800")
    assert target.read_text() == "earlier\n" and len(list(tmp_path.iterdir())) == 1


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_atomic(tmp_path / "out.json", "x")
    assert list(tmp_path.iterdir()) == []
