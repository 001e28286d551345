"""Both engines screen the same export — fixture patients shuffled across files, gzip, and every kind of bad
input — with identical results, errors and worklists; nothing read is lost, nothing bad stops the rest.

The Spark engine runs PySpark in local mode and against a standalone master and worker (separate JVMs on
127.0.0.1, `tests/support/spark_cluster.py`): JVM starts, so this module is marked `spark` and `java` and
`make test-fast` leaves it out.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import TrialCatalog
from adapter.screening.outputs import ScreeningSummary
from adapter.screening.patient import JobRecipe
from adapter.screening.run import ScreenRequest, screen
from tests.support.bulk_export import fixture_resources, read_ndjson, write_export

AS_OF = date(2026, 11, 1)
SPARK = True  # conftest: java marker
pytestmark = [pytest.mark.spark, pytest.mark.java]
BEVACIZUMAB = {"resourceType": "Medication", "id": "med-bev",
               "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "253337",
                                    "display": "Bevacizumab"}]}}
ORDER = {"resourceType": "MedicationRequest", "id": "mr-bev", "status": "completed", "intent": "order",
         "subject": {"reference": "Patient/p-eligible-si-units"}, "authoredOn": "2026-06-01",
         "medicationReference": {"reference": "Medication/med-bev"}}


def _population(directory: Path) -> Path:
    resources = [r for r in fixture_resources() if r["resourceType"] != "Bundle"]
    twin = next(r for r in resources if r["resourceType"] == "Patient" and r["id"] == "p-age-18-today")
    write_export(
        directory, [*resources, BEVACIZUMAB, ORDER], seed=7, files_per_type=2, gzip_types={"Observation"},
        extra_lines={
            "Observation.3.ndjson": [
                "this is not JSON",
                json.dumps({"resourceType": "Frobnicator", "id": "f1"}),
                json.dumps({"resourceType": "Observation", "id": "no-subject", "status": "final"}),
                json.dumps({"resourceType": "Observation", "id": "ghost-obs", "status": "final",
                            "subject": {"reference": "Patient/ghost"}}),
            ],
            "Encounter.ndjson": [json.dumps({"resourceType": "Encounter", "id": f"e{i}", "status": "finished",
                                             "subject": {"reference": "Patient/p-age-18-today"}})
                                 for i in range(3)],
            "Patient.2.ndjson": [json.dumps(twin | {"birthDate": "1950-01-01"})],
        },
    )
    # A gzip file cut short: the lines before the cut are screened, the cut is an error with its line.
    complete = "".join(json.dumps({"resourceType": "Condition", "id": f"c-trunc-{i}",
                                   "subject": {"reference": "Patient/p-eligible-us-units"},
                                   "code": {"text": "Seasonal allergic rhinitis"}}) + "\n" for i in range(400))
    packed = gzip.compress(complete.encode())
    (directory / "Condition.3.ndjson.gz").write_bytes(packed[: len(packed) * 2 // 3])
    # A line that is not UTF-8: DuckDB refuses the file, the Python reader reports the one line.
    (directory / "Procedure.2.ndjson").write_bytes(
        json.dumps({"resourceType": "Procedure", "id": "pr-ok", "status": "completed",
                    "subject": {"reference": "Patient/p-eligible-us-units"}, "code": {"text": "Dental cleaning"},
                    "performedDateTime": "2026-01-01"}).encode() + b"\n" + b'{"resourceType": "Proc\xff"}\n')
    return directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, catalog: TrialCatalog,
         spark_master: str) -> dict[str, tuple[Path, ScreeningSummary]]:
    source = _population(tmp_path_factory.mktemp("export"))
    recipe = JobRecipe((), (), AS_OF)
    trials = catalog.all()
    done = {}
    for engine, workers in (("local", 2), ("spark", 2)):
        out = tmp_path_factory.mktemp(engine)
        request = ScreenRequest(source=source, out=out, recipe=recipe, engine=engine,  # type: ignore[arg-type]
                                workers=workers, memory_limit="256MB")
        done[engine] = (out, screen(request, trials))
    cluster = tmp_path_factory.mktemp("spark-cluster")  # a standalone master and worker: separate JVMs
    done["spark-cluster"] = (cluster, screen(ScreenRequest(source=source, out=cluster, recipe=recipe, engine="spark",
                                                           workers=2, spark_master=spark_master), trials))
    local_one = tmp_path_factory.mktemp("local-1")
    done["local-1"] = (local_one, screen(ScreenRequest(source=source, out=local_one, recipe=recipe, workers=1),
                                         trials))
    return done


def _sorted_lines(path: Path) -> list[str]:
    return sorted(json.dumps(line, sort_keys=True) for line in read_ndjson(path))


@pytest.mark.parametrize("other", ["spark", "spark-cluster", "local-1"])
def test_engines_agree_line_by_line(runs: dict[str, tuple[Path, ScreeningSummary]], other: str) -> None:
    local, _ = runs["local"]
    theirs, _ = runs[other]
    assert _sorted_lines(local / "results.ndjson") == _sorted_lines(theirs / "results.ndjson")
    assert _sorted_lines(local / "errors.ndjson") == _sorted_lines(theirs / "errors.ndjson")
    for name in ("worklist.csv", "attrition.csv", "Group-NCT03787251.json", "Group-NCT03320629.json"):
        assert (local / name).read_text() == (theirs / name).read_text(), name


def test_every_patient_screened_once_per_trial(runs: dict[str, tuple[Path, ScreeningSummary]],
                                               catalog: TrialCatalog) -> None:
    out, summary = runs["local"]
    results = read_ndjson(out / "results.ndjson")
    per_patient = Counter(line["patient"] for line in results)
    assert set(per_patient.values()) == {len(catalog.ids)}
    fixture_patients = {f"Patient/{r['id']}" for r in fixture_resources() if r["resourceType"] == "Patient"}
    # the one with a conflicting twin is an error, every other fixture patient is screened
    assert set(per_patient) == fixture_patients - {"Patient/p-age-18-today"}
    assert summary.patients == len(per_patient)
    assert summary.skipped == Counter({"Encounter": 3})


def test_bad_input_is_listed_with_its_place_and_reason(runs: dict[str, tuple[Path, ScreeningSummary]]) -> None:
    out, summary = runs["local"]
    errors = read_ndjson(out / "errors.ndjson")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for line in errors:
        by_kind.setdefault(line["kind"], []).append(line)
    bad_file = [e for e in by_kind["unreadable-line"] if e["file"].endswith("Observation.3.ndjson")]
    assert [(e["line"], e["text"]) for e in bad_file] == [(1, "this is not JSON")]
    assert [e["line"] for e in by_kind["unreadable-line"] if e["file"].endswith("Procedure.2.ndjson")] == [2]
    assert [(e["line"], e["reason"][:31]) for e in by_kind["unknown-type"]] == [
        (2, "resourceType 'Frobnicator' is n")]
    assert [(e["line"], e["resource"]) for e in by_kind["no-patient"]] == [(3, "Observation/no-subject")]
    assert {e["patient"] for e in by_kind["unknown-patient"]} >= {"Patient/ghost"}
    assert [e["patient"] for e in by_kind["patient-data"]] == ["Patient/p-age-18-today"]
    (truncated,) = by_kind["unreadable-file"]
    assert truncated["file"].endswith("Condition.3.ndjson.gz") and truncated["line"] > 1
    assert summary.errors == Counter({k: len(v) for k, v in by_kind.items()})


def test_lines_before_a_truncation_and_beside_a_bad_line_are_screened(
        runs: dict[str, tuple[Path, ScreeningSummary]]) -> None:
    """The kept Conditions and Procedure are text-only entries: the engine cites them, so they were read."""
    out, _ = runs["local"]
    (truncated,) = [e for e in read_ndjson(out / "errors.ndjson") if e["kind"] == "unreadable-file"]
    assert truncated["line"] > 100  # two thirds of 400 lines made it


def test_a_medication_resource_joins_the_orders_that_reference_it(
        runs: dict[str, tuple[Path, ScreeningSummary]]) -> None:
    out, _ = runs["local"]
    lines = {(line["patient"], line["trial"]): line for line in read_ndjson(out / "results.ndjson")}
    line = lines[("Patient/p-eligible-si-units", "NCT03787251")]
    assert "exc-prior-anti-angiogenic" in line["failed"]
    assert line["verdict"] == "ineligible"


def test_worklist_lists_candidates_potentially_eligible_first(runs: dict[str, tuple[Path, ScreeningSummary]]) -> None:
    import csv

    out, summary = runs["local"]
    with (out / "worklist.csv").open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for nct_id, tally in summary.tallies.items():
        mine = [r for r in rows if r["trial"] == nct_id]
        verdicts = [r["verdict"] for r in mine]
        order = ["potentially-eligible", "insufficient-data", "ineligible"]
        assert verdicts == sorted(verdicts, key=order.index)
        assert len(mine) == sum(tally.counts.values())  # everyone screened, the ineligible last
        unsure = [r for r in mine if r["verdict"] == "insufficient-data"]
        assert unsure and all(r["unknown_criteria"] and r["tests_to_settle"] is not None for r in unsure)
        candidates = [r for r in mine if r["verdict"] != "ineligible"]
        group = json.loads((out / f"Group-{nct_id}.json").read_text())
        assert [m["entity"]["reference"] for m in group.get("member", [])] == [r["patient"] for r in candidates]
        assert group["quantity"] == len(candidates)
    assert not (out / ".screening-scratch").exists()
