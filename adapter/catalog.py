"""The trials an installation knows: a `TrialCatalog`, loaded once and passed explicitly to whoever needs it.

A mappings folder holds, per trial, `<NCT>.yaml` (the reviewed mapping) and `<NCT>.json` (its
ClinicalTrials.gov API v2 record) beside it, plus optionally `concepts.yaml` and `units.yaml`. The seed
trials ship inside the package (`adapter/mappings`, read with importlib.resources); a site adds or
overrides trials with more folders (`--mappings DIR`, `TRIAL_ADAPTER_MAPPINGS`), later folders winning.

No module-level state: the catalog is an immutable value. Trials are parsed on first use, once per catalog.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.errors import MappingError, UnknownTrialError

if TYPE_CHECKING:  # the heavy parts are imported when a trial is first used
    from adapter.ctgov.model import TrialRecord
    from adapter.eligibility.engine import EngineOptions
    from adapter.eligibility.plan import TrialPlan
    from adapter.eligibility.reference_ranges import ReferenceRangeTable
    from adapter.mapping.concepts import ConceptLibrary
    from adapter.mapping.model import TrialMapping
    from adapter.units import UnitTable

RECRUITING_STATUSES = frozenset({"RECRUITING", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING"})
CONCEPTS_FILE = "concepts.yaml"  # and concepts-<part>.yaml: the library may be split into several files
UNITS_FILE = "units.yaml"


def bundled_mappings() -> Traversable:
    """The mappings folder shipped inside the package."""
    here = Path(__file__).with_name("mappings")
    if here.is_dir():  # installed as files (the usual case): the folder itself, without importlib.resources (~20 ms)
        return here
    from importlib.resources import files

    return files("adapter") / "mappings"


@dataclass(frozen=True, eq=False)
class Trial:
    """One trial: its record, its reviewed mapping and the concept library the mapping names."""

    record: TrialRecord
    mapping: TrialMapping
    concepts: ConceptLibrary
    units: UnitTable
    source: str  # where the mapping was read from, for messages
    reference_ranges: ReferenceRangeTable | None = None  # the site's default ranges (--reference-ranges)

    @property
    def nct_id(self) -> str:
        return self.record.nct_id

    @property
    def title(self) -> str:
        return self.record.brief_title or self.record.nct_id

    @property
    def recruiting(self) -> bool:
        return self.record.overall_status in RECRUITING_STATUSES

    @cached_property
    def draft(self) -> bool:
        """A drafted mapping that no clinician has reviewed yet."""
        return bool(getattr(self.mapping, "draft", False))

    @cached_property
    def review_flags(self) -> tuple[tuple[str, str], ...]:
        """(criterion id, why its computable reading needs a check) for each criterion flagged `needs_review`."""
        return tuple((c.id, c.needs_review) for c in self.mapping.criteria if c.needs_review)

    @cached_property
    def result_codes(self) -> frozenset[str]:
        """Every result code (system|code) the trial's criteria can read (`evaluation.observation_codes`)."""
        from adapter.evaluation import trial_result_codes

        return trial_result_codes(self)

    if not TYPE_CHECKING:  # (hidden from mypy: it would make every attribute name valid)
        def __getattr__(self, name: str) -> Any:
            return _deferred_field(self, name)

    @cached_property
    def evidence_variable(self) -> dict[str, Any]:
        """The R5 EvidenceVariable the engine interprets (built once per trial; treat as read-only)."""
        from adapter.fhir_build.evidence_variable import build_evidence_variable

        return build_evidence_variable(self.mapping, self.concepts, self.title, self.record)

    @cached_property
    def engine_options(self) -> EngineOptions:
        from adapter.eligibility.options import engine_options

        return engine_options(self.concepts, self.units, self.mapping.defaults.lookback_days, self.reference_ranges)

    @cached_property
    def plan(self) -> TrialPlan:
        """The EvidenceVariable compiled for the engine options: what `evaluate_trial` walks per patient."""
        from adapter.eligibility.engine import plan_of

        return plan_of(self.evidence_variable, self.engine_options)


@dataclass(frozen=True)
class _Source:
    mapping: Traversable
    record: Traversable


@dataclass(frozen=True, eq=False)
class TrialCatalog:
    """Which trials exist, where their files are, and the shared concept library and units table."""

    concepts: ConceptLibrary
    units: UnitTable
    sources: Mapping[str, _Source]
    parse: Callable[[str, str], Any] | None = field(default=None, repr=False)  # YAML reader (None: the plain one)
    # The site's default reference ranges (`--reference-ranges FILE`), handed to every trial's engine options.
    reference_ranges: ReferenceRangeTable | None = None
    _loaded: dict[str, Trial] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    if not TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any:
            return _deferred_field(self, name)

    @property
    def ids(self) -> list[str]:
        return sorted(self.sources)

    def __contains__(self, nct_id: object) -> bool:
        return isinstance(nct_id, str) and nct_id.strip().upper() in self.sources

    def get(self, nct_id: str) -> Trial:
        """The trial, parsed and cross-checked against its record on first use; UnknownTrialError if absent."""
        key = nct_id.strip().upper()
        trial = self._loaded.get(key)
        if trial is not None:
            return trial
        source = self.sources.get(key)
        if source is None:
            raise UnknownTrialError(f"unknown trial {key} (known: {', '.join(self.ids) or 'none'})")
        with self._lock:
            trial = self._loaded.get(key)
            if trial is None:
                trial = self._loaded[key] = self._load(key, source)
        return trial

    def select(self, requested: Iterable[str] | None = None) -> list[Trial]:
        """The requested trials (all when None or empty), in the order asked."""
        wanted = [t.strip().upper() for t in requested or ()] or self.ids
        return [self.get(nct) for nct in dict.fromkeys(wanted)]

    def all(self) -> list[Trial]:
        return self.select(None)

    def with_concepts(self, concepts: ConceptLibrary) -> TrialCatalog:
        """The same trials over another concept library (e.g. widened by a terminology server); parsed anew."""
        return TrialCatalog(concepts=concepts, units=self.units, sources=self.sources,
                            reference_ranges=self.reference_ranges)

    def with_reference_ranges(self, table: ReferenceRangeTable | None) -> TrialCatalog:
        """The same trials judged with a site's default reference ranges (None: none); parsed anew."""
        return TrialCatalog(concepts=self.concepts, units=self.units, sources=self.sources, parse=self.parse,
                            reference_ranges=table)

    def _load(self, nct_id: str, source: _Source) -> Trial:
        from adapter.ctgov.parse import parse_record_bytes
        from adapter.mapping.loader import mapping_from_text, parse_yaml

        record = parse_record_bytes(_read_bytes(source.record), str(source.record))
        parse = self.parse or parse_yaml
        mapping = mapping_from_text(_read_text(source.mapping), str(source.mapping), self.concepts, record, parse)
        return Trial(record=record, mapping=mapping, concepts=self.concepts, units=self.units,
                     source=str(source.mapping), reference_ranges=self.reference_ranges)


def load_catalog(extra: Sequence[Path | str] = (), *, bundled: bool = True, cache_dir: Path | None = None,
                 reference_ranges: ReferenceRangeTable | None = None) -> TrialCatalog:
    """The bundled trials (unless `bundled=False`) overlaid by each folder in `extra`, in order.

    Raises MappingError when a folder is missing or unreadable, a mapping has no record beside it, or no
    trial at all is known.
    """
    folders: list[Traversable] = [bundled_mappings()] if bundled else []
    for item in extra:
        path = Path(item)
        if not path.is_dir():
            raise MappingError(f"mappings folder {path}: no such directory")
        folders.append(path)
    if cache_dir is None:
        return _load_catalog(folders, None, reference_ranges)
    # The edge may give a cache folder: a warm process loads the whole compiled catalog from it.
    from adapter.catalog_cache import compiled_catalog

    return compiled_catalog(folders, cache_dir, reference_ranges, _load_catalog)


def _load_catalog(folders: list[Traversable], cache_dir: Path | None,
                  reference_ranges: ReferenceRangeTable | None) -> TrialCatalog:
    from adapter.mapping.loader import concept_data, concepts_from_data, merge_concept_data, parse_yaml
    from adapter.mapping.parsed_cache import ParsedYamlCache

    # The edge may give a cache folder: parsed YAML is kept there as JSON, keyed by the text's hash.
    parse = ParsedYamlCache(cache_dir, parse_yaml) if cache_dir is not None else parse_yaml
    from adapter.units import load_unit_table

    concepts: dict[str, Any] | None = None
    units_source: Traversable | None = None
    sources: dict[str, _Source] = {}
    for folder in folders:
        try:
            names = {entry.name: entry for entry in folder.iterdir()}
        except OSError as exc:
            raise MappingError(f"mappings folder {folder}: cannot read ({exc.strerror})") from None
        concept_files = sorted(n for n in names if n == CONCEPTS_FILE or (n.startswith("concepts-") and
                                                                         n.endswith(".yaml")))
        if concept_files:
            ours: dict[str, Any] = {}
            for name in concept_files:
                entry = names[name]
                ours = merge_concept_data(ours, concept_data(_read_text(entry), str(entry), parse), str(entry),
                                          override=False)
            concepts = ours if concepts is None else merge_concept_data(concepts, ours, str(folder), override=True)
        if UNITS_FILE in names:
            units_source = names[UNITS_FILE]
        for name, entry in names.items():
            if name.startswith("NCT") and name.endswith(".yaml"):
                nct = name.removesuffix(".yaml").upper()
                record = names.get(f"{name.removesuffix('.yaml')}.json")
                if record is None:
                    raise MappingError(f"{entry}: no record {nct}.json beside the mapping")
                sources[nct] = _Source(entry, record)
    where = ", ".join(str(f) for f in folders) or "no folder"
    if concepts is None:
        raise MappingError(f"no {CONCEPTS_FILE} in {where}")
    if units_source is None:
        raise MappingError(f"no {UNITS_FILE} in {where}")
    if not sources:
        raise MappingError(f"no trial mappings (NCT*.yaml) in {where}")
    library = concepts_from_data(concepts, where)
    units = load_unit_table(_read_text(units_source), str(units_source))
    return TrialCatalog(concepts=library, units=units, sources=dict(sorted(sources.items())),
                        parse=parse if cache_dir is not None else None, reference_ranges=reference_ranges)


def _read_text(entry: Traversable) -> str:
    try:
        return entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{entry}: cannot read ({exc})") from None


def _read_bytes(entry: Traversable) -> bytes:
    try:
        return entry.read_bytes()
    except OSError as exc:
        raise MappingError(f"{entry}: cannot read ({exc.strerror})") from None


def _deferred_field(obj: Trial | TrialCatalog, name: str) -> Any:
    """A trial or catalog from the compiled-catalog cache holds its mapping and concept library unloaded (they
    are pydantic models: a process that only evaluates never imports pydantic); they are loaded on first use."""
    deferred = obj.__dict__.get("_deferred")
    if deferred is None or name not in ("mapping", "concepts"):
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    library = deferred.library()
    value = library["concepts"] if name == "concepts" else library["mappings"][obj.__dict__["_catalog_key"]]
    obj.__dict__[name] = value
    return value
