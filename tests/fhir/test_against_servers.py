"""Push and pull against real FHIR engines started by the harness: HAPI FHIR JPA R4 and R5, and Medplum's
fhir-router R4 (tools/medplum-server).

Push twice → one copy of each; a changed title updates the same ResearchStudy; chunks of 3 → one copy of everything;
a push that fails half-way, then a clean push, completes it without duplicates. On the R4 engines: every fixture
patient gives the same report from `evaluate --server` as from `evaluate --bundle`; paging; one round trip per
evaluation; an Observation whose first coding is local and second LOINC is found.
On HAPI R5: the same `--server` / `--bundle` comparison for fixture patients' resources whose R4 shape is also
valid R5 (Patient, Observation, Condition, AllergyIntolerance).
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
from adapter.fhir.push import PushIncomplete, push_bundle
from adapter.fhir_build import build_bundle
from adapter.render.report import report_json
from tests.support.trials import CATALOG
from tests.support.trials import PATIENTS as PATIENTS_DIR

pytestmark = [pytest.mark.hapi, pytest.mark.java, pytest.mark.medplum]

AS_OF = date(2026, 11, 1)
UNITS = CATALOG.units
TRIAL_TYPES = ("ResearchStudy", "EvidenceVariable", "PlanDefinition", "ActivityDefinition", "Organization")
SERVERS = ["hapi_r4", "hapi_r5", "medplum_r4"]
R4_SERVERS = ["hapi_r4", "medplum_r4"]


def _usable_patients() -> list[Path]:
    usable = []
    for path in sorted(PATIENTS_DIR.glob("*.json")):
        try:
            facts_from_bundle(json.loads(path.read_text(encoding="utf-8")), UNITS)
        except PatientDataError:
            continue
        usable.append(path)
    return usable


USABLE = _usable_patients()


@pytest.fixture(params=SERVERS)
def fhir_server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=R4_SERVERS, scope="module")
def r4_loaded(request: pytest.FixtureRequest) -> Any:
    """An R4 engine with every usable fixture patient loaded under its own ids."""
    server = request.getfixturevalue(request.param)
    with server.client(timeout=120) as http:
        for path in USABLE:
            answer = http.post("", json=_as_transaction(json.loads(path.read_text(encoding="utf-8"))))
            assert answer.status_code == 200, f"{path.name}: {answer.text[:2000]}"
    return server


def _count(server: Any, resource_type: str, identifier: str) -> int:
    with server.client() as http:
        answer = http.get(resource_type, params={"identifier": identifier, "_count": "100"})
        answer.raise_for_status()
        return len(answer.json().get("entry") or [])


def _renamed(bundle: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The Bundle with every business identifier made unique for this test (so everything is new)."""
    renamed = copy.deepcopy(bundle)
    for entry in renamed["entry"]:
        for identifier in entry["resource"].get("identifier", []):
            if "value" in identifier:
                identifier["value"] += suffix
        if "url" in entry["resource"]:
            entry["resource"]["url"] += suffix
        entry["request"]["url"] += suffix
    return renamed


def _one_of_each(server: Any, bundle: dict[str, Any]) -> None:
    for entry in bundle["entry"]:
        resource_type, _, query = entry["request"]["url"].partition("?identifier=")
        assert _count(server, resource_type, query) == 1, entry["request"]["url"]


def _references_resolve(server: Any, report: Any) -> None:
    with server.client() as http:
        for row in report:
            resource = http.get(f"{row.resource_type}/{row.id}").json()
            for reference in _references(resource):
                assert http.get(reference).status_code == 200, f"{row.resource_type}/{row.id} → {reference}"


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []


@pytest.mark.parametrize("nct", ["NCT03787251", "NCT03320629"])
def test_push_twice_leaves_one_of_each_and_changes_update_in_place(fhir_server: Any, nct: str) -> None:
    bundle = build_bundle(CATALOG.get(nct), fhir_server.fhir_version)
    with FhirClient(fhir_server.base_url) as client:
        first = push_bundle(client, bundle)
        second = push_bundle(client, bundle)
        assert {r.outcome for r in second} == {"unchanged"}, second
        assert second.writes == 0 and second.requests <= 2, "a repeat push searches once and writes nothing"
        assert len(first) == len(bundle["entry"])
        _one_of_each(fhir_server, bundle)
        assert {r.resource_type for r in first} >= set(TRIAL_TYPES)
        if fhir_server.fhir_version == "R4":
            assert "Group" in {r.resource_type for r in first}

        changed = copy.deepcopy(bundle)
        study = changed["entry"][0]["resource"]
        study["title"] = study["title"] + " (revised)"
        third = push_bundle(client, changed)
        outcomes = {r.resource_type: r.outcome for r in third}
        assert outcomes["ResearchStudy"] == "updated"
        assert outcomes["PlanDefinition"] == "unchanged"
        assert third[0].id == second[0].id, "the update must land on the same resource"
        assert _count(fhir_server, "ResearchStudy", f"https://clinicaltrials.gov|{nct}") == 1
        push_bundle(client, bundle)  # leave the server as the mapping says


def test_forced_chunks_of_three_give_exactly_one_copy(fhir_server: Any) -> None:
    bundle = _renamed(build_bundle(CATALOG.get("NCT03320629"), fhir_server.fhir_version), "-c3")
    with FhirClient(fhir_server.base_url) as client:
        first = push_bundle(client, bundle, max_entries=3)
        assert first.mode == "chunked" and first.chunk_size == 3, first.reason
        assert {r.outcome for r in first} == {"created"}
        _one_of_each(fhir_server, bundle)
        _references_resolve(fhir_server, first)
        again = push_bundle(client, bundle, max_entries=3)
    assert {r.outcome for r in again} == {"unchanged"}
    assert [r.id for r in again] == [r.id for r in first]
    _one_of_each(fhir_server, bundle)


def _broken(bundle: dict[str, Any]) -> dict[str, Any]:
    """The ResearchStudy (last in dependency order) made invalid for both engines: HAPI refuses the status code,
    Medplum's validator the unknown element."""
    broken = copy.deepcopy(bundle)
    study = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "ResearchStudy")
    study["status"] = "not-a-status"
    study["notAnElement"] = True
    return broken


def test_failure_half_way_then_a_clean_push_completes_it(fhir_server: Any) -> None:
    bundle = _renamed(build_bundle(CATALOG.get("NCT03787251"), fhir_server.fhir_version), "-half")
    with FhirClient(fhir_server.base_url) as client:
        with pytest.raises(PushIncomplete) as info:
            push_bundle(client, _broken(bundle), max_entries=3)
        written = info.value.written
        assert written and "ResearchStudy" not in {r.resource_type for r in written}
        assert "ResearchStudy" in str(info.value) and "push again" in str(info.value)
        study_url = next(e["request"]["url"] for e in bundle["entry"]
                         if e["resource"]["resourceType"] == "ResearchStudy")
        assert _count(fhir_server, "ResearchStudy", study_url.partition("=")[2]) == 0
        done = push_bundle(client, bundle, max_entries=3)
    rows = {r.identifier: r for r in done}
    for row in written:
        assert rows[row.identifier].id == row.id and rows[row.identifier].outcome == "unchanged"
    assert rows["https://clinicaltrials.gov|NCT03787251-half"].outcome == "created"
    _one_of_each(fhir_server, bundle)
    _references_resolve(fhir_server, done)


def test_a_failing_single_transaction_writes_nothing(fhir_server: Any) -> None:
    bundle = _renamed(build_bundle(CATALOG.get("NCT03787251"), fhir_server.fhir_version), "-atomic")
    with FhirClient(fhir_server.base_url) as client, pytest.raises(FhirServerError) as info:
        push_bundle(client, _broken(bundle))
    assert not isinstance(info.value, PushIncomplete)
    assert info.value.status is not None and info.value.status >= 400
    for entry in bundle["entry"]:
        resource_type, _, query = entry["request"]["url"].partition("?identifier=")
        assert _count(fhir_server, resource_type, query) == 0, entry["request"]["url"]


def test_push_command_prints_mode_and_per_resource(fhir_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        assert main(["push", "--server", fhir_server.base_url, "--trial", "NCT03320629"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = [n for n, line in enumerate(lines) if "  mode " in line]
    assert len(at) == 2 and "nothing to write" in lines[at[1]], lines
    second = lines[at[1] + 1:]
    assert second and all("unchanged" in line for line in second), lines


def test_push_command_chunks_on_request(medplum_r4: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "--server", medplum_r4.base_url, "--trial", "NCT03787251", "--max-bundle-entries", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_medplum_refuses_the_conditional_transaction_the_issue_reports(medplum_r4: Any) -> None:
    bundle = _renamed(build_bundle(CATALOG.get("NCT03320629"), "R4"), "-old")
    with FhirClient(medplum_r4.base_url) as client:
        with pytest.raises(FhirServerError, match="strict isolation"):
            client.transaction(bundle)  # the pre-issue push: 11 conditional updates in one transaction
        report = push_bundle(client, bundle)
    assert report.mode == "transaction" and "updateCreate" in report.reason
    assert report[0].id == "NCT03320629-old", "our deterministic id where the server allows it"


def test_push_of_the_wrong_version_is_refused(hapi_r4: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "--server", hapi_r4.base_url, "--fhir-version", "R5"]) == 2
    assert "speaks R4" in capsys.readouterr().err


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


def _patient_id(path: Path) -> str:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


@pytest.mark.parametrize("path", USABLE, ids=[p.stem for p in USABLE])
def test_server_and_file_give_the_same_report(r4_loaded: Any, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["evaluate", "--as-of", AS_OF.isoformat()]
    assert main([*common, "--bundle", str(path)]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert main([*common, "--server", r4_loaded.base_url, "--patient", _patient_id(path)]) == 0
    from_server = json.loads(capsys.readouterr().out)
    # A server search by patient never returns another patient's results, so the file's note that such a result
    # was ignored has no counterpart; everything else must be identical.
    assert len(from_file) == len(CATALOG.ids)
    for report in (*from_file, *from_server):
        report["notes"] = [n for n in report.get("notes", []) if "another patient" not in n]
    assert from_server == from_file


def test_one_round_trip_per_evaluation_and_paging(r4_loaded: Any) -> None:
    path = next(p for p in USABLE if p.stem == "p-eligible-us-units")
    patient = _patient_id(path)
    sent: list[httpx.Request] = []
    codes = observation_codes(CATALOG.all())
    with FhirClient(r4_loaded.base_url, on_request=sent.append) as client:
        resources = pull_patient(client, patient, plan_for(codes))
    assert len(sent) == 1, [str(r.url) for r in sent]
    expected = [report_json(evaluate_trial(trial, facts_from_bundle(json.loads(path.read_text()), UNITS), AS_OF))
                for trial in CATALOG.all()]
    assert [report_json(evaluate_trial(trial, facts_from_bundle(resources, UNITS), AS_OF))
            for trial in CATALOG.all()] == expected

    sent.clear()
    with FhirClient(r4_loaded.base_url, on_request=sent.append) as client:
        paged = pull_patient(client, patient, plan_for(codes, page_size=2))
    assert len(sent) > 1, "a page size of 2 must need next links"
    assert sorted(json.dumps(r, sort_keys=True) for r in paged) == sorted(
        json.dumps(r, sort_keys=True) for r in resources)


def test_local_code_first_and_loinc_second_is_found(r4_loaded: Any) -> None:
    patient = {"resourceType": "Patient", "id": "p-local-code-first", "gender": "female", "birthDate": "1970-01-01"}
    observation = {
        "resourceType": "Observation", "id": "hgb-local-first", "status": "final",
        "code": {"coding": [{"system": "http://hospital.example/lab", "code": "HGB"},
                            {"system": "http://loinc.org", "code": "718-7"}]},
        "subject": {"reference": "Patient/p-local-code-first"}, "effectiveDateTime": "2026-10-20",
        "valueQuantity": {"value": 12.5, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
    }
    with r4_loaded.client() as http:
        for resource in (patient, observation):
            assert http.put(f"{resource['resourceType']}/{resource['id']}", json=resource).status_code in (200, 201)
    assert "http://loinc.org|718-7" in observation_codes(CATALOG.all())
    with FhirClient(r4_loaded.base_url) as client:
        pulled = pull_patient(client, patient["id"], plan_for(observation_codes(CATALOG.all())))
    assert [r["id"] for r in pulled if r["resourceType"] == "Observation"] == ["hgb-local-first"]


def test_unknown_patient_is_a_clear_error(r4_loaded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--server", r4_loaded.base_url, "--patient", "no-such-patient"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


# R5: the same comparison on HAPI R5 with the resources whose R4 shape is also valid R5 (Patient, Observation,
# Condition, AllergyIntolerance); medication and procedure resources changed shape in R5 and are left out of both.
R5_COMPATIBLE = ("Patient", "Observation", "Condition", "AllergyIntolerance")


@pytest.mark.parametrize("name", ["p-eligible-us-units", "p-missing-platelets", "p-hiv", "p-liver-metastases-c78-7"])
def test_server_and_file_give_the_same_report_on_hapi_r5(hapi_r5: Any, name: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bundle = json.loads((PATIENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] in R5_COMPATIBLE]
    subset = tmp_path / f"{name}.json"
    subset.write_text(json.dumps(bundle), encoding="utf-8")
    with hapi_r5.client(timeout=120) as http:
        answer = http.post("", json=_as_transaction(bundle))
        assert answer.status_code == 200, answer.text[:2000]
    common = ["evaluate", "--as-of", AS_OF.isoformat()]
    assert main([*common, "--bundle", str(subset)]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert main([*common, "--server", hapi_r5.base_url, "--patient", _patient_id(subset)]) == 0
    from_server = json.loads(capsys.readouterr().out)
    assert from_server == from_file
    assert {r["verdict"] for r in from_file} <= {"potentially-eligible", "insufficient-data", "ineligible"}
