"""What to write, pure: logical ids, dependency order, chunks, reference rewriting, "is it unchanged?".

Input is a trial's transaction Bundle as `adapter.fhir_build` makes it: urn:uuid fullUrls, references between
entries by those urn:uuids, and a conditional `PUT Type?identifier=system|value` per entry (the identity search).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from adapter.fhir_build.bundle import rewrite_references

MAX_ID = 64
_NOT_ID = re.compile(r"[^A-Za-z0-9\-.]+")
# Referenced definitions first, the study that points at everything last (ties between real references are broken
# by this order; real references always win).
TYPE_ORDER = ("CodeSystem", "StructureDefinition", "ActivityDefinition", "EvidenceVariable", "PlanDefinition",
              "Group", "Organization", "Location", "ResearchStudy")
URN = "urn:uuid:"


@dataclass(frozen=True)
class Item:
    """One resource to push: where it sits in the Bundle, how to find it on the server, what it points at."""

    index: int
    resource_type: str
    full_url: str
    search: str  # relative identity search, e.g. ResearchStudy?identifier=https://clinicaltrials.gov|NCT…
    identifier: str  # the system|value token of that search
    logical_id: str  # deterministic id, used where the server lets clients choose ids
    body: dict[str, Any]  # without id; references to other entries are still urn:uuids
    refers_to: frozenset[str] = field(default_factory=frozenset)  # fullUrls of other entries it references


def logical_id(identifier_value: str) -> str:
    """A valid FHIR id from a business identifier value: `[A-Za-z0-9\\-.]{1,64}`, same input → same id."""
    cleaned = _NOT_ID.sub("-", identifier_value).strip("-.") or "x"
    if len(cleaned) <= MAX_ID:
        return cleaned
    digest = hashlib.sha256(identifier_value.encode("utf-8")).hexdigest()[:10]
    return f"{cleaned[: MAX_ID - 11].rstrip('-.')}-{digest}"


def items_from_bundle(bundle: Mapping[str, Any]) -> list[Item]:
    entries = list(bundle.get("entry") or ())
    full_urls = {entry.get("fullUrl") for entry in entries}
    items = []
    for index, entry in enumerate(entries):
        resource = {k: v for k, v in entry["resource"].items() if k != "id"}
        search = entry["request"]["url"]
        identifier = unquote(search.partition("identifier=")[2])
        refs = frozenset(ref for ref in references(resource) if ref in full_urls)
        items.append(Item(index, resource["resourceType"], entry["fullUrl"], search, identifier,
                          logical_id(identifier.rpartition("|")[2]), resource, refs))
    return items


def references(node: Any) -> Iterable[str]:
    """Every `reference` string in a resource, depth first."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str):
            yield reference
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def dependency_order(items: list[Item]) -> list[Item]:
    """Items so that every item comes after those it references (then by TYPE_ORDER, then Bundle order)."""
    def rank(item: Item) -> tuple[int, int]:
        kind = TYPE_ORDER.index(item.resource_type) if item.resource_type in TYPE_ORDER else len(TYPE_ORDER)
        return kind, item.index

    pending = sorted(items, key=rank)
    done: set[str] = set()
    ordered: list[Item] = []
    while pending:
        ready = next((i for i in pending if i.refers_to - {i.full_url} <= done), None)
        if ready is None:  # a reference cycle: keep the rest in rank order, one transaction can still hold it
            ready = pending[0]
        pending.remove(ready)
        done.add(ready.full_url)
        ordered.append(ready)
    return ordered


def chunked(items: list[Item], size: int) -> list[list[Item]]:
    if size < 1:
        raise ValueError(f"a chunk holds at least one entry, not {size}")
    return [items[at: at + size] for at in range(0, len(items), size)]


def rewrite(node: Any, targets: Mapping[str, str]) -> Any:
    """`node` with each reference found in `targets` (fullUrl → `Type/id` or a urn:uuid) replaced."""
    return rewrite_references(node, targets)


def dangling_urns(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    """urn:uuid references in a chunk's entries that no entry of the same chunk defines (must be empty)."""
    entries = list(entries)
    defined = {entry.get("fullUrl") for entry in entries}
    return {ref for entry in entries for ref in references(entry.get("resource"))
            if ref.startswith(URN) and ref not in defined}


def same_content(desired: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """True when the server's copy says what we would write (ignoring id and meta, which the server owns)."""
    def strip(resource: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in resource.items() if k not in ("id", "meta")}

    return strip(desired) == strip(found)
