"""A small hand-made screening summary for the report page tests: two trials, six candidates, real-looking
criteria and evidence. Built by hand so the page tests do not depend on the screening engine."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

HB = "Hemoglobin (http://loinc.org|718-7)"
PLT = "Platelets (http://loinc.org|777-3)"
SCRIPT_BREAK = "</script><script>alert(1)</script>"

TRIAL_A_CRITERIA = {
    "record-deceased": {"text": "The patient is recorded as deceased (Patient.deceased[x]).", "type": "exclusion"},
    "inc-age": {"text": "Age 18 years or older", "type": "inclusion"},
    "inc-hemoglobin": {"text": "Hemoglobin ≥ 9 g/dL", "type": "inclusion"},
    "inc-platelets": {"text": "Platelet count ≥ 100,000/mm³", "type": "inclusion"},
    "inc-consent": {"text": "Able to give written informed consent", "type": "inclusion"},
    "exc-anticoagulant": {"text": "Current use of therapeutic anticoagulation", "type": "exclusion"},
}


def _criteria(
    hb: str, plt: str, anticoag: str, *, hb_reason: str = "Hemoglobin 13.2 g/dL ≥ 9 g/dL"
) -> list[dict[str, Any]]:
    hb_item: dict[str, Any] = {"id": "inc-hemoglobin", "result": hb, "reason": hb_reason, "evidence": [], "missing": []}
    if hb == "unknown":
        hb_item.update(reason="No hemoglobin result in the last 28 days", missing=[HB])
    else:
        hb_item["evidence"] = [
            {
                "reference": "Observation/hb-1",
                "value": 13.2 if hb == "pass" else 8.1,
                "unit": "g/dL",
                "date": "2026-10-01T08:00:00+00:00",
                "normalized": {"value": 132 if hb == "pass" else 81, "unit": "g/L"},
                "note": "most recent of 3",
            }
        ]
    plt_item: dict[str, Any] = {"id": "inc-platelets", "result": plt, "reason": "Platelets 250 10*3/uL ≥ 100 10*3/uL"}
    if plt == "unknown":
        plt_item.update(reason="No platelet count in the last 28 days", missing=[PLT])
    else:
        plt_item["evidence"] = [
            {"reference": "Observation/plt-1", "value": 250, "unit": "10*3/uL", "date": "2026-10-02"}
        ]
    anti: dict[str, Any] = {"id": "exc-anticoagulant", "result": anticoag}
    anti["reason"] = "Active warfarin prescription" if anticoag == "fail" else "No anticoagulant on record"
    if anticoag == "fail":
        anti["evidence"] = [{"reference": "MedicationRequest/warf-1", "date": "2026-09-12"}]
    return [
        {"id": "inc-age", "result": "pass", "reason": "Age 54 ≥ 18", "evidence": [{"reference": "Patient/p"}]},
        hb_item,
        plt_item,
        {"id": "inc-consent", "result": "manual", "reason": "A person must confirm consent capacity"},
        anti,
    ]


PEOPLE = {  # name, MRN, birth date, age, sex, newest data
    "Patient/p1": ("Ada Lovelace", "MR-0001", "1970-03-02", 56, "female", "2026-10-02"),
    "Patient/p2": ("=HYPERLINK(\"http://x\",\"y\")", "MR-0002", "1961-12-24", 64, "male", "2026-10-02"),
    "Patient/p10": ("Grace Hopper", "MR-0010", "1950-07-15", 76, "female", "2026-10-02"),
    "Patient/p3": ("Alan Turing", "MR-0003", "1982-06-23", 44, "male", None),
    "Patient/p4": ("Émilie du Châtelet", "MR-0004", "1975-12-17", 50, "female", "2026-10-01"),
    "Patient/p5": ("Charles Babbage", "MR-0005", "1944-12-26", 81, "male", "2026-10-31"),
}
DECEASED = {"id": "record-deceased", "result": "fail", "reason": "recorded as deceased on 2026-10-31",
            "evidence": [{"reference": "Patient/p5", "value": "deceased", "date": "2026-10-31T00:00:00"}]}


def _candidate(patient: str, verdict: str, crits: list[dict[str, Any]], *, deceased: bool = False) -> dict[str, Any]:
    """A report row as outputs.py builds it: the result line, who the patient is, and the checklist (only the
    failing criteria for an ineligible patient)."""
    if deceased:
        crits = [DECEASED, *crits]
    summary = {k: sum(c["result"] == k for c in crits) for k in ("pass", "fail", "unknown", "manual")}
    missing = sorted({m for c in crits for m in c.get("missing", [])})
    name, mrn, born, age, sex, last = PEOPLE[patient]
    return {"patient": patient, "name": name, "mrn": mrn, "mrn_system": "urn:oid:1.2.3.4.5", "birth_date": born,
            "age": age, "sex": sex, "deceased": deceased, "trial": "NCT03787251", "as_of": "2026-11-01",
            "verdict": verdict, "summary": summary,
            "failed": [c["id"] for c in crits if c["result"] == "fail"],
            "unknown": [c["id"] for c in crits if c["result"] == "unknown"], "missing": missing, "last_data": last,
            "criteria": [c for c in crits if verdict != "ineligible" or c["result"] == "fail"]}


def _attrition(order: list[str], excluded: dict[str, int], unknown: dict[str, int], screened: int) -> list[dict]:
    rows, remaining = [], screened
    for n, cid in enumerate(order, start=1):
        remaining -= excluded.get(cid, 0)
        rows.append({"id": cid, "order": n, "excluded": excluded.get(cid, 0), "unknown": unknown.get(cid, 0),
                     "remaining": remaining})
    return rows


def sample_report() -> dict[str, Any]:
    candidates = [
        _candidate("Patient/p1", "potentially-eligible", _criteria("pass", "pass", "pass")),
        _candidate("Patient/p2", "potentially-eligible", _criteria("pass", "pass", "pass", hb_reason=SCRIPT_BREAK)),
        _candidate("Patient/p10", "insufficient-data", _criteria("unknown", "pass", "pass")),
        _candidate("Patient/p3", "insufficient-data", _criteria("unknown", "unknown", "pass")),
        _candidate("Patient/p4", "ineligible", _criteria("pass", "pass", "fail")),
        _candidate("Patient/p5", "ineligible", _criteria("fail", "unknown", "fail"), deceased=True),
    ]
    return {
        "generated": "2026-12-01T23:10:00+00:00",
        "as_of": "2026-11-01",
        "engine": "local",
        "source": "/data/export/2026-11-01/",
        "patients": 1234,
        "errors": {
            "count": 7,
            "by_kind": {"unreadable-line": 3, "no-patient": 2, "unknown-patient": 1, "patient-data": 1},
            "file": "errors.ndjson",
        },
        "trials": [
            {
                "nct_id": "NCT03787251",
                "title": "Apixaban versus aspirin after bioprosthetic valve replacement",
                "recruiting": True,
                "draft": False,
                "counts": {"potentially-eligible": 2, "insufficient-data": 900, "ineligible": 332},
                "criteria": TRIAL_A_CRITERIA,
                "top_failing": [{"id": "exc-anticoagulant", "count": 120}, {"id": "inc-hemoglobin", "count": 41}],
                "top_unknown": [{"id": "inc-hemoglobin", "count": 800}, {"id": "inc-platelets", "count": 512}],
                "screened": 1234,
                "attrition": _attrition(list(TRIAL_A_CRITERIA), {"record-deceased": 3, "inc-age": 168,
                                                                 "inc-hemoglobin": 41, "exc-anticoagulant": 120},
                                        {"inc-hemoglobin": 800, "inc-platelets": 512}, 1234),
                "candidates": candidates,
                "candidates_total": 910,
            },
            {
                "nct_id": "NCT03320629",
                "title": "A draft trial nobody qualifies for yet",
                "recruiting": False,
                "draft": True,
                "counts": {"potentially-eligible": 0, "insufficient-data": 0, "ineligible": 1234},
                "criteria": {"inc-egfr": {"text": "eGFR ≥ 30 mL/min/1.73 m²", "type": "inclusion"}},
                "top_failing": [{"id": "inc-egfr", "count": 1234}],
                "top_unknown": [],
                "screened": 1234,
                "attrition": _attrition(["inc-egfr"], {"inc-egfr": 1234}, {}, 1234),
                "candidates": [],
                "candidates_total": 0,
            },
        ],
    }


@pytest.fixture
def report_data() -> dict[str, Any]:
    return copy.deepcopy(sample_report())


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone Spark master with one worker (separate JVMs on 127.0.0.1) for the whole session: its
    `spark://` URL. If it cannot start the tests using it fail with the launcher's log — never skip."""
    from tests.support.spark_cluster import spark_cluster

    with spark_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        yield cluster.master
