"""Bounds on one patient's record, shared by every surface that takes one (CLI, REST, CDS Hooks, screening).

The body-size limit bounds bytes, not work: 5 MB of `{"resourceType":"Observation"}` is ~150,000 resources, and
the engine's cost grows with them. A record past the cap is refused, named, before any evaluation.
"""

from __future__ import annotations

from typing import Any

from adapter.errors import PatientDataError

# Resources in one patient's record. A long oncology history with years of labs is a few thousand observations
# after the pull's code filter; ten times that leaves room and still answers within a request's time.
MAX_RESOURCES_PER_PATIENT = 50_000


class TooManyResources(PatientDataError):
    """A patient record with more resources than the cap; `count` and `limit` for the caller's status line."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"patient record has {count} resources, limit {limit}")
        self.count = count
        self.limit = limit


def count_resources(data: Any) -> int:
    """FHIR resources in `data` (a resource, a Bundle — entries counted, nested Bundles too — or a list of them);
    a Bundle itself is not counted. Iterative: no recursion on hostile nesting."""
    count = 0
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict) and isinstance(node.get("resourceType"), str):
            if node["resourceType"] != "Bundle":
                count += 1
                continue
            entries = node.get("entry")
            if isinstance(entries, list):
                stack.extend(e.get("resource") for e in entries if isinstance(e, dict))
    return count


def check_resource_count(data: Any, limit: int | None = None) -> None:
    """TooManyResources when `data` holds more than `limit` (default MAX_RESOURCES_PER_PATIENT) resources."""
    cap = MAX_RESOURCES_PER_PATIENT if limit is None else limit
    count = count_resources(data)
    if count > cap:
        raise TooManyResources(count, cap)


__all__ = ["MAX_RESOURCES_PER_PATIENT", "TooManyResources", "check_resource_count", "count_resources"]
