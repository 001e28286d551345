"""Push a trial's Bundle to any FHIR server and say, per resource, whether it was created, updated or unchanged.

1. Read the CapabilityStatement (capabilities.py): transaction / batch, `updateCreate`, conditional create.
2. Resolve identities: one batch of searches by business identifier finds what exists, with id and version.
3. Plan (plan.py, pure): what exists keeps its id; what does not gets our deterministic id where the server lets
   clients choose ids, else is created by POST; references point at real ids; unchanged resources are not sent.
4. Write (modes.py) in dependency order: one transaction when the server has them and it fits (a known limit or
   `max_entries`); chunks when it does not or the server refuses the size; one request per resource when the server
   has no transactions. Updates carry If-Match with the version found.

A repeat push writes nothing and reports every resource unchanged. A failure after some chunks were written raises
PushIncomplete naming what was written; the next push finds those and writes the rest (no duplicates: identities
are resolved first, ids are deterministic or the server's, creates are conditional).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, overload

from adapter.errors import FhirServerError
from adapter.fhir.client import FhirClient
from adapter.fhir.push.capabilities import Capabilities, read_capabilities
from adapter.fhir.push.modes import Mode, State, choose_ids, pending_writes, resolve, run
from adapter.fhir.push.plan import Item, dependency_order, items_from_bundle

Outcome = Literal["created", "updated", "unchanged"]

__all__ = ["Capabilities", "Outcome", "PushIncomplete", "PushReport", "PushedResource", "push_bundle"]


@dataclass(frozen=True)
class PushedResource:
    resource_type: str
    id: str
    version: str | None
    identifier: str
    outcome: Outcome


@dataclass(frozen=True)
class PushReport:
    """The rows (in Bundle order; iterable and indexable like the list push_bundle used to return), the mode and why."""

    mode: Mode
    reason: str
    resources: list[PushedResource]
    requests: int = 0
    writes: int = 0
    chunk_size: int | None = None

    def __iter__(self) -> Iterator[PushedResource]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    @overload
    def __getitem__(self, index: int) -> PushedResource: ...
    @overload
    def __getitem__(self, index: slice) -> list[PushedResource]: ...
    def __getitem__(self, index: int | slice) -> PushedResource | list[PushedResource]:
        return self.resources[index]


class PushIncomplete(FhirServerError):
    """Some chunks were written, then one failed. `written` lists what is on the server now."""

    def __init__(self, cause: FhirServerError, written: list[PushedResource], missing: list[str]) -> None:
        done = ", ".join(f"{r.resource_type}/{r.id} ({r.outcome})" for r in written) or "nothing"
        super().__init__(cause.status, f"{cause.message}; written before the failure: {done}; not written: "
                                        f"{', '.join(missing)}; push again to complete it",
                         cause.operation_outcome, where=cause.where)
        self.written = written
        self.missing = missing
        self.cause = cause


def choose_mode(caps: Capabilities, writes: int, max_entries: int | None) -> tuple[Mode, int, str]:
    """The mode, the chunk size and why, from what the server declares and what the caller asks."""
    if max_entries is not None and max_entries < 1:
        raise ValueError(f"--max-bundle-entries must be at least 1, not {max_entries}")
    if not caps.transaction:
        return "resolve-then-write", 1, "the server declares no transaction interaction: one request per resource"
    limit = max_entries or caps.known_limit
    if limit is not None and writes > limit:
        source = "--max-bundle-entries" if max_entries else f"{caps.software} takes at most {limit} per transaction"
        return "chunked", limit, f"{writes} writes, chunks of {limit} ({source})"
    if writes == 0:
        return "transaction", 1, "nothing to write: every resource is as on the server"
    return "transaction", writes, f"{writes} writes fit in one transaction"


def push_bundle(client: FhirClient, bundle: dict[str, Any], *, max_entries: int | None = None) -> PushReport:
    start = client.request_count
    items = items_from_bundle(bundle)
    caps = read_capabilities(client.capabilities(), {item.resource_type for item in items})
    state = State(resolve(client, items, caps), conditional_create=caps.conditional_create)
    choose_ids(items, state, caps)
    ordered = dependency_order(items)
    writes = pending_writes(ordered, state)
    mode, size, reason = choose_mode(caps, len(writes), max_entries)
    ids = "our ids (updateCreate)" if caps.update_create else "server-assigned ids for new resources"
    if writes:
        try:
            mode, changed, size = run(client, writes, state, ordered, mode, size)
        except FhirServerError as exc:
            written = _rows(items, state, only_written=True)
            if not written:
                raise  # nothing reached the server: the server's own error says it all
            missing = [f"{i.resource_type} {i.identifier}" for i in writes if not state.written.get(i.full_url)]
            raise PushIncomplete(exc, written, missing) from exc
        reason = changed or reason
    return PushReport(mode, f"{reason}; {ids}; server: {caps.describe()}", _rows(items, state),
                      client.request_count - start, len(writes), size if mode == "chunked" else None)


def _rows(items: list[Item], state: State, *, only_written: bool = False) -> list[PushedResource]:
    rows = []
    for item in items:
        written = state.written.get(item.full_url, False)
        if only_written and not written:
            continue
        found = state.found[item.full_url]
        version = state.versions.get(item.full_url)
        if found is None:
            outcome: Outcome = "created"
        elif not written or version == found.version:
            outcome = "unchanged"
        else:
            outcome = "updated"
        resource_id = state.ids.get(item.full_url, "")
        rows.append(PushedResource(item.resource_type, resource_id, version, item.identifier, outcome))
    return rows
