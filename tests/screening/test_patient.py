"""screen_patient gives, for a patient's lines, what `trial-adapter evaluate` gives for their resources; bad
records become error lines, never exceptions."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.render.report import report_json
from adapter.screening.patient import JobRecipe, ScreeningJob, screen_patient
from adapter.screening.routing import Routed, route
from tests.support.trials import PATIENTS

AS_OF = date(2026, 11, 1)
# Not one patient's record: evaluate refuses them as input errors (in an export, two Patients are two patients).
INPUT_ERRORS = {"p-not-fhir", "p-two-patients"}
FIXTURES = sorted(p.stem for p in PATIENTS.glob("*.json") if p.stem not in INPUT_ERRORS)


@pytest.fixture(scope="module")
def job() -> ScreeningJob:
    return JobRecipe((), (), AS_OF).build()


def _lines_of(name: str) -> tuple[str, list[str]]:
    bundle = json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8"))
    lines = [json.dumps(e["resource"]) for e in bundle["entry"]]
    patient = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    mine = [line for line in lines if isinstance(r := route(line), Routed) and r.key == patient]
    return patient, mine


@pytest.mark.parametrize("name", FIXTURES)
def test_same_verdict_and_criteria_as_evaluate(job: ScreeningJob, name: str) -> None:
    bundle = json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8"))
    facts = facts_from_bundle(bundle, job.units)
    patient, lines = _lines_of(name)
    screened = screen_patient(job, patient, lines)
    assert screened.error is None, screened.error
    assert len(screened.results) == len(job.trials)
    for trial, line, detail in zip(job.trials, screened.results, screened.candidates, strict=True):
        report = report_json(evaluate_trial(trial, facts, AS_OF))
        assert line["patient"] == report["patient"] == f"Patient/{patient}"
        assert (line["trial"], line["verdict"], line["summary"]) == (report["trial"], report["verdict"],
                                                                     report["summary"])
        assert line["failed"] == [c["id"] for c in report["criteria"] if c["result"] == "fail"]
        assert line["unknown"] == [c["id"] for c in report["criteria"] if c["result"] == "unknown"]
        if report["verdict"] == "ineligible":
            assert detail is None
        else:
            assert detail is not None
            assert [(c["id"], c["result"], c["reason"]) for c in detail["criteria"]] == [
                (c["id"], c["result"], c["reason"]) for c in report["criteria"]]


def test_order_of_lines_does_not_matter(job: ScreeningJob) -> None:
    patient, lines = _lines_of("p-eligible-si-units")
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    assert screen_patient(job, patient, shuffled) == screen_patient(job, patient, lines)


def test_missing_lists_only_what_would_settle_open_criteria(job: ScreeningJob) -> None:
    patient, lines = _lines_of("p-eligible-si-units")
    for line in screen_patient(job, patient, lines).results:
        if not line["unknown"]:
            assert line["missing"] == []


def test_the_same_patient_twice_counts_once_two_different_ones_are_an_input_error(job: ScreeningJob) -> None:
    patient, lines = _lines_of("p-eligible-si-units")
    patient_line = next(line for line in lines if json.loads(line)["resourceType"] == "Patient")
    assert screen_patient(job, patient, [*lines, patient_line]).error is None
    other = json.loads(patient_line) | {"birthDate": "1901-01-01"}
    screened = screen_patient(job, patient, [*lines, json.dumps(other)])
    assert screened.results == ()
    assert screened.error is not None and screened.error["kind"] == "patient-data"
    assert "two different Patient resources" in screened.error["reason"]


def test_resources_of_a_patient_not_in_the_export(job: ScreeningJob) -> None:
    _, lines = _lines_of("p-eligible-si-units")
    orphans = [line for line in lines if json.loads(line)["resourceType"] != "Patient"]
    screened = screen_patient(job, "p-eligible-si-units", orphans)
    assert screened.error == {"kind": "unknown-patient", "patient": "Patient/p-eligible-si-units",
                              "resources": len(orphans),
                              "reason": f"{len(orphans)} resources refer to Patient/p-eligible-si-units, which is "
                                        "not in the export"}


def test_malformed_record_is_reported_not_raised(job: ScreeningJob) -> None:
    patient, lines = _lines_of("p-eligible-si-units")
    screened = screen_patient(job, patient, [*lines, "[1, 2]"])
    assert screened.error is not None and screened.error["kind"] == "patient-data"
    assert screened.results == ()
