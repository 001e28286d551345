"""A complete CDS Hooks prefetch from one patient's resources, as an EHR would send it (tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapter.vocabulary import RECORD_PREFETCH


def prefetch_from_resources(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Patient + one searchset Bundle per template; a resource type no template asks for is left out."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    patient: Mapping[str, Any] | None = None
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            patient = resource
        else:
            by_type.setdefault(str(resource.get("resourceType")), []).append(resource)

    def searchset(rtype: str) -> dict[str, Any]:
        found = by_type.get(rtype, [])
        return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]}

    prefetch: dict[str, Any] = {"patient": patient, "observations": searchset("Observation")}
    prefetch.update({key: searchset(rtype) for key, rtype in RECORD_PREFETCH.items()})
    return prefetch
