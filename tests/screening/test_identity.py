"""Who a screened patient is: name, MRN, birth date, age, sex, and the date of the newest evidence, read in the
pure per-patient step without changing any result."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapter.eligibility.outcome import Evidence
from adapter.screening.identity import age_on, display_name, medical_record_number, newest_evidence
from adapter.screening.patient import JobRecipe, ScreeningJob, screen_patient
from tests.screening.test_patient import AS_OF, _lines_of

pytestmark: list[pytest.MarkDecorator] = []

SITE = "urn:oid:1.2.840.999.1"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


@pytest.mark.parametrize(("names", "expected"), [
    ([{"use": "nickname", "given": ["Bo"]}, {"use": "official", "family": "Smith", "given": ["Ann", "Marie"]}],
     "Ann Marie Smith"),
    ([{"use": "old", "family": "Old"}, {"use": "usual", "given": ["Jo"], "family": "Doe"}], "Jo Doe"),
    ([{"family": "First"}, {"family": "Second"}], "First"),
    ([{"text": "  Dr.  Chen  Li "}], "Dr. Chen Li"),
    ([{"use": "official"}], None),
    ([], None),
    ("not a list", None),
])
def test_the_name_official_first_then_usual_then_text(names: Any, expected: str | None) -> None:
    assert display_name({"resourceType": "Patient", "name": names}) == expected


def test_the_mrn_site_system_then_type_mr_then_first() -> None:
    identifiers = [{"system": "urn:ssn", "value": "123-45"},
                   {"system": "urn:hospital", "type": MR, "value": "MR-9"},
                   {"system": SITE, "value": "S-1"}]
    patient = {"identifier": identifiers}
    assert medical_record_number(patient) == ("MR-9", "urn:hospital")
    assert medical_record_number(patient, SITE) == ("S-1", SITE)
    assert medical_record_number(patient, "urn:none") == ("MR-9", "urn:hospital")
    assert medical_record_number({"identifier": identifiers[:1]}) == ("123-45", "urn:ssn")
    assert medical_record_number({"identifier": [{"system": "urn:x"}, {"value": "V"}]}) == ("V", None)
    assert medical_record_number({}) == (None, None)


def test_age_in_completed_years_on_the_as_of_date() -> None:
    assert age_on(date(2008, 11, 1), date(2026, 11, 1)) == 18
    assert age_on(date(2008, 11, 2), date(2026, 11, 1)) == 17
    assert age_on(None, date(2026, 11, 1)) is None
    assert age_on(date(2027, 1, 1), date(2026, 11, 1)) is None


def test_newest_evidence_is_the_latest_dated_item() -> None:
    items = [Evidence("Observation/a", date=datetime(2026, 3, 1, tzinfo=UTC)), Evidence("Patient/p"),
             Evidence("Observation/b", date=datetime(2026, 9, 30, 23, 0))]
    assert newest_evidence(items) == "2026-09-30"
    assert newest_evidence([Evidence("Patient/p")]) is None


def _with_patient(lines: list[str], **fields: Any) -> list[str]:
    changed = []
    for line in lines:
        resource = json.loads(line)
        if resource["resourceType"] == "Patient":
            resource.update(fields)
        changed.append(json.dumps(resource))
    return changed


def test_result_lines_say_who_the_patient_is_and_results_do_not_change() -> None:
    job = JobRecipe((), (), AS_OF, mrn_system=SITE).build()
    patient, lines = _lines_of("p-eligible-us-units")
    plain = screen_patient(job, patient, lines)
    named = screen_patient(job, patient, _with_patient(
        lines, name=[{"use": "official", "given": ["Ada"], "family": "=Lovelace"}],
        identifier=[{"type": MR, "system": "urn:mr", "value": "MR-1"}, {"system": SITE, "value": "S-77"}]))
    for before, after in zip(plain.results, named.results, strict=True):
        keep = ("trial", "verdict", "summary", "failed", "unknown", "missing", "last_data")
        assert {k: before[k] for k in keep} == {k: after[k] for k in keep}
        assert (after["name"], after["mrn"], after["mrn_system"]) == ("Ada =Lovelace", "S-77", SITE)
        assert after["sex"] in {"male", "female", "other", "unknown"}
        assert isinstance(after["age"], int) and after["birth_date"] and after["deceased"] is False
        assert after["last_data"] is not None and after["last_data"] <= AS_OF.isoformat()


def test_last_data_is_the_newest_evidence_of_that_trial(job: ScreeningJob) -> None:
    patient, lines = _lines_of("p-eligible-us-units")
    screened = screen_patient(job, patient, lines)
    for line, detail in zip(screened.results, screened.candidates, strict=True):
        assert detail is not None
        dates = [e["date"][:10] for c in detail["criteria"] for e in c["evidence"] if e.get("date")]
        if line["verdict"] != "ineligible":  # the whole checklist: every evidence item is there
            assert line["last_data"] == (max(dates) if dates else None)


@pytest.fixture(scope="module")
def job() -> ScreeningJob:
    return JobRecipe((), (), AS_OF).build()
