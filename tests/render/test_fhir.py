"""adapter.render.fhir: a TrialEvaluation as a ResearchSubject and a Parameters resource in a collection Bundle."""

from __future__ import annotations

import pytest

from adapter.render.fhir import evaluation_bundle
from tests.render.sample import AGE, HB, HIV, PLT, trial_evaluation

pytestmark: list[pytest.MarkDecorator] = []


def test_bundle_holds_the_subject_and_every_criterion():
    bundle = evaluation_bundle(trial_evaluation(HB, PLT, HIV))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    (subject_entry, parameters_entry) = bundle["entry"]
    subject, parameters = subject_entry["resource"], parameters_entry["resource"]
    assert subject["resourceType"] == "ResearchSubject" and subject["subject"] == {"reference": "Patient/p1"}
    assert subject["study"]["identifier"] == {"system": "https://clinicaltrials.gov", "value": "NCT00000001"}
    progress = subject["progress"][0]
    assert progress["subjectState"]["coding"][0]["code"] == "candidate" and progress["startDate"] == "2026-11-01"
    head = parameters["parameter"][:4]
    assert head == [{"name": "subject", "valueReference": {"reference": subject_entry["fullUrl"]}},
                    {"name": "trial", "valueString": "NCT00000001"}, {"name": "asOf", "valueDate": "2026-11-01"},
                    {"name": "verdict", "valueCode": "insufficient-data"}]
    hb = parameters["parameter"][4]["part"]
    assert hb[:5] == [{"name": "id", "valueString": "inc-hemoglobin"}, {"name": "type", "valueCode": "inclusion"},
                      {"name": "result", "valueCode": "pass"}, {"name": "text", "valueString": "HB≥90g/L;"},
                      {"name": "reason", "valueString": "Hemoglobin 9 g/dL = 90 g/L ≥ 90 g/L"}]
    assert hb[5] == {"name": "code", "valueCoding": {"system": "http://loinc.org", "code": "718-7"}}
    assert hb[6] == {"name": "evidence", "part": [
        {"name": "reference", "valueReference": {"reference": "Observation/hb"}},
        {"name": "value", "valueQuantity": {"value": 9.0, "unit": "g/dL"}}]}
    hiv = parameters["parameter"][6]["part"]
    assert hiv[-1]["part"][1] == {"name": "value", "valueString": "HIV <b>"}


def test_ineligible_is_the_ineligible_state_and_urls_are_stable():
    result = trial_evaluation(AGE, verdict="ineligible")
    first, again = evaluation_bundle(result), evaluation_bundle(result)
    assert first == again and first["entry"][0]["fullUrl"].startswith("urn:uuid:")
    assert first["entry"][0]["resource"]["progress"][0]["subjectState"]["coding"][0]["code"] == "ineligible"
    other = evaluation_bundle(trial_evaluation(AGE, verdict="ineligible", nct_id="NCT00000002"))
    assert other["entry"][0]["fullUrl"] != first["entry"][0]["fullUrl"]


def test_a_draft_says_so_in_the_subject_and_the_parameters_and_a_reviewed_trial_does_not():
    from dataclasses import replace

    from adapter.render.report import DRAFT_NOTE
    from tests.render.sample import drafted

    reviewed = evaluation_bundle(trial_evaluation(HB, PLT))
    draft = evaluation_bundle(replace(drafted(trial_evaluation(HB, PLT)), needs_review=(("inc-platelets", "why"),)))
    subject, parameters = (e["resource"] for e in draft["entry"])
    assert DRAFT_NOTE in subject["text"]["div"] and DRAFT_NOTE in subject["progress"][0]["reason"]["text"]
    assert parameters["parameter"][4] == {"name": "draft", "valueBoolean": True}
    assert parameters["parameter"][6]["part"][-1] == {"name": "needsReview", "valueString": "why"}
    assert "draft" not in str(reviewed) and "needsReview" not in str(reviewed)
    assert [p for p in parameters["parameter"] if p["name"] != "draft"] == [
        {**p, "part": [*p["part"], {"name": "needsReview", "valueString": "why"}]} if p["name"] == "criterion"
        and p["part"][0]["valueString"] == "inc-platelets" else p
        for p in reviewed["entry"][1]["resource"]["parameter"]]
