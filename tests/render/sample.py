"""A small TrialEvaluation built by hand, so the renderers are tested without the engine or the catalog."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from adapter.eligibility.outcome import Evidence
from adapter.eligibility.result import CriterionResult, Evaluation
from adapter.evaluation import TrialEvaluation

AS_OF = date(2026, 11, 1)
WHEN = datetime(2026, 10, 27, 8, 30, tzinfo=UTC)

HB = CriterionResult(
    id="inc-hemoglobin", type="inclusion", text="HB≥90g/L;", result="pass",
    reason="Hemoglobin 9 g/dL = 90 g/L ≥ 90 g/L", codes=("http://loinc.org|718-7",),
    evidence=(Evidence("Observation/hb", Decimal("9.0"), "g/dL", WHEN, Decimal("90"), "g/L"),),
)
PLT = CriterionResult(
    id="inc-platelets", type="inclusion", text="PLT≥80×10^9/L;", result="unknown", reason="no Platelet count result",
    codes=("http://loinc.org|777-3", "http://loinc.org|26515-7"), evidence=(),
    missing=("Platelet count (777-3, 26515-7)",),
)
AGE = CriterionResult(
    id="inc-age", type="inclusion", text="Age 18-75", result="fail", reason="age 76 outside 18–75 years",
    codes=("http://snomed.info/sct|424144002",),
    evidence=(Evidence("Patient/p1", Decimal(76), "a", note="born 1950-11-01"),),
)
CONSENT = CriterionResult(
    id="inc-consent", type="inclusion", text="Signed consent", result="manual", reason="a person decides",
    codes=(), evidence=(),
)
HIV = CriterionResult(
    id="exc-hiv", type="exclusion", text="HIV *positive*", result="pass", reason="no HIV infection recorded",
    codes=("http://snomed.info/sct|86406008",), evidence=(Evidence("Condition/c1", "HIV <b>", date=WHEN),),
)


def trial_evaluation(*criteria: CriterionResult, verdict: Any = "insufficient-data", **trial: Any) -> TrialEvaluation:
    evaluation = Evaluation(patient="Patient/p1", as_of=AS_OF, verdict=verdict,
                            criteria=criteria or (HB, PLT, CONSENT, HIV), notes=trial.pop("notes", ()))
    facts: dict[str, Any] = {"nct_id": "NCT00000001", "title": "A [trial] of *things*", "recruiting": True,
                             "overall_status": "RECRUITING", "draft": False, **trial}
    return TrialEvaluation(evaluation=evaluation, **facts)


def drafted(result: TrialEvaluation) -> TrialEvaluation:
    return replace(result, draft=True)
