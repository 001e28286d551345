"""How the writes reach the server: one transaction, dependency-ordered chunks, or one request per resource.

Every mode starts from the same resolved picture (what exists, with which id and version) and the same list of
writes (`PUT Type/id` with If-Match for what exists; for what does not, `PUT Type/<our id>` where the server lets
clients choose ids, else `POST Type` with a urn:uuid fullUrl). References point at real ids wherever they are
known; a urn:uuid only ever points inside the same transaction. After each transaction the ids it created are
known, so the next chunk refers to them directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from adapter.errors import FhirServerError, TransportError
from adapter.fhir.client import FhirClient
from adapter.fhir.outcome import parse_resource, server_error
from adapter.fhir.push.capabilities import Capabilities
from adapter.fhir.push.plan import Item, chunked, dangling_urns, rewrite, same_content
from adapter.fhir.quirks import TRANSACTION_SIZE_REFUSAL
from adapter.http import send
from adapter.http.transport import MAX_ERROR_BODY_BYTES
from adapter.vocabulary import FHIR_JSON

Mode = Literal["transaction", "chunked", "resolve-then-write"]
_VERSION_IN_ETAG = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class Found:
    id: str
    version: str | None
    resource: dict[str, Any]


@dataclass
class State:
    """What is known per item (by fullUrl) while pushing: found before, id now, version now, outcome."""

    found: dict[str, Found | None]
    ids: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    written: dict[str, bool] = field(default_factory=dict)
    conditional_create: bool = True  # send If-None-Exist with a POST (a concurrent push then finds, not duplicates)

    def targets(self, items: list[Item], posting: set[str]) -> dict[str, str]:
        """fullUrl → what a reference to it must say: `Type/id` when known, the urn:uuid when created alongside."""
        known = {i.full_url: f"{i.resource_type}/{self.ids[i.full_url]}" for i in items if i.full_url in self.ids}
        return {**{url: url for url in posting}, **known}


def refused_for_size(exc: FhirServerError) -> bool:
    return exc.status == 413 or (exc.status in (400, 422) and bool(TRANSACTION_SIZE_REFUSAL.search(exc.message or "")))


def resolve(client: FhirClient, items: list[Item], caps: Capabilities) -> dict[str, Found | None]:
    """One batch of identity searches (one by one if the server has no batch); duplicates are refused."""
    if caps.batch:
        bundles = client.batch([item.search for item in items])
        answers = [list(client.follow_pages(bundle)) for bundle in bundles]
    else:
        answers = [list(client.search(item.resource_type, [("identifier", item.identifier)])) for item in items]
    found: dict[str, Found | None] = {}
    for item, matched in zip(items, answers, strict=True):
        hits = [r for r in matched if r.get("resourceType") == item.resource_type]
        if len(hits) > 1:
            ids = ", ".join(str(r.get("id")) for r in hits)
            raise FhirServerError(None, f"{len(hits)} {item.resource_type} resources carry {item.identifier} "
                                        f"({ids}); remove the extra copies, then push again")
        hit = hits[0] if hits else None
        found[item.full_url] = None if hit is None else Found(
            str(hit["id"]), (hit.get("meta") or {}).get("versionId"), hit)
    return found


def choose_ids(items: list[Item], state: State, caps: Capabilities) -> None:
    for item in items:
        hit = state.found[item.full_url]
        if hit is not None:
            state.ids[item.full_url], state.versions[item.full_url] = hit.id, hit.version
        elif caps.update_create:
            state.ids[item.full_url] = item.logical_id


def pending_writes(items: list[Item], state: State) -> list[Item]:
    """The items whose server copy differs from what we would write (or that do not exist yet)."""
    targets = state.targets(items, set())
    changed = []
    for item in items:
        hit = state.found[item.full_url]
        if hit is not None and same_content(rewrite(item.body, targets), hit.resource):
            continue
        changed.append(item)
    return changed


def entry(client: FhirClient, item: Item, state: State, targets: Mapping[str, str]) -> dict[str, Any]:
    """The transaction entry that writes `item`."""
    body = rewrite(item.body, targets)
    if item.full_url not in state.ids:
        post: dict[str, Any] = {"method": "POST", "url": item.resource_type}
        if state.conditional_create:
            post["ifNoneExist"] = item.search.partition("?")[2]
        return {"fullUrl": item.full_url, "resource": body, "request": post}
    resource_id = state.ids[item.full_url]
    request: dict[str, Any] = {"method": "PUT", "url": f"{item.resource_type}/{resource_id}"}
    version = state.versions.get(item.full_url) if state.found[item.full_url] else None
    if version:
        request["ifMatch"] = f'W/"{version}"'
    return {"fullUrl": client.url(f"{item.resource_type}/{resource_id}"), "resource": {**body, "id": resource_id},
            "request": request}


def send_chunk(client: FhirClient, chunk: list[Item], state: State, all_items: list[Item]) -> None:
    """One transaction for `chunk`; records the ids and versions it produced."""
    posting = {item.full_url for item in chunk if item.full_url not in state.ids}
    targets = state.targets(all_items, posting)
    entries = [entry(client, item, state, targets) for item in chunk]
    loose = dangling_urns(entries)
    if loose:  # dependency order makes this impossible; refuse rather than send a reference the server cannot bind
        raise FhirServerError(None, f"internal: chunk refers to entries outside it ({', '.join(sorted(loose))})")
    response = client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    answers = response.get("entry") or []
    if not isinstance(answers, list) or len(answers) != len(entries):
        count = len(answers) if isinstance(answers, list) else "no"
        raise FhirServerError(None, f"sent a transaction of {len(entries)} entries, got {count} entries back",
                              where=f"POST {client.base_url}/ (transaction)")
    for item, answer in zip(chunk, answers, strict=True):
        record(item, state, answer if isinstance(answer, dict) else {}, None)


def send_one(client: FhirClient, item: Item, state: State, all_items: list[Item]) -> None:
    """One plain REST write (PUT with If-Match, or POST with If-None-Exist) for a server without transactions."""
    posting = set() if item.full_url in state.ids else {item.full_url}
    entry_ = entry(client, item, state, state.targets(all_items, posting))
    request = entry_["request"]
    headers = {"Content-Type": FHIR_JSON}
    if request.get("ifMatch"):
        headers["If-Match"] = request["ifMatch"]
    if request.get("ifNoneExist"):
        headers["If-None-Exist"] = request["ifNoneExist"]
    body = {k: v for k, v in entry_["resource"].items()}
    url = client.url(request["url"])
    where = f"{request['method']} {url}"
    try:
        # FhirClient has no single-resource write; this is its own seam call (same retry policy, deadline, caps).
        # A PUT to an id is idempotent and retried; a conditional POST creates at most one copy, so it is too.
        reply = send(client._http, request["method"], url,
                     content=json.dumps(body, ensure_ascii=False).encode("utf-8"), headers=headers,
                     idempotent=True, policy=client._policy, timeout=client._timeout,
                     deadline=client._deadline, max_bytes=client._max_bytes,
                     max_error_bytes=MAX_ERROR_BODY_BYTES, sleep=client._sleep)
    except TransportError as exc:
        raise client._transport_failure(exc, where) from None
    if not reply.ok:
        raise server_error(reply, where)
    resource = parse_resource(reply, where)
    response = {"status": str(reply.status), "location": reply.headers.get("Location", ""),
                "etag": reply.headers.get("ETag", "")}
    record(item, state, {"response": response, "resource": resource}, reply.status)


def record(item: Item, state: State, answer: Mapping[str, Any], status: int | None) -> None:
    response = answer.get("response") if isinstance(answer.get("response"), dict) else {}
    resource = answer.get("resource") if isinstance(answer.get("resource"), dict) else {}
    assert isinstance(response, dict) and isinstance(resource, dict)
    location = str(response.get("location") or "")
    resource_id, version = _id_and_version(location, item.resource_type)
    resource_id = resource_id or resource.get("id") or state.ids.get(item.full_url)
    if not resource_id:
        raise FhirServerError(status, f"the server did not say where it wrote {item.resource_type} {item.identifier}")
    etag = _VERSION_IN_ETAG.search(str(response.get("etag") or ""))
    version = version or (etag[1] if etag else None) or (resource.get("meta") or {}).get("versionId")
    state.ids[item.full_url], state.versions[item.full_url] = str(resource_id), version
    state.written[item.full_url] = True


def _id_and_version(location: str, resource_type: str) -> tuple[str | None, str | None]:
    parts = location.split("?")[0].rstrip("/").split("/")
    if resource_type not in parts:
        return None, None
    at = len(parts) - 1 - parts[::-1].index(resource_type)
    resource_id = parts[at + 1] if at + 1 < len(parts) else None
    version = parts[at + 3] if at + 3 < len(parts) and parts[at + 2] == "_history" else None
    return resource_id, version


def run(client: FhirClient, writes: list[Item], state: State, all_items: list[Item], mode: Mode,
        size: int) -> tuple[Mode, str | None, int]:
    """Send `writes` in `mode` (chunks of `size`); a transaction refused for its size is split in halves until the
    server takes it. Returns the mode actually used, why when it changed, and the chunk size that worked."""
    if mode == "resolve-then-write":
        for item in writes:
            send_one(client, item, state, all_items)
        return mode, None, 1
    pending, why = list(writes), None
    while pending:
        chunk = chunked(pending, size)[0]
        try:
            send_chunk(client, chunk, state, all_items)
        except FhirServerError as exc:
            if not refused_for_size(exc) or len(chunk) <= 1:
                raise
            size = max(1, len(chunk) // 2)
            mode, why = "chunked", f"the server refused {len(chunk)} entries in one transaction ({exc.message}); " \
                                   f"chunks of {size}"
            continue
        pending = pending[len(chunk):]
    return mode, why, size
