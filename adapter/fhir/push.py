"""Push a trial's transaction Bundle and say, per resource, whether it was created, updated or unchanged.

The Bundle's entries are conditional updates on business identifiers, so a repeated push changes nothing and a
changed mapping updates in place. The server runs the transaction atomically: an error leaves nothing
half-written and comes back as FhirServerError with the server's OperationOutcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from adapter.fhir.client import FhirClient

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class PushedResource:
    resource_type: str
    id: str
    version: str | None
    identifier: str
    outcome: Outcome


def _id_and_version(location: str) -> tuple[str, str | None]:
    parts = location.split("?")[0].rstrip("/").split("/")
    if "_history" in parts:
        at = parts.index("_history")
        return parts[at - 1], parts[at + 1] if at + 1 < len(parts) else None
    return parts[-1], None


def _versions(searchset: dict[str, Any]) -> set[tuple[str, str | None]]:
    found = set()
    for entry in searchset.get("entry", []):
        resource = entry.get("resource", {})
        found.add((resource.get("id"), (resource.get("meta") or {}).get("versionId")))
    return found


def push_bundle(client: FhirClient, bundle: dict[str, Any]) -> list[PushedResource]:
    entries = bundle.get("entry", [])
    conditions = [entry["request"]["url"] for entry in entries]
    before = client.batch(conditions)  # what each conditional update will find, with its version
    response = client.transaction(bundle)
    results = []
    for entry, condition, found, answer in zip(entries, conditions, before, response.get("entry", []), strict=True):
        status = answer.get("response", {}).get("status", "")
        resource_id, version = _id_and_version(answer.get("response", {}).get("location", ""))
        if status.startswith("201"):
            outcome: Outcome = "created"
        else:
            outcome = "unchanged" if (resource_id, version) in _versions(found) else "updated"
        results.append(PushedResource(entry["resource"]["resourceType"], resource_id, version,
                                      condition.partition("identifier=")[2], outcome))
    return results
