"""Issue 10: generated FHIR-ish bodies (random nesting of FHIR keys, huge numbers, NaN-like strings, unicode,
control characters) posted to the hook (as prefetch) and to `$evaluate`: never a 5xx, never an ERROR log line or
a traceback."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.service import ServiceSettings, create_app
from tests.service import SERVICE_PATH, fixture_prefetch, hook_body
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

APP = create_app(ServiceSettings(allow_unauthenticated=True, include_closed_trials=True, as_of=date(2026, 11, 1)),
                 CATALOG, warm=False)
CLIENT = TestClient(APP, raise_server_exceptions=False)
PID, PREFETCH = fixture_prefetch("p-eligible-us-units")

KEYS = ["resourceType", "entry", "resource", "valueQuantity", "value", "unit", "code", "coding", "system",
        "subject", "reference", "effectiveDateTime", "status", "component", "id", "type", "total", "link",
        "relation", "referenceRange", "high", "low", "comparator", "valueCodeableConcept", "birthDate", "gender",
        "valueInteger", "valueString", "search", "mode", "text", "issued", "meta"]
WORDS = ["Bundle", "Observation", "Patient", "Condition", "searchset", "collection", "final", "amended",
         "http://loinc.org", "http://unitsofmeasure.org", "718-7", "777-3", "751-8", "2160-0", "g/dL", "10*3/uL",
         "/uL", "mg/dL", "umol/L", "[degF]", "Cel", "Patient/" + PID, "Patient/other", "<", ">=", "male",
         "female", "1960-05-01", "2026-10-27T08:00:00Z", "2026-13-45", "next", "match", "NaN", "-Infinity", "inf",
         "1e400", "1E-999999", "0x1p3", "１２", "\u202e", "\x00", "\x1b[31m", "a\nb", "💥", ""]
SCALARS = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.integers(-(10**40 - 1), 10**40 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
FHIRISH = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(KEYS), children, max_size=6)),
    max_leaves=40,
)
RESOURCE = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Observation", "Condition", "Patient", "Bundle", "MedicationStatement"]),
     "subject": st.sampled_from([{"reference": f"Patient/{PID}"}, {"reference": "Patient/other"}, "x", None])},
    optional={key: FHIRISH for key in ("valueQuantity", "code", "component", "status", "effectiveDateTime",
                                       "referenceRange", "entry", "id", "valueCodeableConcept")},
)


def _bundle_of(items: list[Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1960-05-01"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": patient}, *({"resource": item} for item in items)]}


def _check(answer: Any, caplog: pytest.LogCaptureFixture, where: str) -> None:
    assert answer.status_code < 500, (where, answer.status_code, answer.text[:300])
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, (where, [r.getMessage() for r in bad])
    assert "Traceback" not in caplog.text


def _post(path: str, body: Any) -> Any:
    # allow_nan: a generated float is finite, but json.dumps must not refuse what the generator made
    return CLIENT.post(path, content=json.dumps(body, allow_nan=False).encode(),
                       headers={"Content-Type": "application/json"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(RESOURCE, FHIRISH), max_size=4), st.sampled_from(list(PREFETCH)), FHIRISH)
def test_generated_bodies_never_cause_a_server_error(caplog: pytest.LogCaptureFixture, items: list[Any], key: str,
                                                     replacement: Any) -> None:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        _check(_post("/trials/NCT03320629/$evaluate", _bundle_of(items)), caplog, "$evaluate")
        prefetch = dict(PREFETCH)
        prefetch[key] = replacement if key != "observations" else {
            "resourceType": "Bundle", "type": "searchset", "entry": [{"resource": item} for item in items]}
        _check(_post(SERVICE_PATH, hook_body(PID, prefetch)), caplog, f"hook prefetch {key}")
        _check(_post(SERVICE_PATH, {"hook": "patient-view", "hookInstance": replacement,
                                    "context": replacement, "prefetch": replacement}), caplog, "hook body")


# -- found by the fuzzing above (a Patient id that is a list; a numeric string of absurd size): fixed, kept ---------


def test_a_patient_id_that_is_not_a_string_is_a_400() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "Patient", "id": ["p1"]}}]}
    answer = CLIENT.post("/trials/NCT03320629/$evaluate", json=bundle)
    assert answer.status_code == 400


def test_a_numeric_string_value_of_absurd_size_is_no_500() -> None:
    bundle = _bundle_of([{"resourceType": "Observation", "id": "hb", "status": "final",
                          "subject": {"reference": f"Patient/{PID}"}, "effectiveDateTime": "2026-10-27T08:00:00Z",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                          "valueQuantity": {"value": "1e5000", "unit": "g/dL", "system": "http://unitsofmeasure.org",
                                            "code": "g/dL"}}])
    answer = CLIENT.post("/trials/NCT03320629/$evaluate", json=bundle)
    assert answer.status_code < 500
