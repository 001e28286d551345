"""Pull and push against real HAPI FHIR JPA servers (R4 and R5), started by the test harness.

Push twice and count; a changed mapping updates in place; every fixture patient loaded into HAPI gives the same
report from `evaluate --server` as from `evaluate --bundle`; paging with a small page size; one round trip per
evaluation.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.cli import main
from adapter.eligibility.facts import facts_from_bundle
from adapter.errors import PatientDataError
from adapter.evaluation import evaluate_trial, observation_codes
from adapter.fhir.client import FhirClient, FhirServerError
from adapter.fhir.pull import plan_for, pull_patient
from adapter.fhir.push import push_bundle
from adapter.fhir_build import build_bundle
from adapter.render.report import report_json
from tests.support.hapi import HapiServer
from tests.support.trials import CATALOG
from tests.support.trials import PATIENTS as PATIENTS_DIR

AS_OF = date(2026, 11, 1)
PATIENTS = sorted(PATIENTS_DIR.glob("*.json"))
UNITS = CATALOG.units
TRIAL_TYPES = ("ResearchStudy", "EvidenceVariable", "PlanDefinition", "ActivityDefinition", "Organization")


def _usable_patients() -> list[Path]:
    usable = []
    for path in PATIENTS:
        try:
            facts_from_bundle(json.loads(path.read_text(encoding="utf-8")), UNITS)
        except PatientDataError:
            continue
        usable.append(path)
    return usable


USABLE = _usable_patients()


def _count(server: HapiServer, resource_type: str, identifier: str) -> int:
    with server.client() as http:
        answer = http.get(resource_type, params={"identifier": identifier, "_summary": "count"})
        answer.raise_for_status()
        return int(answer.json()["total"])


@pytest.mark.parametrize("nct", ["NCT03787251", "NCT03320629"])
def test_push_twice_leaves_one_of_each_and_changes_update_in_place(hapi: HapiServer, nct: str) -> None:
    bundle = build_bundle(CATALOG.get(nct), hapi.fhir_version)  # type: ignore[arg-type]
    with FhirClient(hapi.base_url) as client:
        first = push_bundle(client, bundle)
        second = push_bundle(client, bundle)
        assert {r.outcome for r in second} == {"unchanged"}, second
        assert len(first) == len(bundle["entry"])
        for entry in bundle["entry"]:
            resource_type, _, query = entry["request"]["url"].partition("?identifier=")
            assert _count(hapi, resource_type, query) == 1, entry["request"]["url"]
        assert {r.resource_type for r in first} >= set(TRIAL_TYPES)
        if hapi.fhir_version == "R4":
            assert "Group" in {r.resource_type for r in first}

        changed = copy.deepcopy(bundle)
        study = changed["entry"][0]["resource"]
        study["title"] = study["title"] + " (revised)"
        third = push_bundle(client, changed)
        outcomes = {r.resource_type: r.outcome for r in third}
        assert outcomes["ResearchStudy"] == "updated"
        assert outcomes["PlanDefinition"] == "unchanged"
        assert third[0].id == second[0].id, "the update must land on the same resource"
        assert _count(hapi, "ResearchStudy", f"https://clinicaltrials.gov|{nct}") == 1
        push_bundle(client, bundle)  # leave the server as the mapping says


def test_push_command_reports_per_resource(hapi: HapiServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "--server", hapi.base_url, "--trial", "NCT03320629"]) == 0
    assert main(["push", "--server", hapi.base_url, "--trial", "NCT03320629"]) == 0
    lines = capsys.readouterr().out.splitlines()
    second = lines[len(lines) // 2:]
    assert second and all("unchanged" in line for line in second), lines


def test_push_of_the_wrong_version_is_refused(hapi_r4: HapiServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "--server", hapi_r4.base_url, "--fhir-version", "R5"]) == 2
    assert "speaks R4" in capsys.readouterr().err


def test_server_error_leaves_nothing_half_written(hapi_r4: HapiServer) -> None:
    bundle = build_bundle(CATALOG.get("NCT03787251"), "R4")
    broken = copy.deepcopy(bundle)
    for entry in broken["entry"]:
        if entry["resource"]["resourceType"] == "ResearchStudy":
            entry["resource"]["identifier"][0]["value"] = "NCT99999999"
            entry["request"]["url"] = "ResearchStudy?identifier=https://clinicaltrials.gov|NCT99999999"
    broken["entry"][-1]["resource"]["status"] = "not-a-status"
    with FhirClient(hapi_r4.base_url) as client, pytest.raises(FhirServerError) as info:
        push_bundle(client, broken)
    assert info.value.status >= 400 and str(info.value)
    assert _count(hapi_r4, "ResearchStudy", "https://clinicaltrials.gov|NCT99999999") == 0


def _as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """The fixture as a transaction keeping its ids; a Patient it only refers to (another patient's result)
    gets a stub so the server's referential integrity holds."""
    entries = []
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    referenced = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        entries.append({"resource": resource,
                        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}})
        for key in ("subject", "patient"):
            reference = (resource.get(key) or {}).get("reference", "")
            if reference.startswith("Patient/"):
                referenced.add(reference)
    for reference in sorted(referenced - present):
        stub = {"resourceType": "Patient", "id": reference.split("/", 1)[1]}
        entries.append({"resource": stub, "request": {"method": "PUT", "url": reference}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture(scope="module")
def loaded_r4(hapi_r4: HapiServer) -> HapiServer:
    """Every usable fixture patient loaded into the R4 server under its own ids."""
    with hapi_r4.client(timeout=120) as http:
        for path in USABLE:
            answer = http.post("", json=_as_transaction(json.loads(path.read_text(encoding="utf-8"))))
            assert answer.status_code == 200, f"{path.name}: {answer.text[:2000]}"
    return hapi_r4


def _patient_id(path: Path) -> str:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


@pytest.mark.parametrize("path", USABLE, ids=[p.stem for p in USABLE])
def test_server_and_file_give_the_same_report(loaded_r4: HapiServer, path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    common = ["evaluate", "--as-of", AS_OF.isoformat()]
    assert main([*common, "--bundle", str(path)]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert main([*common, "--server", loaded_r4.base_url, "--patient", _patient_id(path)]) == 0
    from_server = json.loads(capsys.readouterr().out)
    # A server search by patient never returns another patient's results, so the file's note that such a result
    # was ignored has no counterpart; everything else must be identical.
    assert len(from_file) == len(CATALOG.ids)
    for report in (*from_file, *from_server):
        report["notes"] = [n for n in report.get("notes", []) if "another patient" not in n]
    assert from_server == from_file


def test_one_round_trip_per_evaluation_and_paging(loaded_r4: HapiServer) -> None:
    path = next(p for p in USABLE if p.stem == "p-eligible-us-units")
    patient = _patient_id(path)
    sent: list[httpx.Request] = []
    codes = observation_codes(CATALOG.all())
    with FhirClient(loaded_r4.base_url, on_request=sent.append) as client:
        resources = pull_patient(client, patient, plan_for(codes))
    assert len(sent) == 1, [str(r.url) for r in sent]
    expected = [report_json(evaluate_trial(trial, facts_from_bundle(json.loads(path.read_text()), UNITS), AS_OF))
                for trial in CATALOG.all()]
    assert [report_json(evaluate_trial(trial, facts_from_bundle(resources, UNITS), AS_OF))
            for trial in CATALOG.all()] == expected

    sent.clear()
    with FhirClient(loaded_r4.base_url, on_request=sent.append) as client:
        paged = pull_patient(client, patient, plan_for(codes, page_size=2))
    assert len(sent) > 1, "a page size of 2 must need next links"
    assert sorted(json.dumps(r, sort_keys=True) for r in paged) == sorted(
        json.dumps(r, sort_keys=True) for r in resources)


def test_unknown_patient_is_a_clear_error(loaded_r4: HapiServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--server", loaded_r4.base_url, "--patient", "no-such-patient"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
