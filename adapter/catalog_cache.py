"""A cache of compiled catalogs: the concept library, the units table and every trial (record, mapping, the
EvidenceVariable, engine options and compiled plan) pickled once, so that a warm process neither parses YAML nor
validates the library nor compiles plans.

Two files per catalog: what evaluation reads (records, plans, units: plain dataclasses) and the pydantic models
(the concept library and the mappings), unpickled only when something asks for `Trial.mapping` or `.concepts` —
a process that only evaluates never imports pydantic.

Safety (the cache can only save time, never change a result):
* the key is a SHA-256 of this format, the Python version, the package version, every module of the package by
  path, size and modification time (pickled objects are instances of its classes), every mapping folder's path and
  the bytes of every file the catalog reads (concepts, units, each NCT….yaml and .json), and the site's reference
  ranges;
* the file holds the key and a SHA-256 of its payload; anything absent, foreign, truncated or failing to load is
  ignored (the catalog is loaded from its files as without a cache);
* written atomically (adapter.atomic) and private to the user (0600: a pickle is code to whoever can write it,
  so a file not owned by this user, or writable by others, is never loaded).
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import os
import pickle
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from adapter.catalog import TrialCatalog
    from adapter.eligibility.reference_ranges import ReferenceRangeTable

    LoadCatalog = Callable[[list[Traversable], Path | None, ReferenceRangeTable | None], TrialCatalog]

FORMAT = b"trial-fhir-adapter/compiled-catalog/1"
_PACKAGE = Path(__file__).resolve().parent
_MAGIC = b"TFACC1\n"


def _mapping_proxy(data: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """Unpickles a read-only mapping (pickle cannot name `mappingproxy` itself)."""
    return MappingProxyType(data)


def _code_fingerprint() -> bytes:
    """Every module of the package by path, size and modification time (a stat each: reading them all would
    cost ~8 ms a process): an edited or updated checkout never loads objects of older classes."""
    digest = hashlib.sha256()
    for root, dirs, names in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                info = os.stat(path)
                digest.update(f"{os.path.relpath(path, _PACKAGE)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.digest()


def catalog_key(sources: Iterable[tuple[str, bytes]], extra: bytes = b"") -> str:
    """The key of a catalog read from `sources` ((where, bytes) of every file read, in reading order)."""
    from adapter import __version__

    digest = hashlib.sha256(FORMAT)
    digest.update(f"\0{sys.version_info[0]}.{sys.version_info[1]}\0{__version__}\0".encode())
    digest.update(_code_fingerprint())
    for where, data in sources:
        digest.update(hashlib.sha256(where.encode()).digest() + hashlib.sha256(data).digest())
    digest.update(hashlib.sha256(extra).digest())
    return digest.hexdigest()


def cache_path(directory: Path, key: str, part: str = "plans") -> Path:
    return directory / f"catalog-{key[:32]}-{part}.pickle"


def load(directory: Path, key: str, part: str = "plans") -> Any | None:
    """The object stored under `key`, or None (absent, foreign, corrupt, not ours, or failing to unpickle)."""
    path = cache_path(directory, key, part)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None  # someone else could have written it: never unpickle it
            data = handle.read()
    except OSError:
        return None
    header = _MAGIC + key.encode() + b"\n"
    if not data.startswith(header) or len(data) < len(header) + 32:
        return None
    checksum, payload = data[len(header):len(header) + 32], data[len(header) + 32:]
    if hashlib.sha256(payload).digest() != checksum:
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # any failure to load means "no cache", never an error
        return None


def store(directory: Path, key: str, value: Any, part: str = "plans") -> bool:
    """Write `value` under `key` (atomically, 0600); False when it cannot be pickled or written."""
    from adapter.atomic import write_atomic

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    table = dict(copyreg.dispatch_table)  # re.Pattern and the like, as pickle does by default
    table[MappingProxyType] = lambda proxy: (_mapping_proxy, (dict(proxy),))
    pickler.dispatch_table = table
    try:
        pickler.dump(value)
    except Exception:  # an object that cannot be pickled only means no cache
        return False
    payload = buffer.getvalue()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_path(directory, key, part),
                     _MAGIC + key.encode() + b"\n" + hashlib.sha256(payload).digest() + payload, mode=0o600)
    except OSError:
        return False
    return True


# The objects a catalog's files compile to, the cache's way in and out.

_COMPILED = ("evidence_variable", "engine_options", "plan", "draft", "review_flags", "result_codes")
_DEFERRED = ("mapping", "concepts")  # pydantic models: in the second file


def compiled_catalog(folders: list[Traversable], cache_dir: Path, reference_ranges: ReferenceRangeTable | None,
                     load_catalog: LoadCatalog) -> TrialCatalog:
    """The catalog of `folders` from the cache when fresh; else loaded by `load_catalog` and, when every trial
    loads, kept in the cache. The catalog is the same either way (the tests compare every result)."""
    key = _catalog_key(folders, reference_ranges)
    if key is not None:
        cached = load(cache_dir, key)
        if isinstance(cached, dict) and cached.get("key") == key:
            return _warm_catalog(cached, cache_dir, reference_ranges, key, folders)
    catalog = load_catalog(folders, cache_dir, reference_ranges)
    if key is not None:
        _keep(catalog, cache_dir, key)
    return catalog


class DeferredLibrary:
    """The concept library and the mappings of a cached catalog, unpickled on first use (once per process); when
    their file is gone or spoilt, loaded from the catalog's files instead."""

    def __init__(self, directory: Path, key: str, folders: list[Traversable], load_catalog: LoadCatalog) -> None:
        self._directory, self._key, self._folders, self._load_catalog = directory, key, folders, load_catalog
        self._lock = threading.Lock()
        self._value: dict[str, Any] | None = None

    def __reduce__(self) -> tuple[Any, ...]:  # a warm trial pickled (e.g. to a worker): loaded there anew
        return (DeferredLibrary, (self._directory, self._key, self._folders, self._load_catalog))

    def library(self) -> dict[str, Any]:
        with self._lock:
            if self._value is None:
                found = load(self._directory, self._key, "library")
                if not (isinstance(found, dict) and found.get("key") == self._key):
                    catalog = self._load_catalog(self._folders, None, None)
                    found = {"concepts": catalog.concepts,
                             "mappings": {nct: catalog.get(nct).mapping for nct in catalog.ids}}
                self._value = found
            return self._value


class _CachedParse:
    """`ParsedYamlCache(cache_dir, parse_yaml)`, built on first use (`adapter.mapping` imports pydantic)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._parse: Callable[[str, str], Any] | None = None

    def __call__(self, text: str, source: str) -> Any:
        if self._parse is None:
            from adapter.mapping.loader import parse_yaml
            from adapter.mapping.parsed_cache import ParsedYamlCache

            self._parse = ParsedYamlCache(self._directory, parse_yaml)
        return self._parse(text, source)


def _warm_catalog(cached: dict[str, Any], cache_dir: Path, reference_ranges: ReferenceRangeTable | None, key: str,
                  folders: list[Traversable]) -> TrialCatalog:
    from adapter.catalog import Trial, TrialCatalog, _load_catalog

    deferred = DeferredLibrary(cache_dir, key, folders, _load_catalog)
    trials = {}
    for nct, fields in cached["trials"].items():
        trial = object.__new__(Trial)  # its fields as stored; `mapping` and `concepts` deferred
        trial.__dict__.update(fields, _deferred=deferred, _catalog_key=nct)
        trials[nct] = trial
    catalog = object.__new__(TrialCatalog)
    # The trials keep the (equal: it is in the key) table they were compiled with; the catalog the caller's.
    catalog.__dict__.update(units=cached["units"], sources=cached["sources"], reference_ranges=reference_ranges,
                            parse=_CachedParse(cache_dir), _loaded=trials,
                            _lock=threading.Lock(), _deferred=deferred)
    return catalog


def _keep(catalog: TrialCatalog, cache_dir: Path, key: str) -> None:
    """Load and compile every trial, and keep the catalog in the cache — only when all of them load: a trial in
    error is reported when it is used, as without a cache."""
    try:
        loaded = {nct: catalog.get(nct) for nct in catalog.ids}
        for trial in loaded.values():
            for name in _COMPILED:
                getattr(trial, name)
    except Exception:  # the error surfaces where the trial is used, unchanged
        return
    trials = {nct: {name: value for name, value in trial.__dict__.items() if name not in _DEFERRED}
              for nct, trial in loaded.items()}
    library = {"key": key, "concepts": catalog.concepts,
               "mappings": {nct: trial.mapping for nct, trial in loaded.items()}}
    # the library first: a plans file is only ever beside its library (else the library is read from files)
    if store(cache_dir, key, library, "library"):
        store(cache_dir, key, {"key": key, "units": catalog.units, "sources": catalog.sources, "trials": trials})


def _catalog_key(folders: list[Traversable], reference_ranges: ReferenceRangeTable | None) -> str | None:
    """The key of the compiled catalog of these folders: every file the catalog reads; None when a folder
    cannot be listed or a file read (the catalog is then loaded as without a cache, with its errors)."""
    read: list[tuple[str, bytes]] = []
    try:
        for folder in folders:
            for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
                name = entry.name
                if name.endswith((".yaml", ".json")) and name.startswith(("NCT", "concepts", "units")):
                    read.append((str(entry), entry.read_bytes()))
            read.append((str(folder), b"\0folder"))
        ranges = pickle.dumps(reference_ranges, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # unreadable or unpicklable: no cache; the ordinary path reports it
        return None
    return catalog_key(read, ranges)
