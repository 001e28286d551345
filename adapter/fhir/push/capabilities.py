"""What a FHIR server says it can do for a push, read from its CapabilityStatement.

Only what the statement declares counts (a server that does not declare `updateCreate` for a type gets creates by
POST, not ids of our choosing). Transaction size limits are not part of a CapabilityStatement; the few known per
server software (DOMAIN.md §8: checked in the servers' sources and docs) are used up front, and any other limit is
learned from the server's refusal (see modes.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adapter.fhir.quirks import TRANSACTION_LIMITS


@dataclass(frozen=True)
class Capabilities:
    software: str
    transaction: bool
    batch: bool
    update_create: bool  # every one of the pushed types accepts `PUT Type/id` for a new id
    conditional_create: bool  # every one of the pushed types accepts If-None-Exist
    known_limit: int | None

    def describe(self) -> str:
        parts = [self.software or "unnamed server",
                 "transaction" if self.transaction else "no transaction",
                 "batch" if self.batch else "no batch",
                 "client ids (updateCreate)" if self.update_create else "server-assigned ids"]
        return ", ".join(parts)


def read_capabilities(statement: Mapping[str, Any], resource_types: Iterable[str]) -> Capabilities:
    rest = next((r for r in statement.get("rest") or () if isinstance(r, dict) and r.get("mode", "server") == "server"),
                {})
    system = {i.get("code") for i in rest.get("interaction") or () if isinstance(i, dict)}
    declared = {r.get("type"): r for r in rest.get("resource") or () if isinstance(r, dict)}
    wanted = [declared.get(kind) or {} for kind in set(resource_types)]
    software_block = statement.get("software")
    software = str(software_block.get("name") or "") if isinstance(software_block, dict) else ""
    limit = next((n for name, n in TRANSACTION_LIMITS.items() if name in software.lower()), None)
    return Capabilities(
        software=software,
        transaction="transaction" in system,
        batch=bool(system & {"batch", "transaction"}),  # same Bundle processing; see FhirClient.supports_batch
        update_create=bool(wanted) and all(r.get("updateCreate") is True for r in wanted),
        conditional_create=bool(wanted) and all(r.get("conditionalCreate") is True for r in wanted),
        known_limit=limit,
    )
