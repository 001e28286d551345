"""The routing rule in Python and in SQL agree, line by line, on every shape of line an export can hold."""

from __future__ import annotations

import json

import duckdb
import pytest

from adapter.screening.routing import Problem, Routed, Skipped, route, route_sql

pytestmark: list[pytest.MarkDecorator] = []

OBS = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}}
CASES: list[tuple[str, object]] = [
    (json.dumps(OBS), Routed("Observation", "p1")),
    (json.dumps(OBS | {"subject": {"reference": "https://ehr.example/fhir/Patient/p1/_history/7"}}),
     Routed("Observation", "p1")),
    (json.dumps(OBS | {"subject": {"reference": "Group/g1"}}), "no-patient"),
    (json.dumps(OBS | {"subject": {"reference": "urn:uuid:1234"}}), "no-patient"),
    (json.dumps({k: v for k, v in OBS.items() if k != "subject"}), "no-patient"),
    (json.dumps({"resourceType": "Patient", "id": "p1"}), Routed("Patient", "p1")),
    (json.dumps({"resourceType": "Patient"}), "no-patient"),
    (json.dumps({"resourceType": "Patient", "id": "bad id with spaces"}), "no-patient"),
    (json.dumps({"resourceType": "AllergyIntolerance", "id": "a", "patient": {"reference": "Patient/p2"}}),
     Routed("AllergyIntolerance", "p2")),
    (json.dumps({"resourceType": "AllergyIntolerance", "id": "a", "subject": {"reference": "Patient/p2"}}),
     "no-patient"),
    (json.dumps({"resourceType": "MedicationRequest", "id": "m", "subject": {"reference": "Patient/p3"},
                 "medicationReference": {"reference": "Medication/med1"}}),
     Routed("MedicationRequest", "p3", medication_ref="med1")),
    (json.dumps({"resourceType": "MedicationStatement", "id": "m", "subject": {"reference": "Patient/p3"},
                 "medication": {"reference": {"reference": "Medication/med2"}}}),  # R5 CodeableReference
     Routed("MedicationStatement", "p3", medication_ref="med2")),
    (json.dumps({"resourceType": "MedicationAdministration", "id": "m", "subject": {"reference": "Patient/p3"},
                 "medicationCodeableConcept": {"text": "bevacizumab"}}),
     Routed("MedicationAdministration", "p3")),
    (json.dumps({"resourceType": "Medication", "id": "med1"}), Routed("Medication", None, medication_id="med1")),
    (json.dumps({"resourceType": "Medication"}), "no-patient"),
    (json.dumps({"resourceType": "Encounter", "id": "e", "subject": {"reference": "Patient/p1"}}),
     Skipped("Encounter")),
    (json.dumps({"resourceType": "Frobnicator", "id": "x"}), "unknown-type"),
    (json.dumps({"resourceType": 7}), "unknown-type"),
    (json.dumps({"id": "x"}), "unknown-type"),
    ("[1, 2]", "unreadable-line"),
    ('"just a string"', "unreadable-line"),
    ('{"resourceType": "Observation", "subject": ', "unreadable-line"),
    ("not json at all", "unreadable-line"),
]


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_python_rule(line: str, expected: object) -> None:
    routed = route(line)
    if isinstance(expected, str):
        assert isinstance(routed, Problem) and routed.kind == expected, routed
        assert routed.reason
    else:
        assert routed == expected


def test_sql_rule_agrees_with_python_on_every_case() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (file VARCHAR, line VARCHAR)")
    con.executemany("INSERT INTO t VALUES ('f', ?)", [[line] for line, _ in CASES] + [["   "], [""], [None]])
    rows = {line: (rtype, key, med_id, med_ref, problem)
            for _, line, rtype, key, med_id, med_ref, problem in con.execute(
                f"SELECT file, line, rtype, key, med_id, med_ref, problem FROM ({route_sql('t')})").fetchall()}
    assert len(rows) == len(CASES)
    for line, _ in CASES:
        rtype, key, med_id, med_ref, problem = rows[line]
        routed = route(line)
        if isinstance(routed, Problem):
            assert problem == routed.kind, line
        elif isinstance(routed, Skipped):
            assert (problem, rtype, key) == (None, routed.resource_type, None), line
        else:
            assert routed is not None
            assert (problem, rtype, key, med_id, med_ref) == (
                None, routed.resource_type, routed.key, routed.medication_id, routed.medication_ref), line


def test_blank_lines_are_not_resources() -> None:
    assert route("   ") is None
    assert route(b"") is None
