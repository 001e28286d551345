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

pytestmark: list[pytest.MarkDecorator] = []

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
        assert line["draft"] is trial.draft  # a drafted, unreviewed mapping is said so on every line
        assert line["failed"] == [c["id"] for c in report["criteria"] if c["result"] == "fail"]
        assert line["unknown"] == [c["id"] for c in report["criteria"] if c["result"] == "unknown"]
        assert detail is not None
        shown = [(c["id"], c["result"], c["reason"]) for c in report["criteria"]]
        if report["verdict"] == "ineligible":  # why they were excluded: the failing criteria only
            shown = [c for c in shown if c[1] == "fail"]
        assert [(c["id"], c["result"], c["reason"]) for c in detail["criteria"]] == shown
        assert {k: v for k, v in detail.items() if k != "criteria"} == line


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


def test_one_resource_of_a_patient_not_in_the_export_is_said_in_the_singular(job: ScreeningJob) -> None:
    _, lines = _lines_of("p-eligible-si-units")
    orphan = next(line for line in lines if json.loads(line)["resourceType"] != "Patient")
    screened = screen_patient(job, "p-eligible-si-units", [orphan])
    assert screened.error is not None and screened.error["kind"] == "unknown-patient"
    assert screened.error["reason"] == "1 resource refers to Patient/p-eligible-si-units, which is not in the export"


def test_the_tests_to_settle_are_named_once_by_their_displays(job: ScreeningJob) -> None:
    # no blood count: the transfusion window of NCT03320629 is placed by the Hb, ANC and platelet results, and the
    # creatinine criterion asks for serum creatinine twice (the ULN and the Cockcroft–Gault inputs)
    patient, lines = _lines_of("p-eligible-si-units")
    kept = [line for line in lines if json.loads(line)["resourceType"] != "Observation"]
    screened = screen_patient(job, patient, kept)
    line = next(r for r in screened.results if r["trial"] == "NCT03320629")
    assert "inc-blood-count-no-transfusion" in line["unknown"] and "inc-renal-function" in line["unknown"]
    missing = line["missing"]
    assert len({m.casefold() for m in missing}) == len(missing)  # once, whatever the case
    assert not any(m in line["unknown"] or m.startswith(("inc-", "exc-")) for m in missing)  # no criterion ids
    assert any(m.startswith("Hemoglobin (") for m in missing)
    assert sum(m.casefold().startswith("serum creatinine") for m in missing) == 1


def test_malformed_record_is_reported_not_raised(job: ScreeningJob) -> None:
    patient, lines = _lines_of("p-eligible-si-units")
    screened = screen_patient(job, patient, [*lines, "[1, 2]"])
    assert screened.error is not None and screened.error["kind"] == "patient-data"
    assert screened.results == ()


def test_a_deceased_patient_is_screened_ineligible_with_the_date(job: ScreeningJob) -> None:
    patient, lines = _lines_of("p-eligible-us-units")
    dead = []
    for line in lines:
        resource = json.loads(line)
        if resource["resourceType"] == "Patient":
            resource["deceasedDateTime"] = "2026-10-30"
        dead.append(json.dumps(resource))
    screened = screen_patient(job, patient, dead)
    assert screened.error is None
    for line, detail in zip(screened.results, screened.candidates, strict=True):
        assert line["verdict"] == "ineligible" and line["failed"][0] == "record-deceased"
        assert line["deceased"] is True and line["last_data"] == "2026-10-30"
        assert detail is not None and [c["id"] for c in detail["criteria"]] == line["failed"]


def test_a_record_past_the_resource_cap_is_an_error_line_never_parsed() -> None:
    from dataclasses import replace

    job = replace(JobRecipe((), (), AS_OF).build(), max_resources=5)
    patient, lines = _lines_of("p-eligible-us-units")
    screened = screen_patient(job, patient, [*lines, *(b"not even json" for _ in range(10))])
    assert screened.results == () and screened.error is not None
    assert f"patient record has {len(lines) + 10} resources, limit 5" in json.dumps(screened.error)


@pytest.mark.parametrize("bad", [
    b'{"resourceType": "Patient", "id": "x", "name": [{"text": "\\ud800"}]}',  # a lone surrogate
    b'{"resourceType": "Patient", "id": "x", "extension": ' + b"[" * 200 + b"]" * 200 + b"}",  # deep
])
def test_a_line_no_writer_could_write_is_refused_where_it_is_read(bad: bytes) -> None:
    from adapter.screening.routing import Problem

    routed = route(bad)
    assert isinstance(routed, Problem) and routed.kind == "unreadable-line"
    screened = screen_patient(JobRecipe((), (), AS_OF).build(), "x", [bad])
    assert screened.error is not None and screened.results == ()
