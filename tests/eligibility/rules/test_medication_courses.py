"""A medication course that began before a window still counts when it ran into it: an end date that reaches
the window, or evidence of use in it; a finished one without an end date is unknown, a dose is its moment; an
active one with no use shown in the window is unknown ("active" is not "taking now": test_stale_courses.py).
(787251 `inc-cytotoxic-washout`: ≥ 4 weeks from the last cytotoxic drug.)"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from tests.support.trials import CATALOG, PATIENTS

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
CISPLATIN = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2555",
                         "display": "cisplatin"}], "text": "Cisplatin"}


def _washout(resource: dict[str, Any]) -> tuple[str, str]:
    bundle = copy.deepcopy(json.loads((PATIENTS / "p-eligible-us-units.json").read_text(encoding="utf-8")))
    patient = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    resource = {**resource, "id": "chemo", "subject": {"reference": f"Patient/{patient}"}}
    bundle["entry"].append({"resource": resource})
    result = evaluate_trial(CATALOG.get("NCT03787251"), facts_from_bundle(bundle, CATALOG.units), AS_OF)
    washout = next(c for c in result.evaluation.criteria if c.id == "inc-cytotoxic-washout")
    return washout.result, washout.reason


def test_cisplatin_is_in_the_platinum_value_set() -> None:
    codes = {c.code for c in CATALOG.concepts.medications["platinum-chemotherapy"].codes}
    assert "2555" in codes


@pytest.mark.parametrize(("resource", "expected"), [
    # a dose 10 days ago: inside the 28 days
    ({"resourceType": "MedicationAdministration", "status": "completed", "medicationCodeableConcept": CISPLATIN,
      "effectiveDateTime": "2026-10-22"}, "fail"),
    # a dose 90 days ago: outside (the criterion then rests on its manual part)
    ({"resourceType": "MedicationAdministration", "status": "completed", "medicationCodeableConcept": CISPLATIN,
      "effectiveDateTime": "2026-08-03"}, "manual"),
    # a prescription written 90 days ago and still active, nothing newer: "active" is not "taking now"
    ({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
      "medicationCodeableConcept": CISPLATIN, "authoredOn": "2026-08-03"}, "unknown"),
    # a statement of a course that ended 10 days ago
    ({"resourceType": "MedicationStatement", "status": "completed", "medicationCodeableConcept": CISPLATIN,
      "effectivePeriod": {"start": "2026-07-01", "end": "2026-10-22"}}, "fail"),
    # a course that ended 60 days ago
    ({"resourceType": "MedicationStatement", "status": "completed", "medicationCodeableConcept": CISPLATIN,
      "effectivePeriod": {"start": "2026-06-01", "end": "2026-09-02"}}, "manual"),
    # finished, start 90 days ago, no end date: it may have run into the window
    ({"resourceType": "MedicationStatement", "status": "completed", "medicationCodeableConcept": CISPLATIN,
      "effectiveDateTime": "2026-08-03"}, "unknown"),
])
def test_a_course_counts_when_it_ran_into_the_window(resource: dict[str, Any], expected: str) -> None:
    result, reason = _washout(resource)
    assert result == expected, reason
