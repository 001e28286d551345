"""`trial-adapter evaluate --format json|summary|fhir` and `demo`: one JSON shape (a list of reports, each valid
against docs/report.schema.json), one line per trial, the FHIR result as one collection Bundle, and the sample
patients shipped inside the package."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema_rs
import pytest

from adapter.cli import main
from adapter.eligibility.facts import facts_from_bundle
from adapter.errors import PatientDataError
from adapter.evaluation import evaluate_trial
from adapter.render.report import report_json
from tests.support.trials import CATALOG, PATIENTS, ROOT

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = "2026-11-01"
AS_OF_DATE = date.fromisoformat(AS_OF)
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema_rs.Draft202012Validator(SCHEMA)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def assert_valid(report: object) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(report)]
    assert not errors, errors[:5]


# ------------------------------------------------------------------------------------------ JSON: one shape


@pytest.mark.parametrize("trials", [["NCT03320629"], ["NCT03320629", "NCT03787251"], []])
def test_json_is_always_a_list_of_valid_reports(capsys: pytest.CaptureFixture[str], trials: list[str]) -> None:
    selection = [arg for t in trials for arg in ("--trial", t)]
    out = run(capsys, "evaluate", *selection, "--bundle", str(PATIENTS / "p-missing-platelets.json"),
              "--as-of", AS_OF)
    reports = json.loads(out)
    assert isinstance(reports, list)
    assert [r["trial"] for r in reports] == (trials or CATALOG.ids)
    for report in reports:
        assert_valid(report)


def test_every_fixture_report_fits_the_schema() -> None:
    """Every fixture patient (unknowns, missing data, notes, evidence with normalised values) against both trials."""
    checked = 0
    for path in sorted(PATIENTS.glob("*.json")):
        try:
            facts = facts_from_bundle(json.loads(path.read_text(encoding="utf-8")), CATALOG.units)
        except PatientDataError:
            continue  # the two input-error fixtures
        for trial in CATALOG.all():
            assert_valid(report_json(evaluate_trial(trial, facts, AS_OF_DATE)))
            checked += 1
    assert checked >= 70


def test_the_schema_catches_drift() -> None:
    facts = facts_from_bundle(json.loads((PATIENTS / "p-hiv.json").read_text(encoding="utf-8")), CATALOG.units)
    report = report_json(evaluate_trial(CATALOG.get("NCT03787251"), facts, AS_OF_DATE))
    assert_valid(report)
    for broken in ({**report, "verdict": "eligible"}, {**report, "extra": 1},
                   {**report, "criteria": [{**report["criteria"][0], "result": "maybe"}]},
                   {k: v for k, v in report.items() if k != "summary"}):
        assert not VALIDATOR.is_valid(broken)


# ------------------------------------------------------------------------------------------ summary, fhir


def test_summary_is_one_line_per_trial(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "evaluate", "--bundle", str(PATIENTS / "p-hiv.json"), "--as-of", AS_OF, "--format", "summary")
    lines = out.splitlines()
    reports = json.loads(run(capsys, "evaluate", "--bundle", str(PATIENTS / "p-hiv.json"), "--as-of", AS_OF))
    assert len(lines) == len(reports) == 2
    for line, report in zip(lines, reports, strict=True):
        counts = report["summary"]
        assert line == (f"{report['trial']}  {report['verdict']:<20}  pass {counts['pass']} · fail {counts['fail']} "
                        f"· unknown {counts['unknown']} · manual {counts['manual']}")
    assert lines[1].startswith("NCT03787251  ineligible            pass ")


def test_fhir_is_one_collection_bundle_of_subjects_and_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "evaluate", "--bundle", str(PATIENTS / "p-hiv.json"), "--as-of", AS_OF, "--format", "fhir")
    bundle = json.loads(out)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types == ["ResearchSubject", "Parameters"] * 2
    subjects = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "ResearchSubject"]
    assert [s["resource"]["study"]["identifier"]["value"] for s in subjects] == ["NCT03320629", "NCT03787251"]
    assert [s["resource"]["progress"][0]["subjectState"]["coding"][0]["code"] for s in subjects] == [
        "candidate", "ineligible"]
    for parameters in (e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Parameters"):
        subject = parameters["parameter"][0]
        assert subject["name"] == "subject"
        assert subject["valueReference"]["reference"] in {s["fullUrl"] for s in subjects}
    assert len({e["fullUrl"] for e in bundle["entry"]}) == 4


def test_fhir_output_is_valid_r5() -> None:
    from fhir.resources.bundle import Bundle

    from adapter.cli.evaluate import fhir_collection

    facts = facts_from_bundle(json.loads((PATIENTS / "p-missing-platelets.json").read_text()), CATALOG.units)
    Bundle.model_validate(fhir_collection([evaluate_trial(t, facts, AS_OF_DATE) for t in CATALOG.all()]))


# ------------------------------------------------------------------------------------------ demo


def test_demo_runs_from_any_directory_on_the_packaged_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from adapter.cli.evaluate import sample_patients

    samples = sample_patients()
    assert sorted(p.name for p in samples.glob("*.json")) == sorted(p.name for p in PATIENTS.glob("*.json"))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--out", "out"]) == 0
    table = capsys.readouterr().out
    assert "p-eligible-us-units  " in table and "potentially-eligible" in table
    assert (tmp_path / "out" / "evaluations" / "p-hiv.NCT03787251.json").is_file()


def test_demo_patients_folder_still_chosen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "patients"
    folder.mkdir()
    (folder / "one.json").write_text((PATIENTS / "p-hiv.json").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["demo", "--out", str(tmp_path / "out"), "--patients", str(folder)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("one ")]
    assert len(rows) == 2


def test_the_wheel_ships_the_samples() -> None:
    """pyproject's package-data carries adapter/samples (a link to fixtures/patients), like the mappings."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "samples/*.json" in data["tool"]["setuptools"]["package-data"]["adapter"]
    assert (ROOT / "adapter" / "samples").resolve() == PATIENTS.resolve()

