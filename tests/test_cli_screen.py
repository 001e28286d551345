"""`trial-adapter screen` as a user runs it: outputs on a small export; every way it cannot run is one line on
stderr and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from adapter.cli import main
from tests.support.bulk_export import fixture_resources, read_ndjson, write_export

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = "2026-11-01"
FEW = ["p-eligible-si-units", "p-eligible-us-units", "p-platelets-below-50", "p-missing-platelets"]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_export(directory, fixture_resources(FEW), files_per_type=2)
    return directory


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["screen", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_outputs_for_one_trial_as_r5(capsys: pytest.CaptureFixture[str], export: Path, tmp_path: Path) -> None:
    out = tmp_path / "coordinator's out"  # a quote in the path: it reaches DuckDB's SQL as a literal
    code, stdout, stderr = _run(capsys, "--ndjson", str(export), "--trial", "NCT03787251", "--as-of", AS_OF,
                                "--workers", "1", "--fhir-version", "R5", "--out", str(out))
    assert code == 0, stderr
    assert stdout == ""
    assert "Screened 4 patients" in stderr and "NCT03787251" in stderr
    results = read_ndjson(out / "results.ndjson")
    assert sorted(line["patient"] for line in results) == sorted(f"Patient/{p}" for p in FEW)
    assert {line["trial"] for line in results} == {"NCT03787251"}
    assert all(line["as_of"] == AS_OF for line in results)
    group = json.loads((out / "Group-NCT03787251.json").read_text())
    assert group["membership"] == "enumerated"
    assert not (out / "Group-NCT03320629.json").exists()
    assert (out / "errors.ndjson").read_text() == ""
    html = (out / "report.html").read_text()
    assert "NCT03787251" in html and "p-missing-platelets" in html
    assert (out / "worklist.csv").read_text().startswith("trial,draft,patient,name,mrn,mrn_system,birth_date,age,sex,"
                                                         "verdict,")


def test_mrn_system_picks_the_sites_identifier(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    resources = fixture_resources(FEW[:1])
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    patient["identifier"] = [
        {"system": "urn:mr", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                  "code": "MR"}]}, "value": "MR-1"},
        {"system": "urn:oid:1.2.3.4", "value": "SITE-9"}]
    write_export(tmp_path / "export", resources)
    for extra, expected in (([], ("MR-1", "urn:mr")), (["--mrn-system", "urn:oid:1.2.3.4"],
                                                       ("SITE-9", "urn:oid:1.2.3.4"))):
        out = tmp_path / f"out{len(extra)}"
        code, _, stderr = _run(capsys, "--ndjson", str(tmp_path / "export"), "--as-of", AS_OF, "--workers", "1",
                               "--out", str(out), *extra)
        assert code == 0, stderr
        assert {(line["mrn"], line["mrn_system"]) for line in read_ndjson(out / "results.ndjson")} == {expected}


@pytest.mark.parametrize(("args", "message"), [
    (["--ndjson", "{missing}"], "no such directory"),
    (["--ndjson", "{empty}"], "no .ndjson or .ndjson.gz files"),
    (["--ndjson", "{bad_manifest}"], "not a Bulk Data manifest"),
    ([], "give either --ndjson DIR"),
    (["--ndjson", "{export}", "--server", "http://127.0.0.1:9/fhir"], "give either --ndjson DIR"),
    (["--ndjson", "{export}", "--group", "g1"], "--group and --since need --server"),
    (["--ndjson", "{export}", "--workers", "0"], "--workers must be at least 1"),
    (["--ndjson", "{export}", "--memory-limit", "2GB; DROP"], "--memory-limit"),
    (["--ndjson", "{export}", "--trial", "NCT00000000"], "NCT00000000"),
    (["--ndjson", "{export}", "--as-of", "yesterday"], "is not a date"),
])
def test_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], export: Path, tmp_path: Path,
                                        args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad_manifest").mkdir()
    (tmp_path / "bad_manifest" / "Patient.ndjson").write_text("")
    (tmp_path / "bad_manifest" / "manifest.json").write_text("{")
    places = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "bad_manifest": tmp_path / "bad_manifest",
              "export": export}
    filled = [a.format(**places) for a in args]
    code, stdout, stderr = _run(capsys, *filled, "--out", str(tmp_path / "out"))
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("trial-adapter: error: ")
    assert message in stderr


def test_out_that_cannot_be_written(capsys: pytest.CaptureFixture[str], export: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, stderr = _run(capsys, "--ndjson", str(export), "--out", str(blocker / "out"))
    assert code == 2 and "cannot write" in stderr and stderr.count("\n") == 1


@respx.mock
def test_a_failed_server_export_is_exit_2_with_the_servers_message(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    base = "http://fhir.test/fhir"
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "not-supported", "diagnostics": "Bulk export is disabled"}]}
    respx.get(url__startswith=f"{base}/Patient/$export").mock(
        return_value=httpx.Response(400, json=outcome, headers={"Content-Type": "application/fhir+json"}))
    respx.get(f"{base}/metadata").mock(return_value=httpx.Response(200, json={
        "resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active", "kind": "instance",
        "format": ["json"], "rest": [{"mode": "server"}]}))
    code, _, stderr = _run(capsys, "--server", base, "--out", str(tmp_path / "out"), "--timeout", "5")
    assert code == 2
    assert "Bulk export is disabled" in stderr and stderr.count("\n") == 1
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700  # made private before anything was downloaded


def test_spark_without_java_is_one_line(export: Path, tmp_path: Path) -> None:
    """In a process of its own: PySpark keeps its JVM gateway for the life of a process, so a process that ran
    Spark before (the engines test) would not need Java again."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java")}
    done = subprocess.run([sys.executable, "-m", "adapter", "screen", "--ndjson", str(export), "--engine", "spark",
                           "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("trial-adapter: error: the Spark engine needs Java 17"), done.stderr
    assert done.stderr.count("\n") == 1


def test_a_store_is_loaded_then_screened_again_without_an_export(capsys: pytest.CaptureFixture[str], export: Path,
                                                                 tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = ["--ndjson", str(export), "--store", str(store), "--as-of", AS_OF, "--workers", "1"]
    code, _, stderr = _run(capsys, *first, "--out", str(tmp_path / "loaded"))
    assert code == 0, stderr
    code, _, stderr = _run(capsys, "--store", str(store), "--as-of", AS_OF, "--workers", "1",
                           "--out", str(tmp_path / "again"))
    assert code == 0, stderr
    assert "Screened 4 patients" in stderr
    loaded = (tmp_path / "loaded" / "results.ndjson").read_text()
    assert loaded.count("\n") == 8 and (tmp_path / "again" / "results.ndjson").read_text() == loaded
    record = json.loads((tmp_path / "again" / "run.json").read_text())
    assert record["counts"]["patients_evaluated"] == 0 and record["counts"]["patients_reused"] == 4


@pytest.mark.parametrize(("prepare", "args", "message"), [
    ("nothing", [], "no screening store there; load one first"),
    ("corrupt", [], "is not a readable screening store"),
    ("another-version", [], "made by another version of trial-adapter"),
    ("nothing", ["--engine", "spark"], "--store screens with the local engine"),
    ("failed-load", [], "nothing was ever loaded into it"),
])
def test_store_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, prepare: str,
                                              args: list[str], message: str) -> None:
    import duckdb

    store = tmp_path / "store"
    if prepare == "corrupt":
        store.mkdir()
        (store / "store.duckdb").write_bytes(b"not a database" * 1000)
    elif prepare in ("another-version", "failed-load"):
        from adapter.screening.store import ScreeningStore

        ScreeningStore.open(store, create=True).close()
        if prepare == "another-version":
            with duckdb.connect(str(store / "store.duckdb")) as con:
                con.execute("UPDATE meta SET value = 'trial-adapter screening store 0' WHERE key = 'format'")
    code, stdout, stderr = _run(capsys, "--store", str(store), *args, "--out", str(tmp_path / "out"))
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("trial-adapter: error: ")
    assert message in stderr
