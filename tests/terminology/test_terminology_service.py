"""`serve` with a terminology server: the catalog is widened once at start; a server that is down changes nothing."""

from __future__ import annotations

import pytest
import respx

from adapter.catalog import TrialCatalog
from adapter.service.app import create_app
from adapter.service.settings import ServiceSettings
from adapter.vocabulary import SNOMED

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://tx.example.org/fhir"


def test_the_service_widens_the_catalog_once_at_start(catalog: TrialCatalog) -> None:
    [code] = catalog.concepts.procedures["blood-transfusion"].codes[:1]
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/CodeSystem").respond(200, json={"resourceType": "Bundle", "total": 1})
        router.get(f"{BASE}/ConceptMap/$translate").respond(
            200, json={"resourceType": "Parameters", "parameter": [{"name": "result", "valueBoolean": False}]})
        router.post(f"{BASE}/ValueSet/$expand").respond(200, json={"resourceType": "ValueSet", "expansion": {
            "contains": [{"system": SNOMED, "code": "999999999999", "display": "a made-up child for this test"}]}})
        app = create_app(ServiceSettings(allow_unauthenticated=True, terminology_server=BASE), catalog, warm=False)
    widened = app.state.catalog.concepts.procedures["blood-transfusion"]
    assert f"{SNOMED}|999999999999" in {c.token for c in widened.codes}
    assert code in widened.codes and catalog.concepts.procedures["blood-transfusion"] is not widened
    trial = app.state.catalog.get("NCT03320629")
    assert "999999999999" in str(trial.evidence_variable)  # the trials are built over the widened library


def test_a_server_that_is_down_leaves_the_catalog(catalog: TrialCatalog) -> None:
    from tests.support.hapi import free_port

    settings = ServiceSettings(allow_unauthenticated=True, terminology_server=f"http://127.0.0.1:{free_port()}/fhir")
    app = create_app(settings, catalog, warm=False)
    assert app.state.catalog is catalog
