"""The pure part of a push: logical ids, dependency order, chunks without loose urn:uuids, mode choice."""

from __future__ import annotations

import re

import pytest

from adapter.fhir.push import choose_mode
from adapter.fhir.push.capabilities import read_capabilities
from adapter.fhir.push.plan import (
    TYPE_ORDER,
    chunked,
    dangling_urns,
    dependency_order,
    items_from_bundle,
    logical_id,
    rewrite,
    same_content,
)
from adapter.fhir_build import build_bundle
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@pytest.mark.parametrize("value", ["NCT03320629", "organization-" + "very-long-name-" * 8, "a b/c|d", "---", "ü"])
def test_logical_ids_are_valid_and_deterministic(value: str) -> None:
    assert FHIR_ID.fullmatch(logical_id(value)), logical_id(value)
    assert logical_id(value) == logical_id(value)


def test_long_ids_differ_when_the_values_differ() -> None:
    base = "location-" + "x" * 80
    assert logical_id(base + "1") != logical_id(base + "2")
    assert logical_id("NCT03320629") == "NCT03320629"


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("nct", CATALOG.ids)
def test_dependency_order_puts_every_target_first(nct: str, version: str) -> None:
    items = items_from_bundle(build_bundle(CATALOG.get(nct), version))  # type: ignore[arg-type]
    ordered = dependency_order(items)
    seen: set[str] = set()
    for item in ordered:
        assert item.refers_to - {item.full_url} <= seen, f"{item.resource_type} before what it references"
        seen.add(item.full_url)
    assert ordered[-1].resource_type == "ResearchStudy"
    assert sorted(i.index for i in ordered) == list(range(len(items)))


def test_dependency_order_follows_references_over_type_order() -> None:
    first, second = "urn:uuid:00000000-0000-0000-0000-000000000001", "urn:uuid:00000000-0000-0000-0000-000000000002"
    bundle = {"entry": [
        {"fullUrl": first, "resource": {"resourceType": "CodeSystem", "x": {"reference": second}},
         "request": {"url": "CodeSystem?identifier=s|a"}},
        {"fullUrl": second, "resource": {"resourceType": "ResearchStudy"},
         "request": {"url": "ResearchStudy?identifier=s|b"}},
    ]}
    assert [i.resource_type for i in dependency_order(items_from_bundle(bundle))] == ["ResearchStudy", "CodeSystem"]
    assert TYPE_ORDER.index("CodeSystem") < TYPE_ORDER.index("ResearchStudy")


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_chunks_in_dependency_order_never_carry_a_urn_into_another_chunk(size: int) -> None:
    items = dependency_order(items_from_bundle(build_bundle(CATALOG.get("NCT03320629"), "R4")))
    created: dict[str, str] = {}
    for chunk in chunked(items, size):
        assert len(chunk) <= size
        posting = {i.full_url: i.full_url for i in chunk}
        entries = [{"fullUrl": i.full_url, "resource": rewrite(i.body, {**posting, **created})} for i in chunk]
        assert dangling_urns(entries) == set()
        created.update({i.full_url: f"{i.resource_type}/id-{i.index}" for i in chunk})
    assert sum(len(c) for c in chunked(items, size)) == len(items)


def test_a_loose_urn_is_detected() -> None:
    entries = [{"fullUrl": "urn:uuid:a", "resource": {"subject": {"reference": "urn:uuid:b"}}}]
    assert dangling_urns(entries) == {"urn:uuid:b"}
    with pytest.raises(ValueError):
        chunked([], 0)


def test_same_content_ignores_only_what_the_server_owns() -> None:
    assert same_content({"resourceType": "X", "a": 1}, {"resourceType": "X", "a": 1, "id": "9", "meta": {"v": 1}})
    assert not same_content({"resourceType": "X", "a": 1}, {"resourceType": "X", "a": 2, "id": "9"})


def _caps(software: str = "", interactions: tuple[str, ...] = ("transaction",), update_create: bool = False):
    statement = {"resourceType": "CapabilityStatement", "software": {"name": software},
                 "rest": [{"mode": "server", "interaction": [{"code": c} for c in interactions],
                           "resource": [{"type": "ResearchStudy", "updateCreate": update_create,
                                         "conditionalCreate": True}]}]}
    return read_capabilities(statement, {"ResearchStudy"})


def test_capabilities_read_what_is_declared() -> None:
    assert _caps(update_create=True).update_create
    assert not _caps().update_create
    assert not read_capabilities({"rest": [{"resource": []}]}, {"ResearchStudy"}).update_create
    assert _caps("Medplum").known_limit == 50
    assert not _caps(interactions=()).transaction and not _caps(interactions=()).batch


def test_mode_choice() -> None:
    assert choose_mode(_caps(), 11, None)[:2] == ("transaction", 11)
    assert choose_mode(_caps(), 11, 3)[:2] == ("chunked", 3)
    assert "--max-bundle-entries" in choose_mode(_caps(), 11, 3)[2]
    assert choose_mode(_caps(), 3, 3)[0] == "transaction"
    assert choose_mode(_caps("AWS HealthLake"), 200, None)[:2] == ("chunked", 160)
    mode, _, why = choose_mode(_caps(interactions=("batch",)), 11, None)
    assert mode == "resolve-then-write" and "no transaction" in why
    assert "nothing to write" in choose_mode(_caps(), 0, None)[2]
    with pytest.raises(ValueError):
        choose_mode(_caps(), 3, 0)
