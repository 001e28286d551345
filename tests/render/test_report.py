"""adapter.render.report: the JSON report contract, from a typed TrialEvaluation."""

from __future__ import annotations

import json
from datetime import date

import pytest

from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.render.report import DRAFT_NOTE, report_json
from tests.render.sample import AGE, HB, PLT, drafted, trial_evaluation
from tests.support.trials import PATIENTS

pytestmark: list[pytest.MarkDecorator] = []

EXPECTED = {
    "trial": "NCT00000001",
    "patient": "Patient/p1",
    "as_of": "2026-11-01",
    "recruiting": True,
    "overall_status": "RECRUITING",
    "verdict": "insufficient-data",
    "summary": {"pass": 1, "fail": 1, "unknown": 1, "manual": 0},
    "criteria": [
        {"id": "inc-hemoglobin", "type": "inclusion", "text": "HB≥90g/L;", "result": "pass",
         "reason": "Hemoglobin 9 g/dL = 90 g/L ≥ 90 g/L", "codes": ["http://loinc.org|718-7"],
         "evidence": [{"reference": "Observation/hb", "value": 9, "unit": "g/dL", "date": "2026-10-27T08:30:00+00:00",
                       "normalized": {"value": 90, "unit": "g/L"}}]},
        {"id": "inc-platelets", "type": "inclusion", "text": "PLT≥80×10^9/L;", "result": "unknown",
         "reason": "no Platelet count result", "codes": ["http://loinc.org|777-3", "http://loinc.org|26515-7"],
         "evidence": [], "missing": ["Platelet count (777-3, 26515-7)"]},
        {"id": "inc-age", "type": "inclusion", "text": "Age 18-75", "result": "fail",
         "reason": "age 76 outside 18–75 years", "codes": ["http://snomed.info/sct|424144002"],
         "evidence": [{"reference": "Patient/p1", "value": 76, "unit": "a", "note": "born 1950-11-01"}]},
    ],
}


def test_report_is_the_contract_key_for_key():
    report = report_json(trial_evaluation(HB, PLT, AGE))
    assert json.dumps(report, ensure_ascii=False) == json.dumps(EXPECTED, ensure_ascii=False)  # order too
    assert "draft" not in report and "notes" not in report


def test_notes_are_kept_and_a_draft_is_flagged_only_when_it_is_one():
    result = trial_evaluation(HB, PLT, AGE, notes=("The patient is recorded as deceased.",))
    reviewed = report_json(result)
    assert reviewed["notes"] == ["The patient is recorded as deceased."] and "draft" not in reviewed
    draft = report_json(drafted(result))
    assert draft["draft"] is True and draft["notes"] == [DRAFT_NOTE, "The patient is recorded as deceased."]
    assert DRAFT_NOTE == "draft mapping, not clinically reviewed"
    assert {k: v for k, v in draft.items() if k not in ("draft", "notes")} == {
        k: v for k, v in reviewed.items() if k != "notes"}
    assert report_json(drafted(trial_evaluation(HB)))["notes"] == [DRAFT_NOTE]


def test_non_integral_values_are_json_floats():
    from decimal import Decimal

    from adapter.eligibility.outcome import Evidence
    from adapter.eligibility.result import CriterionResult

    evidence = (Evidence("Observation/hb", Decimal("8.1"), "mmol/L", None, Decimal("130.491"), "g/L"),)
    hb = CriterionResult(HB.id, HB.type, HB.text, HB.result, HB.reason, HB.codes, evidence)  # not a dataclass
    (evidence,) = report_json(trial_evaluation(hb))["criteria"][0]["evidence"]
    assert evidence == {"reference": "Observation/hb", "value": 8.1, "unit": "mmol/L",
                        "normalized": {"value": 130.491, "unit": "g/L"}}


def test_report_of_a_catalog_trial(catalog):
    bundle = json.loads((PATIENTS / "p-missing-platelets.json").read_text(encoding="utf-8"))
    trial = catalog.get("NCT03787251")
    report = report_json(evaluate_trial(trial, facts_from_bundle(bundle, catalog.units), date(2026, 11, 1)))
    assert list(report) == ["trial", "patient", "as_of", "recruiting", "overall_status", "verdict", "summary",
                            "criteria"]
    assert (report["trial"], report["verdict"], report["recruiting"]) == ("NCT03787251", "insufficient-data", False)
    assert sum(report["summary"].values()) == len(report["criteria"]) == len(trial.evidence_variable["characteristic"])
