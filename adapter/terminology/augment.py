"""At catalog load: value sets widened by a terminology server — descendants by `$expand`, other systems'
codes by `$translate` — as a new ConceptLibrary. The engine stays pure: it only ever sees the bigger library.

What is added, and where:

- a descendant (is-a) of a value-set code is a kind of the concept: added to `codes`;
- a `$translate` match whose target is equivalent to the code (`equivalent`, `equal`) or narrower than it
  (`narrower`, `specializes`: the target is a kind of the concept) is added to `codes`, and its descendants
  too;
- a target wider than the code (`wider`, `subsumes`) may hold the concept but need not: it goes to
  `partial_codes` with `missing: "broader code from <map>: confirm"`, so a match asks a person;
- `inexact`, `relatedto`, `unmatched`, `disjoint`: nothing.

Only record-entry concepts (conditions, procedures, medications, allergies) are widened: a lab's value set
is the codes whose results share a unit and a meaning, and LOINC's hierarchy does not keep either. Every added
code carries `source` = the server's id (`terminology:<base URL>`), which is added to `sources`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from adapter.mapping.concepts import Code, Concept, ConceptLibrary, PartialCode, Source
from adapter.terminology.client import (
    OperationNotSupported,
    TermCode,
    TerminologyClient,
    TerminologyRefused,
    TerminologyUnavailable,
    Translation,
)
from adapter.vocabulary import SNOMED

log = logging.getLogger("adapter.terminology")

RECORD_KINDS = ("conditions", "procedures", "medications", "allergies")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# Systems a record entry of each kind is commonly coded in: the $translate targets besides the systems the
# library's own value sets use.
CROSS_MAP_SYSTEMS: Mapping[str, tuple[str, ...]] = {
    "conditions": (SNOMED, ICD10CM, ICD10),
    "procedures": (SNOMED, ICD10PCS),
    "medications": (RXNORM, SNOMED),
    "allergies": (SNOMED, RXNORM),
}
SAFE_EQUIVALENCES = frozenset({"equivalent", "equal", "narrower", "specializes"})
BROADER_EQUIVALENCES = frozenset({"wider", "subsumes"})
DEFAULT_MAX_ADDED = 500  # codes one concept may gain; the rest is left to per-patient recognition


@dataclass
class Augmentation:
    """The widened library, how many codes each concept gained, and what the report should say."""

    concepts: ConceptLibrary
    added: dict[str, int] = field(default_factory=dict)  # "kind.name" -> codes added (codes + partial codes)
    notes: list[str] = field(default_factory=list)
    used: bool = True  # False when the server could not be used at all (the library is returned unchanged)


def augment_concepts(
    concepts: ConceptLibrary,
    terminology: TerminologyClient,
    *,
    target_systems: Mapping[str, Iterable[str]] | None = None,
    max_added: int = DEFAULT_MAX_ADDED,
) -> ConceptLibrary:
    """The library with every record-entry value set widened by `terminology` (see the module docstring)."""
    return augment(concepts, terminology, target_systems=target_systems, max_added=max_added).concepts


def augment(
    concepts: ConceptLibrary,
    terminology: TerminologyClient,
    *,
    target_systems: Mapping[str, Iterable[str]] | None = None,
    max_added: int = DEFAULT_MAX_ADDED,
) -> Augmentation:
    """Widen the library; a server that fails leaves it unchanged, with a warning logged and a note."""
    targets = _targets(concepts, target_systems)
    widener = _Widener(terminology, max_added)
    updated: dict[str, dict[str, Concept]] = {}
    result = Augmentation(concepts)
    try:
        for kind in RECORD_KINDS:
            table: dict[str, Concept] = getattr(concepts, kind)
            updated[kind] = {}
            for name, concept in table.items():
                new = widener.widen(concept, targets[kind])
                if new is not concept:
                    result.added[f"{kind}.{name}"] = (len(new.codes) + len(new.partial_codes)
                                                      - len(concept.codes) - len(concept.partial_codes))
                updated[kind][name] = new
    except TerminologyUnavailable as exc:
        log.warning("terminology server %s not used for the value sets: %s", terminology.base_url, exc)
        result.used = False
        result.notes.append(f"Terminology server {terminology.base_url} could not be used: value sets were not "
                            f"widened by its hierarchies and maps ({exc}).")
        return result
    result.notes += widener.notes
    if result.added:
        sources = {**concepts.sources, terminology.source_id: Source(
            title=f"terminology server {terminology.base_url}", url=terminology.base_url,
            note="codes added at catalog load: descendants ($expand is-a) and cross-maps ($translate)")}
        merged = ConceptLibrary.model_validate({**concepts.model_dump(), "sources": sources,
                                                **{kind: {n: c.model_dump() for n, c in updated[kind].items()}
                                                   for kind in RECORD_KINDS}})
        result.concepts = merged
    return result


def _targets(concepts: ConceptLibrary, given: Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    if given is not None:
        return {kind: tuple(given.get(kind, ())) for kind in RECORD_KINDS}
    found: dict[str, tuple[str, ...]] = {}
    for kind in RECORD_KINDS:
        used = [code.system for concept in getattr(concepts, kind).values() for code in concept.all_codes()]
        found[kind] = tuple(dict.fromkeys([*used, *CROSS_MAP_SYSTEMS[kind]]))
    return found


class _Widener:
    """One pass over the library; remembers which operations the server does not offer, to ask once."""

    def __init__(self, terminology: TerminologyClient, max_added: int) -> None:
        self.terminology = terminology
        self.max_added = max_added
        self.source = terminology.source_id
        self.skipped: set[str] = set()  # "$expand", "$translate": the server does not offer it
        self.notes: list[str] = []

    def widen(self, concept: Concept, targets: tuple[str, ...]) -> Concept:
        known = {c.token for c in concept.all_codes()}
        codes: list[Code] = []
        partial: list[PartialCode] = []
        safe: list[TermCode] = [TermCode(c.system, c.code, c.display) for c in concept.codes]
        for original in list(safe):
            for match in self._translations(original, targets):
                target = match.target
                token = f"{target.system}|{target.code}"
                if match.equivalence in SAFE_EQUIVALENCES and token not in known:
                    known.add(token)
                    safe.append(target)
                    codes.append(Code(system=target.system, code=target.code, display=target.display,
                                      source=self.source))
                elif match.equivalence in BROADER_EQUIVALENCES and token not in known:
                    known.add(token)
                    where = match.map_url or self.terminology.base_url
                    partial.append(PartialCode(system=target.system, code=target.code, display=target.display,
                                               source=self.source, missing=f"broader code from {where}: confirm"))
        for parent in safe:  # the originals and their safe cross-maps: every descendant is a kind of the concept
            for child in self._descendants(parent):
                token = f"{child.system}|{child.code}"
                if token not in known and len(codes) + len(partial) < self.max_added:
                    known.add(token)
                    codes.append(Code(system=child.system, code=child.code, display=child.display,
                                      source=self.source))
        if not codes and not partial:
            return concept
        sources = list(dict.fromkeys([*concept.sources, self.source]))
        return concept.model_copy(update={"codes": [*concept.codes, *codes],
                                          "partial_codes": [*concept.partial_codes, *partial], "sources": sources})

    def _translations(self, code: TermCode, targets: tuple[str, ...]) -> list[Translation]:
        found: list[Translation] = []
        for target in targets:
            if target == code.system or "$translate" in self.skipped:
                continue
            try:
                found += self.terminology.translate(code.system, code.code, target)
            except OperationNotSupported as exc:
                self._skip("$translate", exc)
            except TerminologyRefused as exc:
                log.debug("$translate %s|%s -> %s refused: %s", code.system, code.code, target, exc)
        return found

    def _descendants(self, code: TermCode) -> tuple[TermCode, ...]:
        if "$expand" in self.skipped or not self.terminology.holds(code.system):
            return ()
        try:
            expansion = self.terminology.expand_is_a(code.system, code.code)
        except OperationNotSupported as exc:
            self._skip("$expand", exc)
            return ()
        except TerminologyRefused as exc:  # e.g. a system the server does not hold
            log.debug("$expand is-a %s|%s refused: %s", code.system, code.code, exc)
            return ()
        if expansion.truncated:
            self.notes.append(f"Terminology server {self.terminology.base_url}: the descendants of "
                              f"{code.system}|{code.code} were cut at {len(expansion.codes)} of {expansion.total}.")
        return expansion.codes

    def _skip(self, operation: str, exc: Exception) -> None:
        self.skipped.add(operation)
        log.warning("terminology server %s does not offer %s: %s", self.terminology.base_url, operation, exc)
        self.notes.append(f"Terminology server {self.terminology.base_url} does not offer {operation}.")
