"""A trial compiled: the EvidenceVariable read once into a typed, immutable plan the engine walks per patient.

`compile_plan(evidence_variable, options)` keeps the semantics of the reference interpreter (`interpret`) —
any EvidenceVariable the engine reads, not only ours; whatever it leaves to a person stays `manual` — but reads
every part of the JSON once: the criteria tree (combination kind and threshold, exclude, linkId, description),
each definition's rule, codes and label, thresholds as Decimals with their comparator and unit (`Wanted`), look-back
windows, record-entry queries (value sets as frozensets of system|code, partial codes, name patterns) indexed by
code and name (`plan_entries`), the codes each criterion shows, and what the plan reads (`FactReads`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from adapter.eligibility.facts.reads import FactReads
from adapter.eligibility.interpret import (
    NOT_A_RECORD_ENTRY,
    codes_of,
    is_record_entry,
    links,
    modifier_not_interpreted,
    not_interpreted,
    settles_of,
    with_extensions,
)
from adapter.eligibility.options import EngineOptions
from adapter.eligibility.outcome import Outcome
from adapter.eligibility.plan_entries import EntryLookup
from adapter.eligibility.rules import Rule, RuleContext, rule_for
from adapter.eligibility.rules.context import type_label, type_tokens
from adapter.eligibility.rules.demographics import age, gender
from adapter.eligibility.rules.derived import derived
from adapter.eligibility.rules.entry_windows import StaticWindow
from adapter.eligibility.rules.observations import Wanted, lookback, no_result, observation, wanted_of
from adapter.eligibility.rules.observations import _Ask as Ask
from adapter.eligibility.rules.record_entries import (
    EntryQuery,
    _queries,
    nothing_recorded,
    record_entry,
    record_kind,
)
from adapter.vocabulary import RECORD_KINDS, coding_tokens

__all__ = ["Combination", "Fixed", "Leaf", "Node", "ObservationRead", "TrialPlan", "compile_plan"]


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One characteristic, compiled; `source` is its JSON (a `timeFromEvent.eventId` anchor names it)."""

    source: Mapping[str, Any] = field(repr=False)
    exclude: bool
    link_id: str | None


@dataclass(frozen=True, slots=True, eq=False)
class Fixed(Node):
    """A characteristic whose outcome does not depend on the patient: a modifier not interpreted, a definition
    this engine does not read (definitionExpression, …), settles on what is not a record entry."""

    outcome: Outcome


@dataclass(frozen=True, slots=True, eq=False)
class Combination(Node):
    code: str  # all-of, any-of, at-least, at-most (another: manual)
    threshold: int | None
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True, eq=False)
class ObservationRead:
    """A lab or vital criterion, read: the result codes, how reasons name it, the look-back, the value wanted."""

    codes: tuple[str, ...]
    label: str
    lookback_days: int
    wanted: Wanted | Ask | None
    codes_set: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, eq=False)
class Leaf(Node):
    """A definitionByTypeAndValue with its rule; observations and record entries read beforehand."""

    kind: Literal["observation", "record-entry", "age", "gender", "derived"]
    rule: Rule
    definition: Mapping[str, Any] = field(repr=False)  # with the characteristic's extensions merged in
    windows: list[Mapping[str, Any]] = field(repr=False)  # timeFromEvent
    settles: str | None  # record-entry-settles: absence, presence, neither
    read: ObservationRead | None = None
    query: int | None = None  # the index of its record-entry query in `TrialPlan.entries`
    window: StaticWindow | None = None  # a record entry's windows, when the evaluation date alone places them
    # The outcome when the patient has no result with its codes / no entry its query may match (and the windows
    # need no anchor): the same for everyone.
    nothing: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Inputs:
    """All the patient data a criterion's outcome depends on (its anchors' too), when that is only results and
    record entries: with none of them on record, the outcome is the same for every patient (no result, nothing
    recorded), so it is assembled once per plan."""

    results: frozenset[str]  # the codes of the results it reads
    entries: frozenset[int]  # the record-entry queries it asks (indices in `TrialPlan.entries`)


@dataclass(frozen=True, slots=True)
class CriterionPlan:
    """A top-level characteristic: a criterion of the report."""

    id: str
    type: Literal["inclusion", "exclusion"]
    text: str
    codes: tuple[str, ...]  # every code it accepts, as system|code
    node: Node
    inputs: Inputs | None  # None: it also reads the birth date, the sex, a derived measure

    @property
    def reading(self) -> str:
        """What kind of reading decides it: a leaf's kind, "combination", or "manual" (not interpreted)."""
        node = self.node
        return node.kind if isinstance(node, Leaf) else "combination" if isinstance(node, Combination) else "manual"


@dataclass(frozen=True, eq=False)
class TrialPlan:
    evidence_variable: Mapping[str, Any] = field(repr=False)  # kept alive: nodes are found by its parts' ids
    options: EngineOptions = field(repr=False)
    criteria: tuple[CriterionPlan, ...]
    links: Mapping[str, Mapping[str, Any]] = field(repr=False)  # linkId -> characteristic (JSON), nested too
    nodes: Mapping[int, Node] = field(repr=False)  # id(characteristic JSON) -> its node
    entries: EntryLookup
    reads: FactReads
    # criterion index -> its result for a patient with none of its inputs on record (filled on first use)
    without_data: dict[int, Any] = field(default_factory=dict, repr=False)

    def node_of(self, characteristic: Mapping[str, Any]) -> Node:
        return self.nodes[id(characteristic)]

    # Pickled (the compiled-catalog cache) with `nodes` as (characteristic, node) pairs: ids are not kept across
    # processes, the characteristics are (pickle keeps them the very objects of `evidence_variable`).
    def __getstate__(self) -> dict[str, Any]:
        parts = {id(part): part for part in _dicts(self.evidence_variable)}
        if not parts.keys() >= self.nodes.keys():
            raise TypeError("a plan node whose characteristic is not in the EvidenceVariable cannot be pickled")
        state = dict(self.__dict__)
        state["nodes"] = [(parts[key], node) for key, node in self.nodes.items()]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["nodes"] = {id(characteristic): node for characteristic, node in state["nodes"]}
        self.__dict__.update(state)


def _dicts(data: Any) -> Iterator[Mapping[str, Any]]:
    """Every JSON object in `data`, nested ones too."""
    if isinstance(data, Mapping):
        yield data
        for value in data.values():
            yield from _dicts(value)
    elif isinstance(data, list):
        for value in data:
            yield from _dicts(value)


def compile_plan(evidence_variable: Mapping[str, Any], options: EngineOptions | None = None) -> TrialPlan:
    """The EvidenceVariable compiled for `options` (the trial's engine options)."""
    options = options or EngineOptions()
    compiler = _Compiler(options)
    top = [compiler.node(c) for c in evidence_variable.get("characteristic", [])]
    by_link = links(evidence_variable)
    criteria = []
    for index, characteristic in enumerate(evidence_variable.get("characteristic", [])):
        criteria.append(CriterionPlan(
            id=characteristic.get("linkId") or f"criterion-{index + 1}",
            type="exclusion" if characteristic.get("exclude") else "inclusion",
            text=characteristic.get("description") or "",
            codes=codes_of(characteristic, options),
            node=top[index],
            inputs=_inputs(top[index], by_link, compiler),
        ))
    unread: dict[str, list[int]] = {}
    for kind_name, queries in _queries(evidence_variable).items():
        unread[kind_name] = [compiler.query(q) for q in queries]
    return TrialPlan(
        evidence_variable=evidence_variable,
        options=options,
        criteria=tuple(criteria),
        links=by_link,
        nodes=compiler.nodes,
        entries=EntryLookup.of(compiler.queries, unread),
        reads=FactReads(frozenset(compiler.result_codes), frozenset(k.name for k in RECORD_KINDS
                                                                    if k.name in compiler.kinds)),
    )


class _Compiler:
    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.nodes: dict[int, Node] = {}
        self.queries: list[EntryQuery] = []
        self._query_index: dict[tuple[object, ...], int] = {}
        self.result_codes: set[str] = set()
        self.kinds: set[str] = set()
        # A rule reads no patient data from this context: it is only asked which rule a type names.
        self._context = RuleContext(None, None, None, options, {}, _no_anchor)  # type: ignore[arg-type]

    def node(self, characteristic: Mapping[str, Any]) -> Node:
        found = self.nodes.get(id(characteristic))
        if found is None:
            found = self.nodes[id(characteristic)] = self._compile(characteristic)
            # Every characteristic gets a node, even one under a manual parent: a window may be anchored on it.
            for child in (characteristic.get("definitionByCombination") or {}).get("characteristic", []):
                self.node(child)
        return found

    def _compile(self, c: Mapping[str, Any]) -> Node:
        head = (c, bool(c.get("exclude")), c.get("linkId"))
        modifiers = c.get("modifierExtension")
        settles = settles_of(modifiers) if modifiers else None
        if modifiers and (settles is None or "definitionByTypeAndValue" not in c):
            return Fixed(*head, modifier_not_interpreted(modifiers))
        if "definitionByCombination" in c:
            combination = c["definitionByCombination"]
            children = tuple(self.node(child) for child in combination.get("characteristic", []))
            return Combination(*head, combination.get("code", ""), combination.get("threshold"), children)
        if "definitionByTypeAndValue" not in c:
            return Fixed(*head, not_interpreted(c))
        definition = self.options.memo.get(c, "definition", lambda: with_extensions(c))
        if settles and not is_record_entry(definition):
            return Fixed(*head, NOT_A_RECORD_ENTRY)
        rule = rule_for(definition, self._context)
        windows = c.get("timeFromEvent", [])
        if rule is record_entry:
            kind = record_kind(definition)
            assert kind is not None
            self.kinds.add(kind.name)
            query = self.query(self.options.memo.get(definition, "entry-query", lambda: EntryQuery.of(definition,
                                                                                                         kind)))
            window = StaticWindow.of(windows)
            nothing = nothing_recorded(self.queries[query], window.where) if window is not None else None
            return Leaf(*head, "record-entry", rule, definition, windows, settles, query=query, window=window,
                        nothing=nothing)
        if rule is observation:
            codes = tuple(type_tokens(definition))
            label = type_label(definition)
            if not codes:
                return Fixed(*head, Outcome("manual", f"{label}: no code to look for in the record"))
            self.result_codes.update(codes)
            read = ObservationRead(codes, label, lookback(self._context, windows), wanted_of(definition),
                                   frozenset(codes))
            return Leaf(*head, "observation", rule, definition, windows, settles, read=read,
                        nothing=no_result(label, codes))
        if rule is derived:
            for type_token in coding_tokens(definition.get("type")):
                spec = self.options.derived.get(type_token)
                if spec is not None:
                    self.result_codes.update((*spec.creatinine_codes, *spec.weight_codes))
        kind_name: Literal["age", "gender", "derived"] = (
            "age" if rule is age else "gender" if rule is gender else "derived")
        return Leaf(*head, kind_name, rule, definition, windows, settles)

    def query(self, query: EntryQuery) -> int:
        """The index of an equal query (one lookup serves both), added when new."""
        key = (query.kind.name, query.wanted, tuple(query.partial.items()),
               query.regex, query.history, query.display)
        index = self._query_index.get(key)
        if index is None:
            index = self._query_index[key] = len(self.queries)
            self.queries.append(query)
        return index


def _inputs(node: Node, by_link: Mapping[str, Mapping[str, Any]], compiler: _Compiler) -> Inputs | None:
    """What the node reads (through its windows' anchors too); None when that is more than results and entries."""
    results: set[str] = set()
    entries: set[int] = set()
    pending, seen = [node], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, Combination):
            pending.extend(current.children)
        elif isinstance(current, Leaf):
            if current.read is not None:
                results.update(current.read.codes)
            elif current.query is not None:
                entries.add(current.query)
                for window in current.windows:
                    anchor = window.get("eventId") if isinstance(window, Mapping) else None
                    if anchor and anchor in by_link:
                        pending.append(compiler.node(by_link[anchor]))
            else:
                return None  # age, sex, a derived measure
    return Inputs(frozenset(results), frozenset(entries))


def _no_anchor(characteristic: Mapping[str, Any]) -> Outcome:
    raise AssertionError("a plan is compiled without a patient")
