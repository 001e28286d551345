"""worklist.csv is opened in spreadsheets: a text cell that starts like a formula is neutralised (OWASP CSV
injection: a leading '), numbers are written as they are."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from adapter.catalog import TrialCatalog
from adapter.screening.outputs import ScreeningOutputs
from adapter.screening.patient import PatientScreening

pytestmark: list[pytest.MarkDecorator] = []

HOSTILE = '=HYPERLINK("http://x","y")'


def _screening(patient: str, trial: str, missing: list[str], unknown: list[str], fail: int) -> PatientScreening:
    summary = {"pass": 3, "fail": fail, "unknown": len(unknown), "manual": 1}
    line = {"patient": patient, "trial": trial, "as_of": "2026-11-01", "verdict": "insufficient-data",
            "summary": summary, "failed": [], "unknown": unknown, "missing": missing}
    detail = {"patient": patient, "verdict": "insufficient-data", "summary": summary, "missing": missing,
              "criteria": []}
    return PatientScreening(patient, (line,), (detail,))


def test_formula_cells_are_neutralised_numbers_are_not(tmp_path: Path, catalog: TrialCatalog) -> None:
    trial = catalog.all()[0]
    outputs = ScreeningOutputs(tmp_path, [trial], date(2026, 11, 1))
    outputs.patient(_screening("Patient/p1", trial.nct_id, [HOSTILE, "Hemoglobin"], ["inc-hb"], 0))
    outputs.patient(_screening("Patient/p2", trial.nct_id, ["+1 cmd", "@SUM(A1)", "\tTab", "\rCR", "-2+3"],
                               ["-x"], -1))
    outputs.finish({"engine": "test", "source": "test"})
    with (tmp_path / "worklist.csv").open(newline="", encoding="utf-8") as stream:
        rows = {row["patient"]: row for row in csv.DictReader(stream)}
    assert rows["Patient/p1"]["tests_to_settle"] == "'" + HOSTILE + "; Hemoglobin"
    assert rows["Patient/p1"]["unknown_criteria"] == "inc-hb"  # harmless text stays as it is
    assert rows["Patient/p2"]["tests_to_settle"] == "'+1 cmd; @SUM(A1); \tTab; \rCR; -2+3"
    assert rows["Patient/p2"]["unknown_criteria"] == "'-x"
    assert rows["Patient/p2"]["fail"] == "-1"  # a number, even a negative one, is not text: written as it is
    assert rows["Patient/p1"]["pass"] == "3"


def test_who_the_patient_is_is_neutralised_too(tmp_path: Path, catalog: TrialCatalog) -> None:
    trial = catalog.all()[0]
    outputs = ScreeningOutputs(tmp_path, [trial], date(2026, 11, 1))
    screening = _screening("Patient/p1", trial.nct_id, [], [], 0)
    line = screening.results[0] | {"name": HOSTILE, "mrn": "+31 cmd", "mrn_system": "@urn", "birth_date": "1970",
                                   "age": 56, "sex": "-", "last_data": "2026-10-01", "failed": ["=bad"]}
    outputs.patient(PatientScreening("Patient/p1", (line,), (line,)))
    outputs.finish({"engine": "test", "source": "test"})
    with (tmp_path / "worklist.csv").open(newline="", encoding="utf-8") as stream:
        (row,) = list(csv.DictReader(stream))
    assert (row["name"], row["mrn"], row["mrn_system"], row["sex"]) == ("'" + HOSTILE, "'+31 cmd", "'@urn", "'-")
    assert (row["age"], row["birth_date"], row["last_data"]) == ("56", "1970", "2026-10-01")
    assert row["failed_criteria"] == "'=bad"


def test_attrition_text_cells_are_neutralised() -> None:
    from adapter.screening.outputs import neutralised

    assert [neutralised(v) for v in ("=1+1", "-x", "ok", 5, "")] == ["'=1+1", "'-x", "ok", 5, ""]
