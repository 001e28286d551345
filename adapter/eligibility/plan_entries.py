"""Record entries looked up, not scanned: every record-entry query of a compiled plan, indexed by the codes it
accepts (value set and partial codes) and — remembered per name — by the names it matches.

Per patient, each entry is looked up once (its codes, its names) to find the queries that may match it; a query
then classifies only those entries, in record order, with the same rule as ever (`rules.record_entries`). An
entry no query matches is never touched twice, and the entries no query can read (`unrecognized_entries`) come
from the same lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from adapter.eligibility.result import UnrecognizedEntries
from adapter.eligibility.rules.record_entries import EntryQuery
from adapter.vocabulary import RECORD_KIND_BY_NAME, split_token

if TYPE_CHECKING:
    from adapter.eligibility.facts import ClinicalFact, PatientFacts

_MEMO_LIMIT = 8192  # names and code sets remembered per plan (bounded: a hostile record cannot grow it)
Hits = dict[int, list[int]]  # query index -> positions of the entries it may match, in record order


@dataclass(frozen=True)
class EntryLookup:
    """The record-entry queries of a plan, by kind, and what each kind's unread entries are judged against."""

    queries: tuple[EntryQuery, ...]
    # kind name -> {system|code -> indices of the queries of that kind that accept it (as item or partial)}
    by_code: Mapping[str, Mapping[str, tuple[int, ...]]]
    # kind name -> indices of the queries of that kind that match by name
    named: Mapping[str, tuple[int, ...]]
    # kind name -> (the queries an entry of that kind must escape to be unread, the code systems they use), in
    # the order the EvidenceVariable first asks about each kind
    unread: Mapping[str, tuple[frozenset[int], frozenset[str]]]
    _names: dict[tuple[str, str], frozenset[int]] = field(default_factory=dict, compare=False, repr=False)
    _systems: dict[frozenset[str], frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, queries: Sequence[EntryQuery], unread: Mapping[str, Sequence[int]]) -> EntryLookup:
        by_code: dict[str, dict[str, list[int]]] = {}
        named: dict[str, list[int]] = {}
        for index, query in enumerate(queries):
            codes = by_code.setdefault(query.kind.name, {})
            for code in (*query.wanted, *query.partial):
                if index not in codes.setdefault(code, []):
                    codes[code].append(index)
            if query.regex is not None:
                named.setdefault(query.kind.name, []).append(index)
        return cls(
            tuple(queries),
            {kind: {code: tuple(found) for code, found in codes.items()} for kind, codes in by_code.items()},
            {kind: tuple(found) for kind, found in named.items()},
            {kind: (frozenset(found), frozenset().union(*(queries[i].systems for i in found)))
             for kind, found in unread.items()},
        )

    @cached_property
    def kinds(self) -> frozenset[str]:
        """The record kinds the plan asks about."""
        return frozenset(q.kind.name for q in self.queries)

    def hits(self, kind: str, facts: Sequence[ClinicalFact]) -> Hits:
        """For each query of `kind`, the positions of the entries it may match (a superset of those it does)."""
        by_code = self.by_code.get(kind, {})
        named = self.named.get(kind, ())
        hits: Hits = {}
        for position, fact in enumerate(facts):
            found: set[int] = set()
            if by_code:
                for code in fact.codes:
                    found.update(by_code.get(code, ()))
            if named:
                for name in fact.names or (fact.text,):
                    if isinstance(name, str) and name:
                        found |= self._named(kind, name, named)
            for index in found:
                hits.setdefault(index, []).append(position)
        return hits

    def _named(self, kind: str, name: str, named: tuple[int, ...]) -> frozenset[int]:
        key = (kind, name)
        found = self._names.get(key)
        if found is None:
            if len(self._names) >= _MEMO_LIMIT:
                self._names.clear()
            found = self._names[key] = frozenset(i for i in named if self.queries[i].names(name))
        return found

    def unrecognized(self, facts: PatientFacts, hits_of: Callable[[str], Hits]) -> list[UnrecognizedEntries]:
        """Entries of a kind the plan asks about, coded only in code systems none of its queries of that kind uses
        and matched by none of them: grouped by kind and code systems, every reference kept (as
        `rules.record_entries.unrecognized_entries` finds them)."""
        groups: dict[tuple[str, tuple[str, ...]], list[ClinicalFact]] = {}
        for kind, (queries, known) in self.unread.items():
            entries: Sequence[ClinicalFact] = getattr(facts, kind)
            matched: set[int] | None = None
            for position, fact in enumerate(entries):
                if not fact.usable or not fact.codes:
                    continue
                systems = self._systems_of(fact.codes)
                if not known.isdisjoint(systems):
                    continue
                if matched is None:
                    hits = hits_of(kind)
                    matched = {p for q in queries for p in hits.get(q, ())}
                if position in matched and any(self.queries[q].match(fact) for q in queries):
                    continue
                groups.setdefault((kind, tuple(sorted(systems))), []).append(fact)
        return [
            UnrecognizedEntries(kind=kind, singular=RECORD_KIND_BY_NAME[kind].mapping_key, systems=systems,
                                references=tuple(f.reference for f in found), texts=tuple(f.text for f in found))
            for (kind, systems), found in groups.items()
        ]

    def _systems_of(self, codes: frozenset[str]) -> frozenset[str]:
        found = self._systems.get(codes)
        if found is None:
            if len(self._systems) >= _MEMO_LIMIT:
                self._systems.clear()
            found = self._systems[codes] = frozenset(split_token(c)[0] for c in codes)
        return found
