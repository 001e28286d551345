"""The compiled-catalog cache (adapter.catalog_cache): used when fresh, ignored when any file it was compiled from
changed or the cache file is spoilt, private to the user, and never changing a result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import adapter.catalog as catalog_module
from adapter import Eligibility, read_patient_file
from adapter.catalog import TrialCatalog, load_catalog
from adapter.errors import AdapterError, MappingError
from adapter.render.report import report_json
from tests.support.trials import MAPPINGS

pytestmark: list[pytest.MarkDecorator] = []

ROOT = Path(__file__).resolve().parents[1]
PATIENTS = sorted(p for p in (ROOT / "fixtures" / "patients").glob("p-*.json") if p.name != "p-not-fhir.json")
AS_OF = date(2026, 11, 1)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the catalogs loaded from their files (not from the cache)."""
    calls: list[int] = []
    original = catalog_module._load_catalog

    def counted(*args: Any) -> TrialCatalog:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(catalog_module, "_load_catalog", counted)
    return calls


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A copy of the bundled mappings, to change."""
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return folder


def _reports(catalog: TrialCatalog) -> list[Any]:
    eligibility = Eligibility(catalog)
    out = []
    for path in PATIENTS:
        try:
            results = eligibility.evaluate(read_patient_file(str(path)), as_of=AS_OF)
        except AdapterError as exc:  # the same error is expected either way
            out.append(f"{path.name}: {type(exc).__name__}: {exc}")
            continue
        out.append([report_json(result) for result in results])
    return out


def _cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("catalog-*.pickle"))


def test_a_fresh_cache_is_used_and_gives_the_same_results(tmp_path: Path, loads: list[int]) -> None:
    cache = tmp_path / "cache"
    without = _reports(load_catalog())
    cold = load_catalog(cache_dir=cache)
    assert len(loads) == 2 and len(_cache_files(cache)) == 2  # the plans, and the library beside them
    warm = load_catalog(cache_dir=cache)
    assert len(loads) == 2  # not loaded from the files again
    assert warm.ids == cold.ids
    assert _reports(warm) == without == _reports(cold)
    trial = warm.get("NCT03787251")
    # the deferred parts, loaded on first use, are the very library and mapping the catalog's trials share
    assert trial.concepts is warm.concepts and trial.mapping.criteria and trial.units is warm.units
    assert trial.title == cold.get("NCT03787251").title and trial.draft is False


def test_cache_files_are_private(tmp_path: Path) -> None:
    load_catalog(cache_dir=tmp_path)
    for path in _cache_files(tmp_path):
        assert path.stat().st_mode & 0o777 == 0o600, path


@pytest.mark.parametrize("change", ["concepts", "mapping", "record", "units"])
def test_a_changed_file_is_not_served_from_the_cache(site: Path, tmp_path: Path, loads: list[int],
                                                      change: str) -> None:
    cache = tmp_path / "cache"
    first = load_catalog([site], bundled=False, cache_dir=cache)
    record = json.loads((site / "NCT03787251.json").read_text(encoding="utf-8"))
    if change == "concepts":
        concepts = next(p for p in sorted(site.glob("concepts*.yaml")))
        concepts.write_text(concepts.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    elif change == "mapping":
        mapping = site / "NCT03787251.yaml"
        mapping.write_text(mapping.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    elif change == "record":
        record["protocolSection"]["identificationModule"]["briefTitle"] = "An edited title"
        (site / "NCT03787251.json").write_text(json.dumps(record), encoding="utf-8")
    else:
        units = site / "units.yaml"
        units.write_text(units.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    loads.clear()
    second = load_catalog([site], bundled=False, cache_dir=cache)
    assert loads == [1]  # read from the files
    if change == "record":
        assert second.get("NCT03787251").title == "An edited title" != first.get("NCT03787251").title
    # and the changed catalog is kept in turn: a third load is served from the cache
    loads.clear()
    load_catalog([site], bundled=False, cache_dir=cache)
    assert loads == []


def test_a_new_trial_without_record_fails_as_without_cache(site: Path, tmp_path: Path) -> None:
    load_catalog([site], bundled=False, cache_dir=tmp_path)
    shutil.copy(site / "NCT03787251.yaml", site / "NCT09999999.yaml")
    with pytest.raises(MappingError, match=r"no record NCT09999999\.json"):
        load_catalog([site], bundled=False, cache_dir=tmp_path)
    with pytest.raises(MappingError, match=r"no record NCT09999999\.json"):
        load_catalog([site], bundled=False)


@pytest.mark.parametrize("spoil", ["garbage", "truncated", "flipped byte", "empty", "group-writable"])
def test_a_spoilt_plans_file_is_ignored(tmp_path: Path, loads: list[int], spoil: str) -> None:
    load_catalog(cache_dir=tmp_path)
    plans = next(p for p in _cache_files(tmp_path) if p.name.endswith("-plans.pickle"))
    data = plans.read_bytes()
    if spoil == "garbage":
        plans.write_bytes(b"\x80\x05not a pickle at all")
    elif spoil == "truncated":
        plans.write_bytes(data[: len(data) // 2])
    elif spoil == "flipped byte":
        plans.write_bytes(data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:])
    elif spoil == "empty":
        plans.write_bytes(b"")
    else:
        os.chmod(plans, 0o620)  # someone else could have written it: a pickle is code, never loaded
    loads.clear()
    catalog = load_catalog(cache_dir=tmp_path)
    assert loads == [1]
    assert _reports(catalog)[:3] == _reports(load_catalog())[:3]


def test_a_spoilt_library_file_is_read_from_the_mappings(tmp_path: Path, loads: list[int]) -> None:
    load_catalog(cache_dir=tmp_path)
    library = next(p for p in _cache_files(tmp_path) if p.name.endswith("-library.pickle"))
    library.write_bytes(b"spoilt")
    loads.clear()
    warm = load_catalog(cache_dir=tmp_path)
    assert loads == []  # the plans are fine
    trial = warm.get("NCT03787251")
    reference = load_catalog().get("NCT03787251")
    assert trial.mapping == reference.mapping and trial.concepts == reference.concepts
    assert trial.concepts is warm.concepts


def test_a_foreign_cache_file_under_the_right_name_is_ignored(tmp_path: Path, loads: list[int]) -> None:
    """A file whose header names another key (another catalog's file renamed) is not this catalog's."""
    other = tmp_path / "other"
    site = tmp_path / "site"
    shutil.copytree(MAPPINGS, site, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    load_catalog(cache_dir=tmp_path)
    load_catalog([site], bundled=False, cache_dir=other)
    ours = next(p for p in _cache_files(tmp_path) if p.name.endswith("-plans.pickle"))
    theirs = next(p for p in _cache_files(other) if p.name.endswith("-plans.pickle"))
    shutil.copy(theirs, ours)
    loads.clear()
    load_catalog(cache_dir=tmp_path)
    assert loads == [1]


def test_a_warm_process_evaluates_without_pydantic(tmp_path: Path) -> None:
    """The point of the cache: a process that only evaluates imports neither the YAML reader nor pydantic."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from datetime import date\n"
        "from adapter.catalog import load_catalog\n"
        "from adapter.core import Eligibility\n"
        "from adapter.patients import read_patient_file\n"
        f"catalog = load_catalog(cache_dir=Path({str(tmp_path)!r}))\n"
        f"result = Eligibility(catalog).evaluate(read_patient_file({str(PATIENTS[0])!r}), as_of=date(2026, 11, 1))\n"
        "print(sorted(result.verdicts.items()))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'yaml')))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
            for _ in range(2)]
    cold, warm = (run.stdout.splitlines() for run in runs)
    assert cold[0] == warm[0]
    assert cold[1] != "[]"  # the cold process read the files
    assert warm[1] == "[]", warm[1]


def test_another_version_of_the_code_does_not_load_the_cache(tmp_path: Path, loads: list[int],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Pickled objects are instances of the package's classes: an edited checkout compiles anew."""
    import adapter.catalog_cache as catalog_cache

    load_catalog(cache_dir=tmp_path)
    monkeypatch.setattr(catalog_cache, "_code_fingerprint", lambda: b"an edited module")
    loads.clear()
    load_catalog(cache_dir=tmp_path)
    assert loads == [1]



def test_the_deferred_library_can_be_pickled_and_loads_after(tmp_path: Path) -> None:
    """(a warm catalog's handle on its library, e.g. sent to a worker, loads it there)"""
    import pickle

    load_catalog(cache_dir=tmp_path)
    deferred = load_catalog(cache_dir=tmp_path).__dict__["_deferred"]
    copy = pickle.loads(pickle.dumps(deferred))
    assert copy is not deferred
    assert copy.library()["mappings"]["NCT03320629"] == load_catalog().get("NCT03320629").mapping
