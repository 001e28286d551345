""""active" alone is not "taking now" (issue 17, item 4). A MedicationRequest or MedicationStatement still marked
active counts in a window only when its evidence of use does: its own dates, or a dispense or administration of
the same drug (or naming it). An active course whose newest evidence is older than the window is unknown, the
entry and its date cited; a window without bounds ("ever used") is unchanged.

629 `exc-thrombosis-anticoagulation`: `{medication: anticoagulant, within_days: 30}` among conditions;
629 `exc-prior-anti-vegf`: `{medication: anti-vegf}` (any prior use).
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.render.report import report_json
from tests.eligibility.rules.helpers import A1C_BELOW_8, GP_LABS, SNOMED, combo, concept, entry_of, generic_patient, run
from tests.support.trials import CATALOG, PATIENTS

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ENOXAPARIN = {"coding": [{"system": RXNORM, "code": "854235",
                          "display": "0.4 ML enoxaparin sodium 100 MG/ML Prefilled Syringe"}],
              "text": "enoxaparin 40 mg"}
ENOXAPARIN_150 = {"coding": [{"system": RXNORM, "code": "854252"}], "text": "enoxaparin 150 mg"}
BEVACIZUMAB = {"coding": [{"system": RXNORM, "code": "253337", "display": "Bevacizumab"}], "text": "Bevacizumab"}
ANTICOAGULATION = "exc-thrombosis-anticoagulation"
STALE_ORDER = {"resourceType": "MedicationRequest", "id": "enox", "status": "active", "intent": "order",
               "medicationCodeableConcept": ENOXAPARIN, "authoredOn": "2020-03-04T10:00:00Z"}


def _criterion(cid: str, *resources: dict[str, Any], name: str = "p-eligible-us-units") -> dict[str, Any]:
    bundle = copy.deepcopy(json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8")))
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    for res in resources:
        bundle["entry"].append({"fullUrl": f"urn:uuid:{res['id']}",
                                "resource": {**res, "subject": {"reference": f"Patient/{patient['resource']['id']}"}}})
    facts = facts_from_bundle(bundle, CATALOG.units)
    report = report_json(evaluate_trial(CATALOG.get("NCT03320629"), facts, AS_OF))
    return next(c for c in report["criteria"] if c["id"] == cid)


def _refs(c: dict[str, Any]) -> list[str]:
    return [e["reference"] for e in c["evidence"]]


def test_no_anticoagulant_passes():
    c = _criterion(ANTICOAGULATION)
    assert c["result"] == "pass" and "no Anticoagulant therapy recorded within 30 days" in c["reason"]


def test_stale_active_order_is_unknown_citing_its_date():
    c = _criterion(ANTICOAGULATION, STALE_ORDER)
    assert c["result"] == "unknown", c["reason"]
    assert ("MedicationRequest/enox 'enoxaparin 40 mg' is active but its newest evidence is 2020-03-04 (ordered), "
            "before the window (within 30 days before the evaluation date) — confirm still taking") in c["reason"]
    assert "recorded within 30 days" not in c["reason"]  # no claim the data does not show
    assert "MedicationRequest/enox" in _refs(c)
    assert any("whether enoxaparin 40 mg (MedicationRequest/enox) was still taken within 30 days" in m
               and "a dispense or administration" in m for m in c["missing"]), c["missing"]


def test_stale_on_hold_order_is_unknown():
    c = _criterion(ANTICOAGULATION, {**STALE_ORDER, "status": "on-hold"})
    assert c["result"] == "unknown" and "is on-hold but its newest evidence is 2020-03-04" in c["reason"]


def test_active_order_authored_10_days_ago_excludes_with_that_date():
    c = _criterion(ANTICOAGULATION, {**STALE_ORDER, "authoredOn": "2026-10-22T09:00:00Z"})
    assert c["result"] == "fail", c["reason"]
    assert ("meets exclusion: Anticoagulant therapy recorded within 30 days before the evaluation date: "
            "enoxaparin 40 mg — recorded 2026-10-22 (ordered)") in c["reason"]


def test_stale_order_and_an_administration_5_days_ago_exclude():
    dose = {"resourceType": "MedicationAdministration", "id": "dose", "status": "completed",
            "medicationCodeableConcept": ENOXAPARIN, "effectiveDateTime": "2026-10-27T08:00:00Z"}
    c = _criterion(ANTICOAGULATION, STALE_ORDER, dose)
    assert c["result"] == "fail", c["reason"]
    assert "enoxaparin 40 mg — recorded 2026-10-27 (administered: MedicationAdministration/dose)" in c["reason"]
    assert "confirm" not in c["reason"]
    assert _refs(c) == ["MedicationRequest/enox", "MedicationAdministration/dose"]


def test_a_dose_after_the_evaluation_date_is_not_seen():
    later = {"resourceType": "MedicationAdministration", "id": "later", "status": "completed",
             "medicationCodeableConcept": ENOXAPARIN, "effectiveDateTime": "2026-11-05T08:00:00Z"}
    c = _criterion(ANTICOAGULATION, STALE_ORDER, later)
    assert c["result"] == "unknown" and "newest evidence is 2020-03-04 (ordered)" in c["reason"]


@pytest.mark.parametrize(("dispense", "expected"), [
    # R4: another code (the 150 mg syringe) but naming the request by its fullUrl
    ({"resourceType": "MedicationDispense", "id": "disp", "status": "completed",
      "medicationCodeableConcept": ENOXAPARIN_150, "authorizingPrescription": [{"reference": "urn:uuid:enox"}],
      "whenHandedOver": "2026-10-25T12:00:00Z"}, "fail"),
    # R5: the same code (CodeableReference), only prepared
    ({"resourceType": "MedicationDispense", "id": "disp", "status": "completed",
      "medication": {"concept": ENOXAPARIN}, "whenPrepared": "2026-10-25T12:00:00Z"}, "fail"),
    # not handed over: no evidence of use
    ({"resourceType": "MedicationDispense", "id": "disp", "status": "cancelled",
      "medicationCodeableConcept": ENOXAPARIN, "whenPrepared": "2026-10-25T12:00:00Z"}, "unknown"),
    # another drug, not naming the request
    ({"resourceType": "MedicationDispense", "id": "disp", "status": "completed",
      "medicationCodeableConcept": BEVACIZUMAB, "whenHandedOver": "2026-10-25T12:00:00Z"}, "unknown"),
])
def test_a_dispense_in_the_window_is_evidence_of_use(dispense: dict[str, Any], expected: str):
    c = _criterion(ANTICOAGULATION, STALE_ORDER, dispense)
    assert c["result"] == expected, c["reason"]
    if expected == "fail":
        assert "— recorded 2026-10-25 (dispensed: MedicationDispense/disp)" in c["reason"] or \
            "— recorded 2026-10-25 (prepared for dispensing: MedicationDispense/disp)" in c["reason"]
        assert "MedicationDispense/disp" in _refs(c)


def test_r5_shapes():
    """R5: `medication.concept`, `occurenceDateTime` (sic), an administration naming its request (`request`)."""
    order = {"resourceType": "MedicationRequest", "id": "enox", "status": "active", "intent": "order",
             "medication": {"concept": ENOXAPARIN}, "authoredOn": "2020-03-04"}
    assert _criterion(ANTICOAGULATION, order)["result"] == "unknown"
    dose = {"resourceType": "MedicationAdministration", "id": "dose", "status": "completed",
            "medication": {"concept": ENOXAPARIN_150}, "occurenceDateTime": "2026-10-28",
            "request": {"reference": "MedicationRequest/enox"}}
    c = _criterion(ANTICOAGULATION, order, dose)
    assert c["result"] == "fail" and "recorded 2026-10-28 (administered: MedicationAdministration/dose)" in c["reason"]
    # R5 MedicationStatement has no "active" (recorded | entered-in-error | draft): finished-like, stays open
    statement = {"resourceType": "MedicationStatement", "id": "stmt", "status": "recorded",
                 "medication": {"concept": ENOXAPARIN}, "effectiveDateTime": "2020-03-04"}
    c = _criterion(ANTICOAGULATION, statement)
    assert c["result"] == "unknown" and "is recorded with no end date" in c["reason"]


def test_statement_asserted_recently_counts_with_that_date():
    statement = {"resourceType": "MedicationStatement", "id": "stmt", "status": "active",
                 "medicationCodeableConcept": ENOXAPARIN, "effectiveDateTime": "2020-03-04",
                 "dateAsserted": "2026-10-20"}
    c = _criterion(ANTICOAGULATION, statement)
    assert c["result"] == "fail" and "— recorded 2026-10-20 (stated)" in c["reason"]
    c = _criterion(ANTICOAGULATION, {**statement, "dateAsserted": "2020-04-01"})
    assert c["result"] == "unknown" and "newest evidence is 2020-04-01 (stated)" in c["reason"]


def test_prescription_valid_into_the_window_counts():
    order = {**STALE_ORDER, "authoredOn": "2026-06-01",
             "dispenseRequest": {"validityPeriod": {"start": "2026-06-01", "end": "2027-06-01"}}}
    c = _criterion(ANTICOAGULATION, order)
    assert c["result"] == "fail", c["reason"]
    assert "— active since 2026-06-01 and prescription valid until 2027-06-01, after the window: the course spans it" \
        in c["reason"]


def test_a_course_with_an_end_date_is_placed_by_it():
    ended = {**STALE_ORDER, "resourceType": "MedicationStatement", "status": "active", "authoredOn": None,
             "effectivePeriod": {"start": "2020-03-04", "end": "2026-09-01"}}
    assert _criterion(ANTICOAGULATION, ended)["result"] == "pass"
    ended["effectivePeriod"]["end"] = "2026-10-15"
    c = _criterion(ANTICOAGULATION, ended)
    assert c["result"] == "fail" and "recorded 2026-10-15 (taken until, as stated)" in c["reason"]


def test_finished_order_without_end_date_stays_open():
    c = _criterion(ANTICOAGULATION, {**STALE_ORDER, "status": "stopped"})
    assert c["result"] == "unknown" and "is stopped with no end date: it may have been present" in c["reason"]


def test_ever_used_is_unchanged_by_a_stale_active_order():
    """`{medication: anti-vegf}` is any prior use: an order from 2020, still active, is that."""
    order = {**STALE_ORDER, "id": "bev", "medicationCodeableConcept": BEVACIZUMAB}
    c = _criterion("exc-prior-anti-vegf", order)
    assert c["result"] == "fail", c["reason"]
    assert c["reason"] == "meets exclusion: Anti-VEGF / VEGFR-targeted therapy recorded: Bevacizumab"  # no date
    assert _refs(c) == ["MedicationRequest/bev"]


def test_anchored_window_an_active_course_used_before_and_after_it_counts():
    """A window anchored on a result (HbA1c 2026-03-02, 14 days before it): an active order from 2025 with a dose
    after the window (but before the evaluation date) ran through it; with its newest dose before it, unknown."""
    a1c = {**A1C_BELOW_8, "linkId": "a1c"}
    on_drug = {**entry_of("medication", "96068000", "Enoxaparin"), "timeFromEvent": [
        {"eventId": "a1c", "range": {"low": {"value": -14, "code": "d"}, "high": {"value": 0, "code": "d"}}}]}
    drug = concept(SNOMED, "96068000", "enoxaparin")
    order = {"resourceType": "MedicationRequest", "id": "rx", "status": "active", "intent": "order",
             "subject": {"reference": "Patient/gp"}, "medicationCodeableConcept": drug, "authoredOn": "2025-06-01"}

    def dose(when: str) -> dict[str, Any]:
        return {"resourceType": "MedicationAdministration", "id": "dose", "status": "completed",
                "subject": {"reference": "Patient/gp"}, "medicationCodeableConcept": drug, "effectiveDateTime": when}

    (result, why), = run(combo("all-of", a1c, on_drug), facts=generic_patient(*GP_LABS, order, dose("2026-03-10")))
    assert result == "pass" and ("enoxaparin — active since 2025-06-01 and recorded 2026-03-10 (administered: "
                                 "MedicationAdministration/dose), after the window: the course spans it") in why
    (result, why), = run(combo("all-of", a1c, on_drug), facts=generic_patient(*GP_LABS, order, dose("2026-01-10")))
    assert result == "unknown", why
    assert ("MedicationRequest/rx 'enoxaparin' is active but its newest evidence is 2026-01-10 (administered: "
            "MedicationAdministration/dose), before the window (within 14 days before the HbA1c result "
            "(2026-03-02))") in why
