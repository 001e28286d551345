"""Issue 10 (11): a transaction-response that does not answer every entry is a FhirServerError naming what came
back — never a traceback (`zip(..., strict=True)` raising ValueError) and never a report with rows missing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from adapter.fhir.client import FhirClient, FhirServerError
from adapter.fhir.push import push_bundle
from adapter.fhir_build import build_bundle
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://fhir.test/fhir"
JSON = {"Content-Type": "application/fhir+json"}
BUNDLE = build_bundle(CATALOG.get("NCT03320629"), "R4")
TYPES = sorted({e["resource"]["resourceType"] for e in BUNDLE["entry"]})


def _capability() -> dict[str, Any]:
    return {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "software": {"name": "Short"},
            "rest": [{"mode": "server", "interaction": [{"code": "batch"}, {"code": "transaction"}],
                      "resource": [{"type": t, "updateCreate": True, "conditionalCreate": True} for t in TYPES]}]}


def _server(transaction_entries: Any) -> Any:
    """Nothing exists yet (every identity search is empty); the transaction answer's `entry` is given."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/metadata"):
            return httpx.Response(200, json=_capability(), headers=JSON)
        body = json.loads(request.content)
        if body.get("type") == "batch":
            entries = [{"resource": {"resourceType": "Bundle", "type": "searchset", "total": 0},
                        "response": {"status": "200 OK"}} for _ in body["entry"]]
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries},
                                  headers=JSON)
        sent = body["entry"]
        answer: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction-response"}
        entries = transaction_entries(sent)
        if entries is not None:
            answer["entry"] = entries
        return httpx.Response(200, json=answer, headers=JSON)

    return handle


def _created(entry: dict[str, Any]) -> dict[str, Any]:
    url = entry["request"]["url"].split("?")[0]
    rid = url.split("/")[1] if "/" in url else "new"
    return {"response": {"status": "201 Created", "location": f"{url.split('/')[0]}/{rid}/_history/1"}}


@pytest.mark.parametrize(("answer", "count"), [
    (lambda sent: [_created(e) for e in sent[:-1]], len(BUNDLE["entry"]) - 1),  # one short
    (lambda sent: [_created(sent[0])], 1),
    (lambda sent: [], 0),
    (lambda sent: None, 0),  # no entry at all
    (lambda sent: {"not": "a list"}, "no"),
], ids=["one-short", "only-one", "empty", "absent", "not-a-list"])
def test_a_short_transaction_response_is_a_fhir_server_error_naming_what_came_back(answer: Any, count: Any) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=BASE).mock(side_effect=_server(answer))
        with FhirClient(BASE) as client, pytest.raises(FhirServerError) as info:
            push_bundle(client, BUNDLE)
    message = str(info.value)
    assert f"got {count} entries back" in message
    assert "transaction" in message and "\n" not in message


def test_a_full_transaction_response_still_reports_every_resource() -> None:
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=BASE).mock(side_effect=_server(lambda sent: [_created(e) for e in sent]))
        with FhirClient(BASE) as client:
            report = push_bundle(client, BUNDLE)
    assert len(report) == len(BUNDLE["entry"]) and {r.outcome for r in report} == {"created"}
