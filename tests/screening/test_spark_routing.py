"""The routing as Spark column expressions agrees with the Python rule on every case of test_routing: where Python
routes a line, Spark gives the same type, key and medication ids; where Python finds a problem, Spark flags the
line (its file then goes through the Python reader), never routes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapter.screening.routing import Problem, Routed, Skipped, route
from adapter.screening.selection import Selection
from adapter.screening.spark_routing import route_stages
from tests.screening.test_routing import CASES, OBS

pytestmark = [pytest.mark.spark, pytest.mark.java]
SPARK = True  # conftest: spark and java markers

LENIENT = [  # lines Spark's JSON reader takes and orjson refuses, or a number where a string belongs
    json.dumps({"resourceType": "Patient", "id": 123}),
    json.dumps({"resourceType": "Medication", "id": 7}),
    '{"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "code": {"text": "\\ud800"}}',
    '{"resourceType": "Observation", "subject": {"reference": "Patient/p1"}, "valueInteger": 12345678901234567890}',
    '{"resourceType": "Observation", "subject": {"reference": "Patient/p1"}, "valueDecimal": NaN}',
    "{'resourceType': 'Patient', 'id': 'p1'}",
    '{"resourceType": "Patient", "id": "p1"} trailing',
    json.dumps({"resourceType": "Observation", "subject": "Patient/p1"}),
    json.dumps({"resourceType": "Patient", "id": "p1", "contained": [{"id": 5}]}),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from adapter.screening.spark import start_session

    session = start_session("local[1]", None)
    yield session
    session.stop()


def _routed(spark: Any, lines: list[str], selection: Selection | None = None) -> list[Any]:
    frame = spark.createDataFrame([("f", line) for line in lines], "file STRING, line STRING")
    for stage in route_stages(1 << 20, selection or Selection(None)):
        frame = frame.selectExpr(*stage)
    by_line = {row["line"]: row for row in frame.collect()}
    return [by_line[line] for line in lines]


def test_spark_rule_agrees_with_python_on_every_case(spark: Any) -> None:
    lines = [line for line, _ in CASES]
    for line, row in zip(lines, _routed(spark, lines), strict=True):
        expected = route(line)
        if isinstance(expected, Routed):
            assert row["problem"] is None, line
            assert (row["rtype"], row["key"], row["med_id"], row["med_ref"]) == (
                expected.resource_type, expected.key, expected.medication_id, expected.medication_ref), line
        elif isinstance(expected, Skipped):
            assert (row["problem"], row["rtype"]) == (None, expected.resource_type), line
        else:
            assert isinstance(expected, Problem) and row["problem"] == "flagged", (line, row)


def test_spark_never_routes_a_line_python_refuses(spark: Any) -> None:
    """Where the readers could disagree Spark flags (over-flagging costs only the Python reader's time)."""
    flagged = 0
    for line, row in zip(LENIENT, _routed(spark, LENIENT), strict=True):
        expected = route(line)
        if isinstance(expected, Problem):
            assert row["problem"] == "flagged", (line, row)
        elif row["problem"] is None:
            assert isinstance(expected, Routed) and (row["key"], row["med_id"]) == (
                expected.key, expected.medication_id), line
        flagged += row["problem"] == "flagged"
    assert flagged >= sum(isinstance(route(line), Problem) for line in LENIENT) > 0


def test_an_observation_no_trial_reads_is_not_wanted(spark: Any) -> None:
    read = json.dumps(OBS | {"code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}})
    unread = json.dumps(OBS | {"code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}})
    patient = json.dumps({"resourceType": "Patient", "id": "p1", "note": "8302-2"})
    rows = _routed(spark, [read, unread, patient], Selection(frozenset({"718-7"})))
    assert [row["wanted"] for row in rows] == [True, False, True]
