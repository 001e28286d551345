"""A FHIR R4 terminology server: `ValueSet/$expand`, `CodeSystem/$subsumes`, `ConceptMap/$translate`, cached.

Every call goes through the project's HTTP seam (`adapter.http`) with a short timeout and deadline: the server
is optional, so it must fail fast rather than hold an evaluation up. Answers are typed (`Expansion`,
`Subsumption`, `Translation`) and cached (`TerminologyCache`, keyed by server, operation and parameters).

What a failure means decides what the caller does next:

- `TerminologyUnavailable`: no connection, a timeout, a 5xx, an answer that is not the FHIR asked for. Stop
  using the server for now (the client also stops itself for `pause_after_failure` seconds).
- `OperationNotSupported`: 404 / 405 / 501, or an OperationOutcome `not-supported`. Skip that operation.
- `TerminologyRefused`: another 4xx for this request (HAPI: "Unknown code"). Skip that one code.

`subsumes` falls back to an is-a expansion of code A when the server refuses `$subsumes` (HAPI JPA answers
"Unknown code" for a CodeSystem it expands in memory but has not stored in its terminology tables).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from adapter.errors import DeadlineExceeded, FetchError, FhirServerError, TransportError
from adapter.fhir.outcome import clean_text, parse_resource, server_error
from adapter.http import RetryPolicy, new_client, send
from adapter.http.transport import MAX_ERROR_BODY_BYTES, display
from adapter.terminology.cache import TerminologyCache
from adapter.vocabulary import FHIR_JSON

log = logging.getLogger("adapter.terminology")

SubsumesOutcome = Literal["equivalent", "subsumes", "subsumed-by", "not-subsumed"]
SUBSUMES_OUTCOMES: frozenset[str] = frozenset({"equivalent", "subsumes", "subsumed-by", "not-subsumed"})
# R4 ConceptMap equivalence codes, read from target to source ("wider": the target is wider than the source).
R4_EQUIVALENCES = frozenset({"relatedto", "equivalent", "equal", "wider", "subsumes", "narrower", "specializes",
                             "inexact", "unmatched", "disjoint"})
# An R5 server answers with `relationship`; its R4 equivalence, so callers see one vocabulary.
R5_RELATIONSHIPS = {"equivalent": "equivalent", "source-is-narrower-than-target": "wider",
                    "source-is-broader-than-target": "narrower", "related-to": "relatedto",
                    "not-related-to": "disjoint"}
DEFAULT_MAX_EXPANSION = 1000  # codes asked for per $expand; a larger answer is marked truncated


class TerminologyError(FetchError):
    """The terminology server could not give what was asked."""


class TerminologyUnavailable(TerminologyError):
    """No usable answer (connection, timeout, 5xx, malformed): stop using the server for now."""


class MalformedAnswer(TerminologyUnavailable):
    """A 2xx answer that is not the Parameters / ValueSet the operation defines."""


class OperationNotSupported(TerminologyError):
    """The server does not offer this operation (404, 405, 501 or OperationOutcome `not-supported`)."""


class TerminologyRefused(TerminologyError):
    """The server turned this one request down (another 4xx, e.g. an unknown code or system)."""


@dataclass(frozen=True, slots=True)
class TermCode:
    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Expansion:
    """The codes of an is-a expansion (the code itself included when the server lists it)."""

    codes: tuple[TermCode, ...]
    total: int | None  # expansion.total, when the server said

    @property
    def truncated(self) -> bool:
        return self.total is not None and self.total > len(self.codes)


@dataclass(frozen=True, slots=True)
class Subsumption:
    outcome: SubsumesOutcome
    method: Literal["$subsumes", "$expand"]  # how it was decided (the $expand fallback, see the module doc)


@dataclass(frozen=True, slots=True)
class Translation:
    """One `$translate` match: the target coding and how it relates to the source (R4 `equivalence`)."""

    target: TermCode
    equivalence: str
    map_url: str | None  # the ConceptMap the server used (`source` part), when it said


class TerminologyClient:
    """One terminology server; thread-safe (the service shares one across worker threads). Close when done."""

    def __init__(
        self,
        base_url: str,
        *,
        cache: TerminologyCache | None = None,
        timeout: float = 10.0,
        deadline: float = 20.0,
        retries: int = 1,
        pause_after_failure: float = 60.0,
        max_response_bytes: int = 20 * 1024 * 1024,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from adapter.fhir.client import _checked_base  # one definition of a usable base URL

        self.base_url = _checked_base(base_url)
        self.source_id = f"terminology:{self.base_url}"
        self.cache = cache if cache is not None else TerminologyCache()
        self.request_count = 0
        self._timeout = timeout
        self._deadline = deadline
        self._policy = RetryPolicy(retries=retries, backoff=0.2, max_retry_after=2.0)
        self._max_bytes = max_response_bytes
        self._sleep = sleep
        self._clock = clock
        self._pause = pause_after_failure
        self._down_until = 0.0
        self._down_reason = ""
        self._no_subsumes: set[str] = set()  # systems whose $subsumes the server refused: use $expand
        self._lock = threading.Lock()
        self._http = new_client(transport=transport, timeout=timeout, headers={"Accept": FHIR_JSON},
                                event_hooks={"request": [self._count]})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TerminologyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TerminologyClient({self.base_url!r})"

    def _count(self, request: httpx.Request) -> None:
        with self._lock:
            self.request_count += 1

    # -- operations ------------------------------------------------------------------------------------------

    def holds(self, system: str) -> bool:
        """Whether the server has a CodeSystem resource for `system` (`CodeSystem?url=…&_summary=count`).

        Asked before `$expand` / `$subsumes`: a server answers those for a system it does not hold with an
        error, HAPI even with a 500 ("CodeSystem … is ignored/not-present"), which would read as "down".
        A server that cannot search CodeSystems is assumed to hold it (the operation then says).
        """
        key = self._key("holds", system)
        cached = self.cache.get(key)
        if cached is None:
            try:
                answer = self._call("GET", "CodeSystem", params={"url": system, "_summary": "count"})
            except (OperationNotSupported, TerminologyRefused):
                return True
            total = answer.get("total")
            if answer.get("resourceType") != "Bundle" or not isinstance(total, int) or isinstance(total, bool):
                raise self._down(MalformedAnswer(f"CodeSystem search: expected a Bundle with a total, got "
                                                 f"{answer.get('resourceType')!r}"))
            cached = self.cache.put(key, total > 0)
        return bool(cached)

    def expand_is_a(self, system: str, code: str, *, max_codes: int = DEFAULT_MAX_EXPANSION) -> Expansion:
        """`ValueSet/$expand` of an inline ValueSet: `code` and every code that is-a `code` in `system`."""
        key = self._key("expand", system, code, str(max_codes))
        cached = self.cache.get(key)
        if cached is None:
            value_set = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
                {"system": system, "filter": [{"property": "concept", "op": "is-a", "value": code}]}]}}
            body = {"resourceType": "Parameters", "parameter": [
                {"name": "valueSet", "resource": value_set}, {"name": "count", "valueInteger": max_codes}]}
            answer = self._call("POST", "ValueSet/$expand", body=body)
            cached = self.cache.put(key, _expansion_json(answer, system))
        return Expansion(tuple(TermCode(*c) for c in cached["codes"]), cached["total"])

    def subsumes(self, system: str, code_a: str, code_b: str) -> Subsumption:
        """How `code_a` relates to `code_b` in `system` (`subsumes`: B is a kind of A)."""
        if code_a == code_b:
            return Subsumption("equivalent", "$subsumes")
        if system not in self._no_subsumes:
            key = self._key("subsumes", system, code_a, code_b)
            cached = self.cache.get(key)
            if cached is None:
                try:
                    answer = self._call("GET", "CodeSystem/$subsumes",
                                        params={"system": system, "codeA": code_a, "codeB": code_b})
                except (OperationNotSupported, TerminologyRefused) as exc:
                    log.info("%s: $subsumes refused for %s (%s); deciding by $expand", self.base_url, system, exc)
                    with self._lock:
                        self._no_subsumes.add(system)
                else:
                    cached = self.cache.put(key, _subsumes_outcome(answer))
            if cached is not None:
                return Subsumption(cached, "$subsumes")
        expansion = self.expand_is_a(system, code_a)
        found = any(c.system == system and c.code == code_b for c in expansion.codes)
        return Subsumption("subsumes" if found else "not-subsumed", "$expand")

    def translate(self, system: str, code: str, target_system: str) -> tuple[Translation, ...]:
        """`ConceptMap/$translate` of `system|code` into `target_system` (R4 parameters); no match: ()."""
        key = self._key("translate", system, code, target_system)
        cached = self.cache.get(key)
        if cached is None:
            answer = self._call("GET", "ConceptMap/$translate",
                                params={"system": system, "code": code, "targetsystem": target_system})
            cached = self.cache.put(key, _translation_json(answer))
        return tuple(Translation(TermCode(*m["target"]), m["equivalence"], m["map"]) for m in cached)

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _key(self, operation: str, *parts: str) -> str:
        return json.dumps([self.base_url, operation, *parts], separators=(",", ":"))

    def _call(self, method: str, relative: str, *, params: Mapping[str, str] | None = None,
              body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if self._clock() < self._down_until:
            raise TerminologyUnavailable(f"{self.base_url}: not used for now ({self._down_reason})")
        url = f"{self.base_url}/{relative}"
        where = f"{method} {display(url)}"
        content = json.dumps(body).encode("utf-8") if body is not None else None
        try:
            reply = send(
                self._http, method, url, params=params, content=content,
                headers={"Content-Type": FHIR_JSON} if content is not None else None,
                idempotent=True,  # all three operations change nothing on the server
                policy=self._policy, timeout=self._timeout, deadline=self._deadline,
                max_bytes=self._max_bytes, max_error_bytes=MAX_ERROR_BODY_BYTES, sleep=self._sleep,
            )  # fmt: skip
            if not reply.ok:
                raise _classified(server_error(reply, where))
            return parse_resource(reply, where)
        except (OperationNotSupported, TerminologyRefused):
            raise  # about this request only: the server itself is fine
        except (TransportError, DeadlineExceeded) as exc:
            raise self._down(TerminologyUnavailable(f"{where}: {exc}")) from None
        except TerminologyUnavailable as exc:
            raise self._down(exc) from None
        except FhirServerError as exc:  # a 2xx that is not FHIR JSON
            raise self._down(MalformedAnswer(str(exc))) from None
        except FetchError as exc:  # ResponseTooLarge and the like
            raise self._down(TerminologyUnavailable(str(exc))) from None

    def _down(self, exc: TerminologyUnavailable) -> TerminologyUnavailable:
        """Stop calling the server for a while: a server that is down would cost every request a timeout."""
        with self._lock:
            self._down_until = self._clock() + self._pause
            self._down_reason = clean_text(str(exc), 200)
        return exc


def _classified(error: FhirServerError) -> TerminologyError:
    status = error.status or 0
    codes = {issue.get("code") for issue in (error.operation_outcome or {}).get("issue") or ()
             if isinstance(issue, dict)}
    message = str(error)
    if status in (404, 405, 501) or "not-supported" in codes:
        return OperationNotSupported(message)
    if 400 <= status < 500 and status not in (401, 403, 408, 429):
        return TerminologyRefused(message)
    return TerminologyUnavailable(message)  # 5xx, auth, rate limits: not something one code caused


# -- reading the answers (into plain JSON values, which is what the cache keeps) ------------------------------


def _parameters(answer: Mapping[str, Any], operation: str) -> list[dict[str, Any]]:
    if answer.get("resourceType") != "Parameters":
        raise MalformedAnswer(f"{operation}: expected Parameters, got {answer.get('resourceType')!r}")
    parameters = answer.get("parameter") or []
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        raise MalformedAnswer(f"{operation}: Parameters.parameter is not a list of parameters")
    return parameters


def _subsumes_outcome(answer: Mapping[str, Any]) -> str:
    outcomes = [p.get("valueCode") for p in _parameters(answer, "$subsumes") if p.get("name") == "outcome"]
    if len(outcomes) != 1 or outcomes[0] not in SUBSUMES_OUTCOMES:
        raise MalformedAnswer(f"$subsumes: expected one outcome code, got {outcomes!r:.100}")
    return str(outcomes[0])


def _translation_json(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    parameters = _parameters(answer, "$translate")
    results = [p.get("valueBoolean") for p in parameters if p.get("name") == "result"]
    if len(results) != 1 or not isinstance(results[0], bool):
        raise MalformedAnswer(f"$translate: expected one boolean result, got {results!r:.100}")
    matches = []
    for parameter in parameters:
        if parameter.get("name") != "match":
            continue
        parts: dict[str, dict[str, Any]] = {
            p["name"]: p for p in parameter.get("part") or () if isinstance(p, dict) and isinstance(p.get("name"), str)}
        coding = parts.get("concept", {}).get("valueCoding")
        relation = parts.get("equivalence", {}).get("valueCode")
        if relation is None and "relationship" in parts:
            relation = R5_RELATIONSHIPS.get(str(parts["relationship"].get("valueCode")))
        if not isinstance(coding, dict) or not _is_coding(coding) or relation not in R4_EQUIVALENCES:
            raise MalformedAnswer(f"$translate: a match without a coded concept and equivalence: {parts!r:.200}")
        source = (parts.get("source") or {}).get("valueUri") or (parts.get("source") or {}).get("valueCanonical")
        matches.append({"target": [coding["system"], coding["code"], _text(coding.get("display"))],
                        "equivalence": relation, "map": source if isinstance(source, str) else None})
    return matches


def _expansion_json(answer: Mapping[str, Any], system: str) -> dict[str, Any]:
    if answer.get("resourceType") != "ValueSet" or not isinstance(answer.get("expansion"), dict):
        raise MalformedAnswer(f"$expand: expected a ValueSet with an expansion, got {answer.get('resourceType')!r}")
    expansion = answer["expansion"]
    total = expansion.get("total")
    codes = []
    for item in _contains(expansion.get("contains") or []):
        if not _is_coding(item):
            raise MalformedAnswer(f"$expand: an expansion entry without system and code: {item!r:.200}")
        if item["system"] == system and not item.get("abstract") and not item.get("inactive"):
            codes.append([item["system"], item["code"], _text(item.get("display"))])
    return {"codes": codes, "total": total if isinstance(total, int) and not isinstance(total, bool) else None}


def _contains(items: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Expansion entries, nested `contains` flattened (a hierarchical expansion), bounded in depth."""
    if not isinstance(items, list) or depth > 20:
        raise MalformedAnswer("$expand: expansion.contains is not a list (or nests too deeply)")
    for item in items:
        if not isinstance(item, dict):
            raise MalformedAnswer("$expand: an expansion entry is not an object")
        if "code" in item or "system" in item:
            yield item
        if item.get("contains"):
            yield from _contains(item["contains"], depth + 1)


def _is_coding(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("system"), str) and value["system"].startswith(
        ("http://", "https://", "urn:")) and isinstance(value.get("code"), str) and bool(value["code"].strip()))


def _text(value: Any) -> str | None:
    return clean_text(value, 200) if isinstance(value, str) and value.strip() else None

