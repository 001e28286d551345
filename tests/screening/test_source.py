from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from adapter.screening.source import ExportSourceError, FileProblem, export_files, read_lines

pytestmark: list[pytest.MarkDecorator] = []


def test_files_of_every_type_and_part_in_a_stable_order(tmp_path: Path) -> None:
    for name in ("Patient.ndjson", "Observation.2.ndjson", "Observation.ndjson", "Condition.ndjson.gz",
                 "notes.txt", "manifest.json"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "manifest.json").write_text('{"transactionTime": "2026-11-01T00:00:00Z", "output": []}')
    files = export_files(tmp_path)
    assert [p.name for p in files.files] == ["Condition.ndjson.gz", "Observation.2.ndjson", "Observation.ndjson",
                                             "Patient.ndjson"]
    assert files.transaction_time == "2026-11-01T00:00:00Z"


@pytest.mark.parametrize(("setup", "message"), [
    (None, "no such directory"),
    ({}, "no .ndjson or .ndjson.gz files"),
    ({"Patient.ndjson": b"", "manifest.json": b"{not json"}, "not a Bulk Data manifest (not JSON"),
    ({"Patient.ndjson": b"", "manifest.json": b'{"request": "x"}'}, "not a Bulk Data manifest (no output list)"),
])
def test_what_stops_a_screening(tmp_path: Path, setup: dict[str, bytes] | None, message: str) -> None:
    directory = tmp_path / "export"
    if setup is not None:
        directory.mkdir()
        for name, data in setup.items():
            (directory / name).write_bytes(data)
    with pytest.raises(ExportSourceError, match=re.escape(message)):
        export_files(directory)


def test_lines_are_numbered_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    path.write_bytes(b'{"a": 1}\r\n\n   \n{"b": 2}')
    assert list(read_lines(path)) == [(1, b'{"a": 1}'), (4, b'{"b": 2}')]


def test_truncated_gzip_keeps_what_was_read_and_says_where_it_broke(tmp_path: Path) -> None:
    text = b"".join(b'{"resourceType": "Patient", "id": "p%d"}\n' % i for i in range(5000))
    packed = gzip.compress(text)
    path = tmp_path / "Patient.ndjson.gz"
    path.write_bytes(packed[: len(packed) // 2])
    items = list(read_lines(path))
    *lines, problem = items
    assert isinstance(problem, FileProblem) and "compressed data ends" in problem.reason
    assert lines and all(isinstance(item, tuple) for item in lines)
    assert problem.line == len(lines) + 1
    assert lines[0] == (1, b'{"resourceType": "Patient", "id": "p0"}')


def test_a_file_that_is_not_gzip_at_all(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson.gz"
    path.write_bytes(b'{"resourceType": "Patient"}\n')
    (problem,) = list(read_lines(path))
    assert isinstance(problem, FileProblem) and problem.line == 1
