"""Push modes against a small fake FHIR server (respx): what a real server cannot easily be made to do.

A transaction refused for its size → chunks; no transaction interaction → one request per resource with If-Match;
a transaction-response with fewer entries → FhirServerError; 429 on a transaction → backoff and retry; a chunk that
fails → PushIncomplete naming what was written, and the next push completes it. Pull: a batch with one entry
refused (403) is an error, never "no data"; a server that ignores _count and _sort still gives everything by paging.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import respx

from adapter.errors import BatchEntryError
from adapter.fhir.client import FhirClient, FhirServerError
from adapter.fhir.pull import plan_for, pull_patient
from adapter.fhir.push import PushIncomplete, push_bundle
from adapter.fhir_build import build_bundle
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://fhir.test/fhir"
JSON = {"Content-Type": "application/fhir+json"}


class FakeServer:
    """An in-memory FHIR server: identifier searches, batch of GETs, transactions of PUT/POST, single PUT/POST."""

    def __init__(self, *, transaction: bool = True, update_create: bool = False, max_entries: int | None = None):
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.transaction = transaction
        self.update_create = update_create
        self.max_entries = max_entries
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.fail_transaction: int | None = None  # the n-th transaction (1-based) fails with 500
        self.transactions = 0
        self.next_id = 0

    def capability(self) -> dict[str, Any]:
        codes = ["batch", *(["transaction"] if self.transaction else [])]
        types = ["ResearchStudy", "EvidenceVariable", "Group", "PlanDefinition", "ActivityDefinition",
                 "Organization", "Location", "CodeSystem", "StructureDefinition"]
        return {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "software": {"name": "Fake"},
                "rest": [{"mode": "server", "interaction": [{"code": c} for c in codes],
                          "resource": [{"type": t, "updateCreate": self.update_create, "conditionalCreate": True}
                                       for t in types]}]}

    def search(self, relative: str) -> dict[str, Any]:
        path, _, query = relative.partition("?")
        wanted = dict(parse_qsl(query)).get("identifier", "")
        hits = [r for (kind, _), r in self.store.items() if kind == path
                and any(f"{i.get('system')}|{i.get('value')}" == wanted for i in r.get("identifier", []))]
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in hits]}

    def write(self, method: str, url: str, resource: dict[str, Any], if_match: str | None) -> tuple[str, dict]:
        kind, _, resource_id = url.partition("/")
        if method == "POST":
            self.next_id += 1
            resource_id = str(self.next_id)
        existing = self.store.get((kind, resource_id))
        if if_match and (existing is None or f'W/"{existing["meta"]["versionId"]}"' != if_match):
            raise FhirServerError(412, "version conflict")
        version = str(int(existing["meta"]["versionId"]) + 1) if existing else "1"
        stored = {**resource, "id": resource_id, "meta": {"versionId": version}}
        self.store[(kind, resource_id)] = stored
        return ("200 OK" if existing else "201 Created"), stored

    def handle(self, request: httpx.Request) -> httpx.Response:
        relative = str(request.url)[len(BASE) + 1:]
        self.requests.append((request.method, relative, dict(request.headers)))
        if relative == "metadata":
            return httpx.Response(200, json=self.capability(), headers=JSON)
        if request.method == "GET":
            return httpx.Response(200, json=self.search(relative), headers=JSON)
        body = json.loads(request.content)
        if relative == "":
            return self.bundle(body)
        status, stored = self.write(request.method, relative, body, request.headers.get("If-Match"))
        return httpx.Response(int(status[:3]), json=stored,
                              headers={**JSON, "ETag": f'W/"{stored["meta"]["versionId"]}"'})

    def bundle(self, body: dict[str, Any]) -> httpx.Response:
        if body["type"] == "batch":
            entries = [{"response": {"status": "200"}, "resource": self.search(e["request"]["url"])}
                       for e in body["entry"]]
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries},
                                  headers=JSON)
        self.transactions += 1
        if self.max_entries is not None and len(body["entry"]) > self.max_entries:
            return httpx.Response(400, json=_outcome("Transaction requires strict isolation but has too many entries"),
                                  headers=JSON)
        if self.transactions == self.fail_transaction:
            return httpx.Response(500, json=_outcome("disk full"), headers=JSON)
        saved = dict(self.store)
        assigned: dict[str, str] = {}
        answers = []
        try:
            for entry in body["entry"]:
                request = entry["request"]
                resource = entry["resource"]
                for urn, reference in assigned.items():
                    resource = json.loads(json.dumps(resource).replace(f'"{urn}"', f'"{reference}"'))
                status, stored = self.write(request["method"], request["url"], resource, request.get("ifMatch"))
                assigned[entry.get("fullUrl", "")] = f"{stored['resourceType']}/{stored['id']}"
                answers.append({"response": {"status": status, "location":
                                f"{stored['resourceType']}/{stored['id']}/_history/{stored['meta']['versionId']}"}})
        except FhirServerError as exc:
            self.store = saved
            return httpx.Response(exc.status or 500, json=_outcome(exc.message), headers=JSON)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": answers},
                              headers=JSON)

    def copies(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for resource in self.store.values():
            for identifier in resource.get("identifier", [])[:1]:
                key = f"{resource['resourceType']}|{identifier['value']}"
                counted[key] = counted.get(key, 0) + 1
        return counted

    def dangling(self) -> list[str]:
        refs = []
        for resource in self.store.values():
            for reference in _references(resource):
                kind, _, rid = reference.partition("/")
                if (kind, rid) not in self.store:
                    refs.append(reference)
        return refs


def _outcome(text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                           "diagnostics": text}]}


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


BUNDLE = build_bundle(CATALOG.get("NCT03320629"), "R4")


@pytest.fixture
def fake() -> Any:
    def make(**kwargs: Any) -> tuple[FakeServer, FhirClient]:
        server = FakeServer(**kwargs)
        router.route(url__startswith=BASE).mock(side_effect=server.handle)
        return server, FhirClient(BASE, sleep=lambda _: None)

    with respx.mock(assert_all_called=False) as router:
        yield make


def _assert_clean(server: FakeServer) -> None:
    assert set(server.copies().values()) == {1}, server.copies()
    assert len(server.copies()) == len(BUNDLE["entry"])
    assert server.dangling() == []


def test_a_transaction_refused_for_size_is_sent_in_chunks(fake: Any) -> None:
    server, client = fake(max_entries=4)
    report = push_bundle(client, BUNDLE)
    assert report.mode == "chunked" and "too many entries" in report.reason
    assert report.chunk_size is not None and report.chunk_size <= 4
    _assert_clean(server)
    assert {r.outcome for r in push_bundle(client, BUNDLE)} == {"unchanged"}
    _assert_clean(server)


def test_no_transaction_means_one_request_per_resource_with_if_match(fake: Any) -> None:
    server, client = fake(transaction=False, update_create=True)
    first = push_bundle(client, BUNDLE)
    assert first.mode == "resolve-then-write" and {r.outcome for r in first} == {"created"}
    assert first[0].id == "NCT03320629"
    changed = json.loads(json.dumps(BUNDLE))
    changed["entry"][0]["resource"]["title"] += " (revised)"
    server.requests.clear()
    third = push_bundle(client, changed)
    puts = [(method, url, headers) for method, url, headers in server.requests if method == "PUT"]
    assert [url for _, url, _ in puts] == ["ResearchStudy/NCT03320629"]
    assert puts[0][2].get("if-match") == 'W/"1"'
    assert third[0].outcome == "updated"
    _assert_clean(server)


def test_a_stale_version_is_refused_not_overwritten(fake: Any) -> None:
    server, client = fake(transaction=False, update_create=True)
    push_bundle(client, BUNDLE)
    changed = json.loads(json.dumps(BUNDLE))
    changed["entry"][0]["resource"]["title"] += " (revised)"
    original = server.search
    def stale(relative: str) -> dict[str, Any]:  # the search sees version 1, someone else wrote version 2 since
        answer = original(relative)
        for entry in answer["entry"]:
            entry["resource"] = {**entry["resource"], "meta": {"versionId": "0"}}
        return answer
    server.search = stale  # type: ignore[method-assign]
    with pytest.raises(FhirServerError) as info:
        push_bundle(client, changed)
    assert info.value.status == 412


def test_a_transaction_response_with_fewer_entries_is_an_error() -> None:
    server = FakeServer()
    handle = server.handle
    def short(request: httpx.Request) -> httpx.Response:
        answer = handle(request)
        body = json.loads(answer.content)
        if body.get("type") == "transaction-response":
            body["entry"] = body["entry"][:-1]
            return httpx.Response(200, json=body, headers=JSON)
        return answer
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=BASE).mock(side_effect=short)
        with pytest.raises(FhirServerError, match=f"got {len(BUNDLE['entry']) - 1} entries back"):
            push_bundle(FhirClient(BASE), BUNDLE)


def test_a_chunk_that_fails_says_what_was_written_and_the_next_push_completes(fake: Any) -> None:
    server, client = fake(update_create=False)
    server.fail_transaction = 2
    with pytest.raises(PushIncomplete) as info:
        push_bundle(client, BUNDLE, max_entries=4)
    written = info.value.written
    assert len(written) == 4 and info.value.status == 500
    assert "disk full" in str(info.value) and "ResearchStudy" in str(info.value)
    assert len(server.store) == 4 and server.dangling() == []
    done = push_bundle(client, BUNDLE, max_entries=4)
    rows = {r.identifier: r for r in done}
    assert all(rows[r.identifier].outcome == "unchanged" and rows[r.identifier].id == r.id for r in written)
    _assert_clean(server)


def test_a_transaction_answered_429_is_retried_after_backoff() -> None:
    server = FakeServer()
    handle = server.handle
    calls = {"n": 0}
    def busy_once(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and b'"transaction"' in request.content and calls["n"] == 0:
            calls["n"] += 1
            return httpx.Response(429, headers={"Retry-After": "0"})
        return handle(request)
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=BASE).mock(side_effect=busy_once)
        report = push_bundle(FhirClient(BASE, sleep=lambda _: None), BUNDLE)
    assert calls["n"] == 1 and report.mode == "transaction"
    _assert_clean(server)


def _batch_answer(request: httpx.Request, failing: int | None) -> httpx.Response:
    body = json.loads(request.content)
    entries = []
    for n, entry in enumerate(body["entry"]):
        url = entry["request"]["url"]
        if n == failing:
            entries.append({"response": {"status": "403 Forbidden", "outcome": _outcome("not allowed")}})
        elif url.startswith("Patient/"):
            entries.append({"response": {"status": "200"}, "resource": {"resourceType": "Patient", "id": "p1"}})
        else:
            empty = {"resourceType": "Bundle", "type": "searchset"}
            entries.append({"response": {"status": "200"}, "resource": empty})
    answer = {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
    return httpx.Response(200, json=answer, headers=JSON)


def test_a_batch_entry_refused_is_an_error_not_no_data() -> None:
    plan = plan_for(["http://loinc.org|718-7"])
    medication_entry = next(n for n, s in enumerate(plan.searches("p1")) if s.startswith("MedicationStatement"))
    with respx.mock() as router:
        router.post(f"{BASE}/").mock(side_effect=lambda r: _batch_answer(r, medication_entry))
        with pytest.raises(BatchEntryError) as info:
            pull_patient(FhirClient(BASE), "p1", plan)
    assert info.value.status == 403 and "MedicationStatement" in str(info.value)


def test_a_server_that_ignores_count_and_sort_still_gives_every_result_by_paging() -> None:
    observations = [{"resourceType": "Observation", "id": f"o{n}", "effectiveDateTime": f"2026-0{n}-01"}
                    for n in (3, 1, 2, 5, 4)]  # unsorted, whatever _sort asked for

    def page(offset: int) -> dict[str, Any]:
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                                  "entry": [{"resource": r} for r in observations[offset: offset + 2]]}
        if offset + 2 < len(observations):  # pages of 2, whatever _count asked for
            bundle["link"] = [{"relation": "next", "url": f"{BASE}/Observation?page={offset + 2}"}]
        return bundle

    def batch(request: httpx.Request) -> httpx.Response:
        answer = json.loads(_batch_answer(request, None).content)
        answer["entry"][1]["resource"] = page(0)
        return httpx.Response(200, json=answer, headers=JSON)

    def next_page(request: httpx.Request) -> httpx.Response:
        offset = int(dict(parse_qsl(urlsplit(str(request.url)).query))["page"])
        return httpx.Response(200, json=page(offset), headers=JSON)

    with respx.mock() as router:
        router.post(f"{BASE}/").mock(side_effect=batch)
        router.get(url__startswith=f"{BASE}/Observation").mock(side_effect=next_page)
        pulled = pull_patient(FhirClient(BASE), "p1", plan_for(["http://loinc.org|718-7"]))
    assert sorted(r["id"] for r in pulled if r["resourceType"] == "Observation") == ["o1", "o2", "o3", "o4", "o5"]
