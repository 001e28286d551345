"""Resources → one transaction Bundle per trial, idempotent on business identifiers.

Each entry is a conditional update `PUT Type?identifier=system|value`: the first push creates, a repeat
push finds the same resource and updates it in place, so nothing is ever created twice. Entries get stable
urn:uuid fullUrls and every `Type/key` reference between them is rewritten to that urn:uuid (the server
replaces it with the real id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from adapter.fhir_build.common import stable_uuid
from adapter.vocabulary import CTGOV_SYSTEM, RESOURCE_IDENTIFIER_SYSTEM, token


def conditional_url(resource: dict[str, Any]) -> str:
    identifiers = resource.get("identifier", [])
    preferred = next((i for i in identifiers if i.get("system") == CTGOV_SYSTEM), None) or next(
        (i for i in identifiers if i.get("system") == RESOURCE_IDENTIFIER_SYSTEM), None
    )
    if preferred is None:
        raise ValueError(f"{resource['resourceType']}/{resource.get('id')} has no business identifier")
    search = token(preferred["system"], preferred["value"])
    return f"{resource['resourceType']}?identifier={quote(search, safe=':/|')}"


def rewrite_references(node: Any, targets: Mapping[str, str]) -> Any:
    """`node` with each `reference` found in `targets` replaced (e.g. `Type/key` → its urn:uuid fullUrl)."""
    if isinstance(node, dict):
        rewritten = {k: rewrite_references(v, targets) for k, v in node.items()}
        reference = rewritten.get("reference")
        if isinstance(reference, str) and reference in targets:
            rewritten["reference"] = targets[reference]
        return rewritten
    if isinstance(node, list):
        return [rewrite_references(item, targets) for item in node]
    return node


def transaction_bundle(resources: list[dict[str, Any]], *, bundle_key: str) -> dict[str, Any]:
    full_urls = {f"{r['resourceType']}/{r['id']}": stable_uuid(r["resourceType"], r["id"]) for r in resources}
    entries = []
    for resource in resources:
        body = rewrite_references({k: v for k, v in resource.items() if k != "id"}, full_urls)
        entries.append(
            {
                "fullUrl": full_urls[f"{resource['resourceType']}/{resource['id']}"],
                "resource": body,
                "request": {"method": "PUT", "url": conditional_url(resource)},
            }
        )
    return {"resourceType": "Bundle", "id": bundle_key, "type": "transaction", "entry": entries}
