"""Hostile export folders: every refusal is an errors.ndjson line with its place and reason, never a traceback,
a hang, unbounded memory, a leak of a file outside the folder, or a false pass. Big inputs are streamed from
generators under small caps, so each test runs in well under a second or two."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import time
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import TrialCatalog
from adapter.screening.local import literal_path
from adapter.screening.patient import JobRecipe
from adapter.screening.run import ScreenRequest, screen
from adapter.screening.source import (
    ExportSourceError,
    FileProblem,
    LineProblem,
    ReadLimits,
    export_files,
    inflated_size_exceeds,
    read_lines,
)
from tests.support.bulk_export import read_ndjson

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
SECRET = b'{"resourceType": "Patient", "id": "secret-patient", "name": [{"text": "PRIVATE-NAME"}]}\n'


def patient(pid: str) -> bytes:
    return json.dumps({"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01", "gender": "female"}).encode()


@pytest.fixture(autouse=True)
def _bounded_in_time() -> Iterator[None]:
    """A hang (a FIFO waited on) fails the test instead of blocking the suite."""
    def expired(*_: Any) -> None:
        raise TimeoutError("the test took more than 60 s: something waited on a hostile input")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _screen(source: Path, out: Path, catalog: TrialCatalog, *, limits: ReadLimits | None = None,
            engine: str = "local", spark_master: str | None = None
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    request = ScreenRequest(source=source, out=out, recipe=JobRecipe((), (), AS_OF), engine=engine,  # type: ignore[arg-type]
                            workers=1, memory_limit="256MB", read_limits=limits or ReadLimits(),
                            spark_master=spark_master)
    screen(request, catalog.all())
    return read_ndjson(out / "results.ndjson"), read_ndjson(out / "errors.ndjson")


def _patients(results: list[dict[str, Any]]) -> list[str]:
    return sorted({line["patient"] for line in results})


def hostile_folder(tmp_path: Path) -> Path:
    """One good Patient beside a symlink to a private file, a symlink to /dev/zero, a FIFO and a socket — all
    named like export files."""
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.ndjson").write_bytes(SECRET)
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.ndjson").write_bytes(patient("p-good") + b"\n")
    (export / "Patient.2.ndjson").symlink_to(private / "secret.ndjson")
    (export / "Observation.ndjson").symlink_to("/dev/zero")
    os.mkfifo(export / "Condition.ndjson")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(export / "Procedure.ndjson"))
    server.close()
    (export / "notes.txt").symlink_to(private / "secret.ndjson")  # not an export file name: ignored, not named
    return export


def test_only_regular_files_are_read_the_rest_named_never_opened(tmp_path: Path, catalog: TrialCatalog) -> None:
    export = hostile_folder(tmp_path)
    started = time.monotonic()
    results, errors = _screen(export, tmp_path / "out", catalog)
    assert time.monotonic() - started < 30
    assert _patients(results) == ["Patient/p-good"]
    refused = {Path(e["file"]).name: e["reason"] for e in errors if e["kind"] == "refused-file"}
    assert refused == {
        "Patient.2.ndjson": "a symbolic link: refused, not opened",
        "Observation.ndjson": "a symbolic link: refused, not opened",
        "Condition.ndjson": "a FIFO: refused, not opened",
        "Procedure.ndjson": "a socket: refused, not opened",
    }
    assert len(errors) == len(refused)
    for name in os.listdir(tmp_path / "out"):
        if (tmp_path / "out" / name).is_file():
            content = (tmp_path / "out" / name).read_bytes()
            assert b"PRIVATE-NAME" not in content and b"secret-patient" not in content, name


def test_a_file_swapped_for_a_symlink_after_listing_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "secret.ndjson").write_bytes(SECRET)
    path = tmp_path / "Patient.ndjson"
    path.symlink_to(tmp_path / "secret.ndjson")
    (problem,) = list(read_lines(path))
    assert isinstance(problem, FileProblem) and "symbolic link" in problem.reason
    fifo = tmp_path / "Observation.ndjson"
    os.mkfifo(fifo)
    (problem,) = list(read_lines(fifo))  # O_NONBLOCK: opening a FIFO nobody writes to does not wait
    assert isinstance(problem, FileProblem) and "a FIFO" in problem.reason


def test_a_folder_of_only_refused_files_is_one_line(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.ndjson").symlink_to("/etc/passwd")
    with pytest.raises(ExportSourceError, match=r"no \.ndjson or \.ndjson\.gz files \(1 refused: Patient\.ndjson "
                                                 r"\(a symbolic link"):
        export_files(export)


@pytest.mark.parametrize(("make", "message"), [
    (lambda m: m.symlink_to("/dev/zero"), "a symbolic link: refused"),
    (lambda m: os.mkfifo(m), "a FIFO: refused"),
    (lambda m: m.write_bytes(b"[" * 100_000 + b"]" * 100_000), "nested"),
    (lambda m: m.write_bytes(b'{"output": [], "transactionTime": "' + b"x" * (17 << 20) + b'"}'), "larger than"),
])
def test_a_hostile_manifest_is_one_line(tmp_path: Path, make: Any, message: str) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(patient("p1") + b"\n")
    make(tmp_path / "manifest.json")
    with pytest.raises(ExportSourceError, match=message) as caught:
        export_files(tmp_path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_manifest_transaction_time_that_is_not_text_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(patient("p1") + b"\n")
    (tmp_path / "manifest.json").write_text('{"output": [], "transactionTime": "2026\\u0000\\u001b[31m"}')
    assert export_files(tmp_path).transaction_time is None


def test_glob_characters_in_names_read_the_file_named(tmp_path: Path, catalog: TrialCatalog) -> None:
    """`Patient[s].ndjson` as a DuckDB glob matches `Patients.ndjson`: a patient read twice, another never."""
    export = tmp_path / "ex[p]ort*"  # the folder too
    export.mkdir()
    (export / "Patients.ndjson").write_bytes(patient("p-plain") + b"\n")
    (export / "Patient[s].ndjson").write_bytes(patient("p-bracket") + b"\n")
    (export / "Patient*.ndjson").write_bytes(patient("p-star") + b"\n")
    (export / "Patient?.ndjson").write_bytes(patient("p-question") + b"\nnot json\n")
    results, errors = _screen(export, tmp_path / "out", catalog)
    assert _patients(results) == ["Patient/p-bracket", "Patient/p-plain", "Patient/p-question", "Patient/p-star"]
    per_patient = [line["patient"] for line in results]
    assert all(per_patient.count(p) == len(catalog.ids) for p in set(per_patient))  # each read once
    assert [(Path(e["file"]).name, e["line"]) for e in errors] == [("Patient?.ndjson", 2)]


def test_literal_path_escapes_every_glob_character() -> None:
    assert literal_path(Path("/a[1]/b*?.ndjson")) == "/a[[]1]/b[*][?].ndjson"


def _long_line_file(path: Path, length: int) -> None:
    path.write_bytes(patient("p-before") + b"\n" + b'{"x": "' + b"y" * length + b'"}\n' + patient("p-after") + b"\n")


@pytest.mark.parametrize("engine_path", ["fast", "python"])
def test_a_line_over_the_cap_is_an_error_line_the_rest_is_read(tmp_path: Path, catalog: TrialCatalog,
                                                               engine_path: str) -> None:
    export = tmp_path / "export"
    export.mkdir()
    _long_line_file(export / "Patient.ndjson", 5000)
    if engine_path == "python":  # a bad line elsewhere in the file sends it through the Python reader anyway
        (export / "Patient.ndjson").open("ab").write(b"not json\n")
    results, errors = _screen(export, tmp_path / "out", catalog, limits=ReadLimits(max_line_bytes=1024))
    assert _patients(results) == ["Patient/p-after", "Patient/p-before"]
    long = [e for e in errors if e["line"] == 2]
    assert long == [{"kind": "unreadable-line", "file": str(export / "Patient.ndjson"), "line": 2,
                     "reason": "longer than 1024 bytes: not read"}]


def _gzip_bomb(path: Path, inflated: int) -> int:
    """A gzip file whose second line inflates to `inflated` bytes, written from a generator; its size on disk."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"y" * (1 << 20)
    with path.open("wb") as out:
        out.write(packer.compress(patient("p-before") + b'\n{"x": "'))
        for _ in range(inflated // len(chunk)):
            out.write(packer.compress(chunk))
        out.write(packer.compress(b'"}\n' + patient("p-after") + b"\n"))
        out.write(packer.flush())
    return path.stat().st_size


def test_a_gzip_bomb_line_is_refused_line_wise_in_bounded_memory(tmp_path: Path, catalog: TrialCatalog) -> None:
    export = tmp_path / "export"
    export.mkdir()
    size = _gzip_bomb(export / "Patient.ndjson.gz", 64 << 20)
    assert size < 200_000
    started = time.monotonic()
    results, errors = _screen(export, tmp_path / "out", catalog, limits=ReadLimits(max_line_bytes=1 << 20))
    assert time.monotonic() - started < 30
    assert _patients(results) == ["Patient/p-after", "Patient/p-before"]
    assert [(e["kind"], e["line"], e["reason"]) for e in errors] == [
        ("unreadable-line", 2, f"longer than {1 << 20} bytes: not read")]


def test_the_python_reader_holds_at_most_one_capped_line(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson.gz"
    _gzip_bomb(path, 32 << 20)
    items = list(read_lines(path, ReadLimits(max_line_bytes=4096)))
    assert [type(i).__name__ for i in items] == ["tuple", "LineProblem", "tuple"]
    assert isinstance(items[1], LineProblem) and items[1].line == 2


@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_over_the_file_cap_stops_there_and_says_so(tmp_path: Path, catalog: TrialCatalog,
                                                          compressed: bool) -> None:
    export = tmp_path / "export"
    export.mkdir()
    text = b"".join(patient(f"p{i:03d}") + b"\n" for i in range(200))
    line_size = len(patient("p000")) + 1
    path = export / ("Patient.ndjson.gz" if compressed else "Patient.ndjson")
    path.write_bytes(gzip.compress(text) if compressed else text)
    cap = 50 * line_size + 10
    if compressed:
        assert inflated_size_exceeds(path, cap) and not inflated_size_exceeds(path, len(text))
    results, errors = _screen(export, tmp_path / "out", catalog, limits=ReadLimits(max_file_bytes=cap))
    assert len(_patients(results)) == 50
    assert [(e["kind"], e["line"]) for e in errors] == [("unreadable-file", 51)]
    assert f"more than {cap} bytes" in errors[0]["reason"]


def test_an_unreadable_line_takes_its_patient_out_of_the_screen(tmp_path: Path, catalog: TrialCatalog) -> None:
    """A Condition that cannot be read (a lone surrogate) names Patient/b: screened without it, b could pass on a
    missing exclusion — so b is reported, not screened; a is screened."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.ndjson").write_bytes(patient("a") + b"\n" + patient("b") + b"\n")
    bad = (b'{"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/b"}, '
           b'"code": {"text": "\\ud800"}}')
    (export / "Condition.ndjson").write_bytes(bad + b"\n")
    results, errors = _screen(export, tmp_path / "out", catalog)
    assert _patients(results) == ["Patient/a"]
    (unreadable,) = [e for e in errors if e["kind"] == "unreadable-line"]
    assert unreadable["line"] == 1
    (not_screened,) = [e for e in errors if e["kind"] == "patient-data"]
    assert not_screened["patient"] == "Patient/b" and "Condition.ndjson:1" in not_screened["reason"]
