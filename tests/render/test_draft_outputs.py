"""A drafted trial is named as a draft in what a screening writes — results.ndjson and worklist.csv — and its
flagged readings are held there too (issue 21, part 3). The renderers' own tests cover cards, text and JSON."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from adapter.cli import main
from tests.render.drafted import NCT, drafted_site
from tests.support.bulk_export import fixture_resources, read_ndjson, write_export

pytestmark: list[pytest.MarkDecorator] = []

PATIENTS = ["p-eligible-us-units", "p-platelets-below-50"]


def _screen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Path | None) -> tuple[list[dict], list[dict]]:
    export = tmp_path / "export"
    write_export(export, fixture_resources(PATIENTS))
    if site is not None:
        monkeypatch.setenv("TRIAL_ADAPTER_MAPPINGS", str(site))
    out = tmp_path / "out"
    assert main(["screen", "--ndjson", str(export), "--trial", NCT, "--as-of", "2026-11-01", "--workers", "1",
                 "--out", str(out)]) == 0
    with (out / "worklist.csv").open(encoding="utf-8", newline="") as stream:
        worklist = list(csv.DictReader(stream))
    return read_ndjson(out / "results.ndjson"), worklist


def test_a_drafted_trial_is_flagged_in_results_and_worklist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results, worklist = _screen(tmp_path, monkeypatch, drafted_site(tmp_path / "site"))
    assert [line["draft"] for line in results] == [True, True]
    by_patient = {line["patient"]: line for line in results}
    below = by_patient["Patient/p-platelets-below-50"]  # ineligible on the reviewed mapping: its fail is held
    assert below["verdict"] == "insufficient-data" and below["failed"] == []
    assert set(below["unknown"]) == {"inc-neutrophils", "inc-platelets"}
    assert {row["patient"]: row["draft"] for row in worklist} == {f"Patient/{p}": "yes" for p in PATIENTS}


def test_a_reviewed_trial_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAL_ADAPTER_MAPPINGS", raising=False)
    results, worklist = _screen(tmp_path, monkeypatch, None)
    assert [line["draft"] for line in results] == [False, False]
    assert [row["draft"] for row in worklist] == ["no", "no"]
    assert {line["patient"]: line["verdict"] for line in results}["Patient/p-platelets-below-50"] == "ineligible"
