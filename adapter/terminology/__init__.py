"""An optional FHIR R4 terminology server (`--terminology-server URL`), used at the edges only.

- at catalog load, `augment_concepts` widens the value sets: descendants by `ValueSet/$expand` (is-a),
  other systems' codes by `ConceptMap/$translate` (see `adapter.terminology.augment` for what is added);
- per patient, before evaluation, `recognize` adds the value-set code to a record entry whose own code a
  value-set code subsumes (`CodeSystem/$subsumes`);
- answers are cached (`adapter.terminology.cache`: memory, and a JSON file for the CLI).

The engine stays pure: it sees a bigger concept library and facts with more codes, nothing else. A server
that fails never stops an evaluation: a warning is logged and the report's notes say it was not used.
`Terminology` bundles the three for the CLI and the service. Docs: docs/terminology.md.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from adapter.terminology.augment import Augmentation, augment, augment_concepts
from adapter.terminology.cache import TerminologyCache, default_cache_path
from adapter.terminology.client import (
    Expansion,
    MalformedAnswer,
    OperationNotSupported,
    Subsumption,
    TermCode,
    TerminologyClient,
    TerminologyError,
    TerminologyRefused,
    TerminologyUnavailable,
    Translation,
)
from adapter.terminology.recognize import NOTE_PREFIX, recognize

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog
    from adapter.eligibility.facts import PatientFacts
    from adapter.evaluation import TrialEvaluation
    from adapter.mapping.concepts import ConceptLibrary

__all__ = [
    "NOTE_PREFIX",
    "Augmentation",
    "Expansion",
    "MalformedAnswer",
    "OperationNotSupported",
    "Subsumption",
    "TermCode",
    "Terminology",
    "TerminologyCache",
    "TerminologyClient",
    "TerminologyError",
    "TerminologyRefused",
    "TerminologyUnavailable",
    "Translation",
    "augment",
    "augment_concepts",
    "default_cache_path",
    "open_terminology",
    "recognize",
]


class Terminology:
    """A terminology server as the CLI and the service use it: widen a catalog once, then recognise per patient.

    Thread-safe after `augment_catalog` (the service calls `recognize` from worker threads).
    """

    def __init__(self, client: TerminologyClient) -> None:
        self.client = client
        self.notes: tuple[str, ...] = ()  # from catalog load, repeated on every patient's facts

    @classmethod
    def open(cls, base_url: str, *, cache_path: Path | None = None, timeout: float = 10.0) -> Terminology:
        """A client for `base_url` with a memory cache, kept in `cache_path` too when given."""
        return cls(TerminologyClient(base_url, cache=TerminologyCache(path=cache_path), timeout=timeout))

    def augment_catalog(self, catalog: TrialCatalog) -> TrialCatalog:
        """The catalog with its concept library widened (the same catalog if nothing was added)."""
        result = augment(catalog.concepts, self.client)
        self.notes = tuple(result.notes)
        return catalog if result.concepts is catalog.concepts else catalog.with_concepts(result.concepts)

    def recognize(self, facts: PatientFacts, concepts: ConceptLibrary) -> PatientFacts:
        return recognize(facts, concepts, self.client, notes=self.notes)

    def annotate(self, result: TrialEvaluation, facts: PatientFacts) -> TrialEvaluation:
        """`result` with the terminology notes of `facts` among its notes, so the report shows them."""
        ours = tuple(n for n in facts.notes if n.startswith(NOTE_PREFIX) and n not in result.evaluation.notes)
        if not ours:
            return result
        return replace(result, evaluation=replace(result.evaluation, notes=(*result.evaluation.notes, *ours)))

    def close(self) -> None:
        """Keep the cache (when it has a file) and close the connection."""
        self.client.cache.save()
        self.client.close()


def open_terminology(base_url: str | None, *, cache_path: Path | None = None) -> Terminology | None:
    """`Terminology.open(base_url)` for the CLI, with the cache file in the cache folder; None without a URL."""
    if not base_url:
        return None
    return Terminology.open(base_url, cache_path=cache_path or default_cache_path())
