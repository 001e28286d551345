"""TerminologyClient against a fake server (respx): timeouts, unsupported operations, malformed Parameters, the
$expand fallback of $subsumes, the pause after a failure, and the cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from adapter.terminology import TerminologyCache, TerminologyClient, augment, recognize
from adapter.terminology.client import (
    MalformedAnswer,
    OperationNotSupported,
    TerminologyUnavailable,
)
from tests.terminology.support import HIERARCHY, LEGACY, library

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://tx.example.org/fhir"
OUTCOME_NOT_SUPPORTED = {"resourceType": "OperationOutcome",
                         "issue": [{"severity": "error", "code": "not-supported", "diagnostics": "no such operation"}]}


def parameters(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(items)}


def expansion(*codes: str, total: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"contains": [{"system": HIERARCHY, "code": c} for c in codes]}
    if total is not None:
        found["total"] = total
    return {"resourceType": "ValueSet", "status": "active", "expansion": found}


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[TerminologyClient]:
    with TerminologyClient(BASE, retries=0, sleep=lambda _: None) as made:
        yield made


def test_subsumes_reads_the_outcome_and_caches_it(router: respx.MockRouter, client: TerminologyClient) -> None:
    route = router.get(f"{BASE}/CodeSystem/$subsumes").respond(
        200, json=parameters({"name": "outcome", "valueCode": "subsumes"}))
    assert client.subsumes(HIERARCHY, "a", "b").outcome == "subsumes"
    assert client.subsumes(HIERARCHY, "a", "b").method == "$subsumes"
    assert route.call_count == 1
    assert dict(route.calls[0].request.url.params) == {"system": HIERARCHY, "codeA": "a", "codeB": "b"}


@pytest.mark.parametrize("answer", [
    parameters(),
    parameters({"name": "outcome", "valueCode": "maybe"}),
    parameters({"name": "outcome", "valueCode": "subsumes"}, {"name": "outcome", "valueCode": "not-subsumed"}),
    {"resourceType": "Parameters", "parameter": "outcome"},
    {"resourceType": "Bundle"},
])
def test_malformed_subsumes_answers_are_refused(router: respx.MockRouter, client: TerminologyClient,
                                                answer: dict[str, Any]) -> None:
    router.get(f"{BASE}/CodeSystem/$subsumes").respond(200, json=answer)
    with pytest.raises(MalformedAnswer):
        client.subsumes(HIERARCHY, "a", "b")


def test_not_json_is_malformed(router: respx.MockRouter, client: TerminologyClient) -> None:
    router.get(f"{BASE}/ConceptMap/$translate").respond(200, text="<html>hi</html>", content_type="text/html")
    with pytest.raises(MalformedAnswer, match="expected FHIR JSON"):
        client.translate(LEGACY, "L-TX", HIERARCHY)


@pytest.mark.parametrize("match", [
    {"name": "match", "part": [{"name": "equivalence", "valueCode": "equivalent"}]},  # no concept
    {"name": "match", "part": [{"name": "equivalence", "valueCode": "sort-of"},
                               {"name": "concept", "valueCoding": {"system": HIERARCHY, "code": "x"}}]},
    {"name": "match", "part": [{"name": "equivalence", "valueCode": "equal"},
                               {"name": "concept", "valueCoding": {"code": "x"}}]},  # no system
])
def test_malformed_translate_matches_are_refused(router: respx.MockRouter, client: TerminologyClient,
                                                 match: dict[str, Any]) -> None:
    router.get(f"{BASE}/ConceptMap/$translate").respond(200, json=parameters(
        {"name": "result", "valueBoolean": True}, match))
    with pytest.raises(MalformedAnswer):
        client.translate(LEGACY, "L-TX", HIERARCHY)


def test_translate_reads_r5_relationships(router: respx.MockRouter, client: TerminologyClient) -> None:
    router.get(f"{BASE}/ConceptMap/$translate").respond(200, json=parameters(
        {"name": "result", "valueBoolean": True},
        {"name": "match", "part": [{"name": "relationship", "valueCode": "source-is-narrower-than-target"},
                                   {"name": "concept", "valueCoding": {"system": HIERARCHY, "code": "transfusion"}},
                                   {"name": "originMap", "valueCanonical": "http://x/cm"}]}))
    [found] = client.translate(LEGACY, "L-RBC", HIERARCHY)
    assert (found.target.code, found.equivalence) == ("transfusion", "wider")


@pytest.mark.parametrize(("status", "body"), [(404, None), (501, None), (405, None), (400, OUTCOME_NOT_SUPPORTED)])
def test_unsupported_operations(router: respx.MockRouter, client: TerminologyClient, status: int,
                                body: dict[str, Any] | None) -> None:
    router.get(f"{BASE}/ConceptMap/$translate").respond(status, json=body)
    with pytest.raises(OperationNotSupported):
        client.translate(LEGACY, "L-TX", HIERARCHY)
    router.get(f"{BASE}/CodeSystem/$subsumes").respond(200, json=parameters(
        {"name": "outcome", "valueCode": "not-subsumed"}))
    assert client.subsumes(HIERARCHY, "a", "b").outcome == "not-subsumed"  # the server is not paused for it


def test_subsumes_falls_back_to_the_expansion_when_refused(router: respx.MockRouter,
                                                           client: TerminologyClient) -> None:
    refused = router.get(f"{BASE}/CodeSystem/$subsumes").respond(400, json={
        "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                       "diagnostics": "Unknown code"}]})
    expand = router.post(f"{BASE}/ValueSet/$expand").respond(200, json=expansion("a", "b"))
    assert client.subsumes(HIERARCHY, "a", "b").outcome == "subsumes"
    assert client.subsumes(HIERARCHY, "a", "c").outcome == "not-subsumed"
    assert (refused.call_count, expand.call_count) == (1, 1)  # asked once per system, expanded once per code A


def test_expand_sends_an_inline_is_a_value_set_and_flattens_nested_contains(
        router: respx.MockRouter, client: TerminologyClient) -> None:
    nested = {"resourceType": "ValueSet", "expansion": {"total": 3, "contains": [
        {"system": HIERARCHY, "code": "p", "contains": [{"system": HIERARCHY, "code": "c1"},
                                                        {"system": HIERARCHY, "code": "gone", "inactive": True}]},
        {"system": "http://other", "code": "x"}]}}
    route = router.post(f"{BASE}/ValueSet/$expand").respond(200, json=nested)
    found = client.expand_is_a(HIERARCHY, "p", max_codes=2)
    assert [c.code for c in found.codes] == ["p", "c1"] and found.truncated
    sent = __import__("json").loads(route.calls[0].request.content)
    include = sent["parameter"][0]["resource"]["compose"]["include"][0]
    assert include == {"system": HIERARCHY, "filter": [{"property": "concept", "op": "is-a", "value": "p"}]}
    assert sent["parameter"][1] == {"name": "count", "valueInteger": 2}


def test_a_timeout_pauses_the_server(router: respx.MockRouter) -> None:
    now = [0.0]
    route = router.get(f"{BASE}/CodeSystem/$subsumes").mock(side_effect=httpx.ReadTimeout("slow"))
    with TerminologyClient(BASE, retries=0, pause_after_failure=30, clock=lambda: now[0]) as client:
        with pytest.raises(TerminologyUnavailable, match="slow"):
            client.subsumes(HIERARCHY, "a", "b")
        with pytest.raises(TerminologyUnavailable, match="not used for now"):
            client.subsumes(HIERARCHY, "a", "c")
        assert route.call_count == 1
        now[0] = 31.0
        route.mock(return_value=httpx.Response(200, json=parameters({"name": "outcome", "valueCode": "subsumes"})))
        assert client.subsumes(HIERARCHY, "a", "c").outcome == "subsumes"


def test_a_500_is_unavailable_and_leaves_the_library_and_facts_alone(router: respx.MockRouter,
                                                                     client: TerminologyClient,
                                                                     unit_table: Any) -> None:
    from adapter.eligibility.facts import facts_from_bundle
    from tests.terminology.support import patient_bundle

    router.route().respond(500, json={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "exception", "diagnostics": "boom"}]})
    concepts = library((HIERARCHY, "transfusion"))
    result = augment(concepts, client)
    assert result.concepts is concepts and not result.used and "boom" in result.notes[0]
    facts = facts_from_bundle(patient_bundle(HIERARCHY, "red-cell-transfusion"), unit_table)
    recognized = recognize(facts, concepts, client)
    assert recognized.procedures == facts.procedures
    assert recognized.notes[-1].startswith(f"Terminology server {BASE} could not be used")


def test_recognize_is_bounded(router: respx.MockRouter, client: TerminologyClient, unit_table: Any) -> None:
    from adapter.eligibility.facts import facts_from_bundle
    from tests.terminology.support import patient_bundle

    route = router.get(f"{BASE}/CodeSystem/$subsumes").respond(200, json=parameters(
        {"name": "outcome", "valueCode": "not-subsumed"}))
    facts = facts_from_bundle(patient_bundle(HIERARCHY, "red-cell-transfusion"), unit_table)
    checked = recognize(facts, library((HIERARCHY, "transfusion")), client, max_codes=0)
    assert route.call_count == 0
    assert "1 more record code(s) not checked (limit 0 per patient)" in checked.notes[-1]


def test_cache_ttl_size_and_file(tmp_path: Any) -> None:
    now = [1000.0]
    path = tmp_path / "tx.json"
    cache = TerminologyCache(path=path, max_entries=2, ttl=10, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", [2])
    cache.put("c", {"x": 3})
    assert cache.get("a") is None and cache.get("b") == [2]  # a was the least recently used
    assert cache.save()
    again = TerminologyCache(path=path, ttl=10, clock=lambda: now[0])
    assert again.get("c") == {"x": 3}
    now[0] += 11
    assert again.get("c") is None  # expired
    path.write_text(path.read_text().replace('"x":3', '"x":4'))
    assert not TerminologyCache(path=path, clock=lambda: 1000.0).load()  # changed: ignored whole
    path.write_text("not json")
    assert len(TerminologyCache(path=path)) == 0


def test_systems_the_server_does_not_hold_are_not_expanded(router: respx.MockRouter, client: TerminologyClient):
    held = router.get(f"{BASE}/CodeSystem", params={"url": HIERARCHY}).respond(
        200, json={"resourceType": "Bundle", "type": "searchset", "total": 0})
    expand = router.post(f"{BASE}/ValueSet/$expand").respond(200, json=expansion("transfusion", "child"))
    result = augment(library((HIERARCHY, "transfusion")), client, target_systems={})
    assert result.added == {} and expand.call_count == 0 and held.call_count == 1
    assert result.used


def test_a_server_that_cannot_search_code_systems_is_asked_anyway(router: respx.MockRouter,
                                                                   client: TerminologyClient) -> None:
    router.get(f"{BASE}/CodeSystem").respond(404)
    router.post(f"{BASE}/ValueSet/$expand").respond(200, json=expansion("transfusion", "child"))
    result = augment(library((HIERARCHY, "transfusion")), client, target_systems={})
    assert result.added == {"procedures.transfusion": 1}
    [child] = [c for c in result.concepts.procedures["transfusion"].codes if c.code == "child"]
    assert child.source == f"terminology:{BASE}"
