"""`trial-adapter map` and `fetch`: files written, and every bad input one line on stderr with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import respx

from adapter.cli import main
from tests.support.trials import MAPPINGS

pytestmark: list[pytest.MarkDecorator] = []

RECORDS = MAPPINGS  # each record lies beside its mapping


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("version", ["R5", "R4"])
def test_map_writes_one_bundle_per_trial(tmp_path: Path, version: str) -> None:
    assert main(["map", "--fhir-version", version, "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"NCT03320629-{version.lower()}.json", f"NCT03787251-{version.lower()}.json"]
    bundle = json.loads((tmp_path / files[0]).read_text(encoding="utf-8"))
    assert bundle["type"] == "transaction" and bundle["entry"][0]["resource"]["resourceType"] == "ResearchStudy"


def test_map_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["map", "--trial", "nct03320629"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "NCT03320629-r5"


def test_unknown_trial(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["map", "--trial", "NCT00000000"]) == 2
    assert "unknown trial NCT00000000" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no record NCT03787251.json beside the mapping"),
        ("{not json", "JSON"),
        ('<?xml version="1.0"?><clinical_study><id_info><nct_id>NCT03787251</nct_id></id_info></clinical_study>',
         "classic ClinicalTrials.gov XML"),
        (json.dumps({"FullStudiesResponse": {"APIVrs": "1.01.02", "FullStudies": []}}), "v1"),
    ],
)
def test_bad_record_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                content: str | None, message: str) -> None:
    shutil.copy(MAPPINGS / "NCT03787251.yaml", tmp_path)  # a site folder overriding the bundled trial
    if content is not None:
        (tmp_path / "NCT03787251.json").write_text(content, encoding="utf-8")
    monkeypatch.setenv("TRIAL_ADAPTER_MAPPINGS", str(tmp_path))
    assert main(["map", "--trial", "NCT03787251"]) == 2
    err = one_error_line(capsys)
    assert message.lower() in err.lower(), err


def test_broken_mapping_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(MAPPINGS / "NCT03787251.json", tmp_path)
    text = (MAPPINGS / "NCT03787251.yaml").read_text(encoding="utf-8").replace("value: 90\n", "value: ninety\n")
    (tmp_path / "NCT03787251.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("TRIAL_ADAPTER_MAPPINGS", str(tmp_path))
    assert main(["map", "--trial", "NCT03787251"]) == 2
    assert "criterion inc-hemoglobin" in one_error_line(capsys)


@respx.mock
def test_fetch_writes_the_record(tmp_path: Path) -> None:
    record = json.loads((RECORDS / "NCT03320629.json").read_text(encoding="utf-8"))
    route = respx.get("https://clinicaltrials.gov/api/v2/studies/NCT03320629")
    route.mock(return_value=httpx.Response(200, json=record))
    assert main(["fetch", "NCT03320629", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "NCT03320629.json").read_text(encoding="utf-8")) == record


@respx.mock
def test_fetch_of_a_missing_study_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get("https://clinicaltrials.gov/api/v2/studies/NCT09999999").mock(return_value=httpx.Response(404))
    assert main(["fetch", "NCT09999999"]) == 2
    assert "no such study" in one_error_line(capsys)


def test_site_mappings_add_a_trial_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A site folder given by --mappings adds a trial; the bundled ones stay; the CLI works from any directory."""
    site = tmp_path / "site"
    site.mkdir()
    record = json.loads((MAPPINGS / "NCT03320629.json").read_text(encoding="utf-8"))
    record["protocolSection"]["identificationModule"]["nctId"] = "NCT09999998"
    (site / "NCT09999998.json").write_text(json.dumps(record), encoding="utf-8")
    text = (MAPPINGS / "NCT03320629.yaml").read_text(encoding="utf-8").replace("NCT03320629", "NCT09999998")
    (site / "NCT09999998.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["map", "--mappings", str(site), "--out", "out"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "NCT03320629-r5.json", "NCT03787251-r5.json", "NCT09999998-r5.json"]


def test_missing_mappings_folder_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["map", "--mappings", str(tmp_path / "nope")]) == 2
    assert "no such directory" in one_error_line(capsys)


def test_empty_catalog_is_an_error_not_a_silent_success() -> None:
    from adapter.catalog import load_catalog
    from adapter.errors import MappingError

    with pytest.raises(MappingError, match=r"no concepts\.yaml"):
        load_catalog([], bundled=False)
