"""What `screen` writes, on the fixture patients with the local engine: the worklist sorted for action, the
attrition consistent with results.ndjson, and every file that identifies patients readable by its owner only."""

from __future__ import annotations

import csv
import json
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import TrialCatalog
from adapter.eligibility.engine import DECEASED_ID
from adapter.screening.outputs import ScreeningSummary, _criteria_of
from adapter.screening.patient import JobRecipe
from adapter.screening.run import ScreenRequest, screen
from tests.support.bulk_export import fixture_resources, read_ndjson, write_export

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
PHI_FILES = ("results.ndjson", "worklist.csv", "report.html", "errors.ndjson", "attrition.csv")
DEAD = "p-eligible-us-units"


def _resources() -> list[dict[str, Any]]:
    resources = [r for r in fixture_resources() if r["resourceType"] != "Bundle"]
    seen: set[str] = set()
    unique = []
    for resource in resources:  # a twin Patient is an input error; here one of each
        key = f"{resource['resourceType']}/{resource.get('id')}"
        if key not in seen:
            seen.add(key)
            unique.append(resource)
    for resource in unique:
        if resource["resourceType"] == "Patient" and resource["id"] == DEAD:
            resource["deceasedDateTime"] = "2026-10-30"
    return unique


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, catalog: TrialCatalog) -> tuple[Path, ScreeningSummary]:
    source = tmp_path_factory.mktemp("export")
    write_export(source, _resources(), files_per_type=2, extra_lines={"Observation.9.ndjson": ["not JSON"]})
    out = tmp_path_factory.mktemp("screening") / "out"
    request = ScreenRequest(source=source, out=out, recipe=JobRecipe((), (), AS_OF), workers=1)
    return out, screen(request, catalog.all())


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_files_that_identify_patients_are_owner_only(run: tuple[Path, ScreeningSummary]) -> None:
    out, summary = run
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    names = {p.name for p in summary.outputs}
    assert set(PHI_FILES) <= names and {"Group-NCT03787251.json", "Group-NCT03320629.json"} <= names
    for path in summary.outputs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert (out / "errors.ndjson").read_text()  # not empty: the bad line is there, and private


def test_an_existing_folder_and_files_are_narrowed(tmp_path: Path, catalog: TrialCatalog) -> None:
    source = tmp_path / "export"
    write_export(source, fixture_resources(["p-eligible-si-units"]))
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    for name in PHI_FILES:
        (out / name).write_text("old")
        (out / name).chmod(0o644)
    screen(ScreenRequest(source=source, out=out, recipe=JobRecipe((), (), AS_OF), workers=1), catalog.all())
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name in PHI_FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name


def test_the_worklist_is_sorted_for_action_and_says_who(run: tuple[Path, ScreeningSummary]) -> None:
    out, _ = run
    rows = _csv(out / "worklist.csv")
    results = {(r["patient"], r["trial"]): r for r in read_ndjson(out / "results.ndjson")}
    assert len(rows) == len(results)
    rank = {"potentially-eligible": 0, "insufficient-data": 1, "ineligible": 2}
    for nct_id in {r["trial"] for r in rows}:
        mine = [r for r in rows if r["trial"] == nct_id]
        keys = [(rank[r["verdict"]], int(r["unknown"]), _newest_first(r["last_data"]), r["patient"]) for r in mine]
        assert keys == sorted(keys)
        assert {r["verdict"] for r in mine} == set(rank)
    for row in rows:
        line = results[(row["patient"], row["trial"])]
        assert (row["name"], row["mrn"], row["birth_date"], row["sex"], row["last_data"]) == tuple(
            line[k] or "" for k in ("name", "mrn", "birth_date", "sex", "last_data"))
        assert row["age"] == ("" if line["age"] is None else str(line["age"]))
        assert row["failed_criteria"] == ";".join(line["failed"])
    assert all(r["name"] for r in rows), "every fixture patient has a name"


def _newest_first(day: str) -> tuple[int, int]:
    return (1, 0) if not day else (0, -date.fromisoformat(day).toordinal())


def _recompute(lines: list[dict[str, Any]], order: list[str]) -> dict[str, tuple[int, int]]:
    """attrition from results.ndjson alone: excluded at the first failing criterion in order, unknown among the
    patients not excluded before it."""
    excluded = dict.fromkeys(order, 0)
    unknown = dict.fromkeys(order, 0)
    for line in lines:
        first = min((order.index(c) for c in line["failed"]), default=len(order))
        if first < len(order):
            excluded[order[first]] += 1
        for c in line["unknown"]:
            if order.index(c) < first:
                unknown[c] += 1
    return {c: (excluded[c], unknown[c]) for c in order}


def test_attrition_is_consistent_with_the_results(run: tuple[Path, ScreeningSummary],
                                                   catalog: TrialCatalog) -> None:
    out, summary = run
    rows = _csv(out / "attrition.csv")
    assert list(rows[0]) == ["trial", "criterion", "order", "text", "excluded", "unknown", "remaining"]
    results = read_ndjson(out / "results.ndjson")
    for trial in catalog.all():
        mine = [r for r in rows if r["trial"] == trial.nct_id]
        order = list(_criteria_of(trial))
        assert [r["criterion"] for r in mine] == order  # the EvidenceVariable's order, the deceased gate first
        assert order[0] == DECEASED_ID and [int(r["order"]) for r in mine] == list(range(1, len(order) + 1))
        lines = [line for line in results if line["trial"] == trial.nct_id]
        expected = _recompute(lines, order)
        assert {r["criterion"]: (int(r["excluded"]), int(r["unknown"])) for r in mine} == expected
        remaining = len(lines)
        for r in mine:
            remaining -= int(r["excluded"])
            assert int(r["remaining"]) == remaining
        assert remaining == sum(line["verdict"] != "ineligible" for line in lines)
        assert mine[0]["excluded"] == "1"  # the deceased patient, excluded first whatever else fails
        assert summary.tallies[trial.nct_id].attrition.screened == len(lines)
        texts = _criteria_of(trial)
        assert all(r["text"] == texts[r["criterion"]]["text"] for r in mine if not r["text"].startswith("'"))


def test_the_report_carries_every_patient_and_the_funnel(run: tuple[Path, ScreeningSummary]) -> None:
    out, _ = run
    html = (out / "report.html").read_text(encoding="utf-8")
    data = json.loads(html.split('id="report-data">')[1].split("</script>")[0])
    results = read_ndjson(out / "results.ndjson")
    for trial in data["trials"]:
        lines = {line["patient"]: line for line in results if line["trial"] == trial["nct_id"]}
        shown = {c["patient"]: c for c in trial["candidates"]}
        assert set(shown) == set(lines) and trial["candidates_total"] == len(lines)
        for patient, c in shown.items():
            if c["verdict"] == "ineligible":  # only why they were excluded
                assert [x["id"] for x in c["criteria"]] == lines[patient]["failed"]
        assert shown[f"Patient/{DEAD}"]["deceased"] is True
        worklist = [r["patient"] for r in _csv(out / "worklist.csv") if r["trial"] == trial["nct_id"]]
        assert [c["patient"] for c in trial["candidates"]] == worklist  # the report lists in worklist order
        assert trial["attrition"][0]["id"] == DECEASED_ID and trial["screened"] == len(lines)
    assert html.count("<svg") == len(data["trials"])
