"""A prefetch that pages (a long history: `next` links) is completed on an allowed fhirServer with the project's
FHIR client — its pages only, the rest of the prefetch kept — instead of a 412; next links outside fhirServer are
never followed (the data is then pulled whole); without an allowed fhirServer it is still 412."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import httpx
import pytest
import respx

from adapter.core import Eligibility
from adapter.service.discovery import prefetch_templates
from adapter.service.hooks import HookSetup, answer
from adapter.service.models import CdsRequest
from adapter.service.patient_data import CdsError, patient_record
from adapter.service.settings import ServiceSettings
from tests.service import fixture_prefetch, hook_body
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

SERVER = "https://ehr.example/fhir"
TOKEN = {"access_token": "opaque-token", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
         "subject": "trial-eligibility"}
TEMPLATES = prefetch_templates(CATALOG.all())
SETUP = HookSetup(eligibility=Eligibility(CATALOG), templates=TEMPLATES, observation_codes=())
SETTINGS = ServiceSettings(allow_unauthenticated=True, include_closed_trials=True, as_of=date(2026, 11, 1),
                           allowed_fhir_servers=(SERVER,))


def _split(bundle: dict[str, Any], keep: int, next_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the first page, with a next link; the second page) of a searchset Bundle."""
    first = {**bundle, "entry": bundle["entry"][:keep], "link": [{"relation": "next", "url": next_url}]}
    first.pop("total", None)
    second = {"resourceType": "Bundle", "type": "searchset", "entry": bundle["entry"][keep:]}
    return first, second


def _paged(name: str) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """(patient id, the complete prefetch, the same with two keys paged, the second pages by URL)."""
    pid, complete = fixture_prefetch(name)
    paged = copy.deepcopy(complete)
    pages = {}
    for key, keep in (("medicationStatements", 1), ("observations", 10)):
        url = f"{SERVER}/{key}?page=2"
        paged[key], pages[url] = _split(complete[key], keep, url)
    return pid, complete, paged, pages


def _cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    response = answer(CdsRequest.model_validate(body), SETTINGS, SETUP)
    return [{k: v for k, v in c.model_dump(mode="json").items() if k != "uuid"} for c in response.cards]


@pytest.mark.parametrize("name", ["p-prior-bevacizumab", "p-missing-platelets", "p-eligible-us-units"])
def test_paged_prefetch_is_completed_on_the_fhir_server(name: str) -> None:
    pid, complete, paged, pages = _paged(name)
    expected = _cards(hook_body(pid, complete))
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        routes = [router.get(url).mock(return_value=httpx.Response(200, json=page)) for url, page in pages.items()]
        cards = _cards(hook_body(pid, paged, fhirServer=SERVER, fhirAuthorization=TOKEN))
    assert cards == expected
    for route in routes:  # one GET per missing page, with the hook's token; no batch, no other search
        assert route.call_count == 1
        assert route.calls[0].request.headers["Authorization"] == "Bearer opaque-token"


def test_the_exclusion_on_a_later_page_is_not_missed() -> None:
    """The prior bevacizumab (an exclusion) is on the second page of medicationStatements: followed, no card."""
    pid, _, paged, pages = _paged("p-prior-bevacizumab")
    assert any("bevacizumab" in str(e).lower() for e in pages[f"{SERVER}/medicationStatements?page=2"]["entry"])
    with respx.mock(assert_all_mocked=True) as router:
        for url, page in pages.items():
            router.get(url).mock(return_value=httpx.Response(200, json=page))
        request = CdsRequest.model_validate(hook_body(pid, paged, fhirServer=SERVER, fhirAuthorization=TOKEN))
        record, source = patient_record(request, SETTINGS, list(TEMPLATES), ())
    facts = record.facts(CATALOG.units)
    assert source == "prefetch+pages"
    assert _cards(hook_body(pid, fixture_prefetch("p-prior-bevacizumab")[1])) == []
    assert len(facts.medications) == 3


def test_paged_prefetch_without_an_allowed_server_is_still_412() -> None:
    pid, _, paged, _ = _paged("p-eligible-us-units")
    for extra in ({}, {"fhirServer": "https://other.example/fhir"}):
        with pytest.raises(CdsError) as refused:
            _cards(hook_body(pid, paged, **extra))
        assert refused.value.status == 412


def test_next_links_outside_the_fhir_server_are_not_followed() -> None:
    """The EHR's next link names another host: never followed (the token goes to fhirServer only); the data is
    pulled from fhirServer whole instead (here the server fails, so 412)."""
    pid, _, paged, _ = _paged("p-eligible-us-units")
    paged["medicationStatements"]["link"] = [{"relation": "next", "url": "https://evil.example/fhir?page=2"}]
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        batch = router.post(f"{SERVER}/").mock(return_value=httpx.Response(503))
        pages = router.get(url__startswith=SERVER).mock(return_value=httpx.Response(503))
        with pytest.raises(CdsError) as refused:
            _cards(hook_body(pid, paged, fhirServer=SERVER, fhirAuthorization=TOKEN))
    assert refused.value.status == 412 and "could not get the patient's data" in refused.value.message
    assert batch.called and not pages.called  # no page fetched once one next link leads elsewhere
    assert all("evil.example" not in str(call.request.url) for call in router.calls)


def test_a_failing_page_is_412_not_a_partial_answer() -> None:
    pid, _, paged, pages = _paged("p-eligible-us-units")
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:  # stops at the first failure
        for url in pages:
            router.get(url).mock(return_value=httpx.Response(404, json={"resourceType": "OperationOutcome"}))
        with pytest.raises(CdsError) as refused:
            _cards(hook_body(pid, paged, fhirServer=SERVER, fhirAuthorization=TOKEN))
    assert refused.value.status == 412 and "pages" in refused.value.message


def test_paging_and_another_gap_pull_the_whole_record() -> None:
    """A null key as well as a paged one: the pages alone would not do; one batch pull instead."""
    pid, _, paged, _ = _paged("p-eligible-us-units")
    paged["conditions"] = None
    with respx.mock(assert_all_mocked=True) as router:
        batch = router.post(f"{SERVER}/").mock(return_value=httpx.Response(503))
        with pytest.raises(CdsError):
            _cards(hook_body(pid, paged, fhirServer=SERVER))
    assert batch.called


def test_templates_ask_for_large_pages_and_narrow_observations_by_code() -> None:
    from adapter.evaluation import observation_codes

    assert TEMPLATES["observations"].startswith("Observation?patient={{context.patientId}}&code=")
    assert ",".join(observation_codes(CATALOG.all())) in TEMPLATES["observations"]
    assert TEMPLATES["observations"].endswith("&_sort=-date&_count=200")
    for key, template in TEMPLATES.items():
        assert key == "patient" or template.endswith("_count=200"), template
        assert "{{" not in template.replace("{{context.patientId}}", "")  # CDS Hooks 2.0 tokens only
