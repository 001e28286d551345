"""`trial-adapter trials` and `concepts`: what the installation knows, as a table, as JSON, and one concept in full."""

from __future__ import annotations

import json

import pytest

from adapter.cli import main
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def test_trials_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(run(capsys, "trials", "--format", "json"))
    assert [r["id"] for r in rows] == CATALOG.ids
    for row in rows:
        trial = CATALOG.get(row["id"])
        assert row["title"] == trial.title and row["status"] == trial.record.overall_status
        assert row["draft"] is False and row["recruiting"] is False
        manual = sum(1 for c in trial.mapping.criteria if c.kind == "manual")
        assert row["criteria"] == {"computable": len(trial.evidence_variable["characteristic"]) - manual,
                                   "manual": manual}


def test_the_counts_agree_with_an_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    """An eligible patient passes every computable criterion; the manual ones stay manual."""
    from tests.support.trials import PATIENTS

    rows = {r["id"]: r for r in json.loads(run(capsys, "trials", "--format", "json"))}
    reports = json.loads(run(capsys, "evaluate", "--bundle", str(PATIENTS / "p-eligible-si-units.json"),
                             "--as-of", "2026-11-01"))
    for report in reports:
        counts = rows[report["trial"]]["criteria"]
        assert counts["computable"] + counts["manual"] == len(report["criteria"])


def test_trials_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run(capsys, "trials").splitlines()
    assert lines[0].split() == ["id", "status", "draft", "computable", "manual", "title"]
    assert lines[1].startswith("NCT03320629  TERMINATED  -  ")
    assert lines[2].startswith("NCT03787251  WITHDRAWN   -  ") and lines[2].endswith(CATALOG.get("NCT03787251").title)


def test_trials_selected(capsys: pytest.CaptureFixture[str]) -> None:
    assert [r["id"] for r in json.loads(run(capsys, "trials", "--trial", "nct03787251", "--format", "json"))] == [
        "NCT03787251"]


def test_concepts_lists_every_kind_with_code_counts(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "concepts")
    for kind in ("observations", "conditions", "procedures", "medications", "allergies", "derived"):
        assert f"{kind} ({len(getattr(CATALOG.concepts, kind))})" in out
    assert any(line.split()[:3] == ["hemoglobin", "2", "codes"] for line in out.splitlines())
    listing = json.loads(run(capsys, "concepts", "--format", "json"))
    assert listing["observations"]["hemoglobin"] == 2
    assert listing["medications"]["anti-vegf"] == len(CATALOG.concepts.medications["anti-vegf"].codes)


def test_one_concept_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "concepts", "hemoglobin").splitlines()
    assert out[0] == "observations/hemoglobin: Hemoglobin"
    assert "    http://loinc.org|718-7  Hemoglobin [Mass/volume] in Blood  [vsac-ecqm-2025-labs]" in out
    assert any(line.startswith("    [vsac-ecqm-2025-labs] VSAC value set expansions") for line in out)


def test_a_concept_with_partial_codes_and_synonyms(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "concepts", "conditions/escc")
    assert "partial codes" in out and "C15.9" in out and "lacks histology" in out
    assert "synonyms: ESCC; " in out


def test_a_derived_concept(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "concepts", "creatinine-clearance-cockcroft-gault")
    assert "formula cockcroft-gault in mL/min" in out and "observations/creatinine" in out


def test_concept_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    (concept,) = json.loads(run(capsys, "concepts", "apatinib", "--format", "json"))
    assert concept["kind"] == "allergies" and "rivoceranib" in concept["synonyms"]


def test_unknown_concept_is_one_line_with_a_guess(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["concepts", "hemoglobn"]) == 2
    err = capsys.readouterr().err
    assert err == "trial-adapter: error: no concept 'hemoglobn' (did you mean hemoglobin?)\n"
