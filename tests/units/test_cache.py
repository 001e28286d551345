"""adapter.units.cache: a seeded cache gives exactly what a fresh computation gives, and a bad one is ignored."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapter.errors import UnitConversionError
from adapter.units import (
    UCUM_SYSTEM,
    UnitTable,
    conversion_cache_snapshot,
    convert,
    load_units_table,
    seed_conversion_cache,
    ucum,
)
from adapter.units import cache as cache_module

pytestmark: list[pytest.MarkDecorator] = []

# the package attribute `convert` is the function; the module is reached by its full name
convert_module = importlib.import_module("adapter.units.convert")

ROOT = Path(__file__).resolve().parents[2]
UNITS_YAML = ROOT / "mappings" / "units.yaml"

CONVERSIONS = [  # (value, from, to, molar mass g/mol)
    ("150000", "/uL", "10*9/L", None),
    ("165.32502210572153", "10*3/uL", "10*9/L", None),
    ("9.0", "g/dL", "g/L", None),
    ("0.9", "mg/dL", "umol/L", "113.12"),
    ("88.4", "umol/L", "mg/dL", "113.12"),
    ("90", "g/L", "mmol/L", "16110"),
    ("37", "Cel", "[degF]", None),
    ("98.6", "[degF]", "Cel", None),
    ("120", "mm[Hg]", "kPa", None),
    ("1.2", "{INR}", "1", None),
    ("60", "mL/min/{1.73_m2}", "mL/s/{1.73_m2}", None),
    ("1", "g/L", "10*9/L", None),  # refused: not commensurable
    ("1", "mg/dL", "umol/L", None),  # refused: no molar mass
    ("1", "furlongs", "g/L", None),  # refused: not UCUM
    ("5", "[IU]/L", "U/L", None),  # refused: arbitrary unit
]
QUANTITIES = [  # (code, unit text, system) as in FHIR Quantities
    ("10*9/L", "10*9/L", UCUM_SYSTEM),
    (None, "x10E3/uL", None),
    (None, "µg/L", None),
    (None, "ML", None),
    (None, "7", None),
    ("mg/dL ", "mg/dL", UCUM_SYSTEM),
    ("xyz", "xyz", UCUM_SYSTEM),
    ("258814008", "umol/L", "http://snomed.info/sct"),
]


def outcomes(table: UnitTable) -> list[str]:
    """Every result spelt out exactly (str and Decimal tuple), refusals by their message."""
    seen = []
    for value, from_unit, to_unit, mass in CONVERSIONS:
        try:
            result = convert(Decimal(value), from_unit, to_unit, molar_mass=Decimal(mass) if mass else None)
        except UnitConversionError as exc:
            seen.append(f"error {exc}")
        else:
            seen.append(f"{result} {result.as_tuple()}")
    seen.extend(repr(table.normalize(*quantity)) for quantity in QUANTITIES)
    return seen


@pytest.fixture
def empty_memos(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start with nothing memoised, as a new process does (the lark/pint objects stay built: faster)."""
    monkeypatch.setattr(ucum, "_facts", {})
    monkeypatch.setattr(convert_module, "_conversions", {})


def fresh_table() -> UnitTable:
    return load_units_table(UNITS_YAML)  # its own normalisation memo is empty


@pytest.fixture
def computed(empty_memos: None) -> tuple[list[str], str]:
    """(outcomes of a fresh computation, the snapshot it leaves)."""
    return outcomes(fresh_table()), conversion_cache_snapshot()


def _forbid(*_: Any) -> Any:
    raise AssertionError("computed although the cache was seeded")


def test_seeded_cache_gives_byte_identical_results(computed, monkeypatch):
    expected, text = computed
    monkeypatch.setattr(ucum, "_facts", {})
    monkeypatch.setattr(convert_module, "_conversions", {})
    assert seed_conversion_cache(text)
    # nothing may be parsed or computed again: every answer comes from the seeded entries
    monkeypatch.setattr(ucum, "_parse", _forbid)
    monkeypatch.setattr(convert_module, "_compute", _forbid)
    assert outcomes(fresh_table()) == expected
    assert conversion_cache_snapshot() == text  # deterministic: equal text means nothing new


def test_cold_process_seeded_from_file_loads_no_ucum_library(computed, tmp_path):
    expected, text = computed
    cache_file = tmp_path / "units-cache.json"
    cache_file.write_text(text, encoding="utf-8")
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from adapter.units import seed_conversion_cache
from tests.units.test_cache import fresh_table, outcomes
seeded = seed_conversion_cache(Path({str(cache_file)!r}).read_bytes())
result = outcomes(fresh_table())
print(json.dumps([seeded, result, sorted(m for m in ("pint", "ucumvert", "lark") if m in sys.modules)]))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    seeded, result, loaded = json.loads(out.stdout)
    assert seeded is True
    assert result == expected
    assert loaded == []


def test_snapshot_is_json_with_the_entries(computed):
    _, text = computed
    document = json.loads(text)
    assert document["format"] == cache_module.FORMAT
    assert document["parses"]["xyz"][0]  # an invalid unit is remembered with its error
    assert ["mg/dL", "umol/L", "113.12", {"factor": "88.4016973125884", "offset": "0"}] in document["conversions"]


def _resign(document: dict[str, Any]) -> str:
    """A document with a valid checksum for what it holds, to test the checks behind the checksum."""
    document = dict(document)
    document["checksum"] = cache_module._checksum(document["fingerprint"], document["parses"], document["conversions"])
    return json.dumps(document)


def _first_factor(document: dict[str, Any], new: str) -> dict[str, Any]:
    for entry in document["conversions"]:
        if "factor" in entry[3]:
            entry[3]["factor"] = new
            return document
    raise AssertionError("no factor")


def _with(key: str, value: Any) -> Callable[[dict[str, Any]], str]:
    return lambda doc: _resign({**doc, key: value})


MUTATIONS: dict[str, Callable[[str, dict[str, Any]], str | bytes]] = {
    "empty": lambda text, doc: b"",
    "not utf-8": lambda text, doc: b"\xff\xfe\x00",
    "truncated": lambda text, doc: text[: len(text) // 2],
    "deeply nested": lambda text, doc: "[" * 100_000,
    "null": lambda text, doc: "null",
    "a list": lambda text, doc: "[]",
    "a digit changed": lambda text, doc: json.dumps(_first_factor(doc, doc_factor(doc) + "1")),
    "no checksum": lambda text, doc: json.dumps({k: v for k, v in doc.items() if k != "checksum"}),
    "extra key": lambda text, doc: json.dumps({**doc, "note": "x"}),
    "another format": lambda text, doc: _with("format", "trial-fhir-adapter/units-cache/0")(doc),
    "other libraries or code": lambda text, doc: _with("fingerprint", "0" * 64)(doc),
    "padded number": lambda text, doc: _resign(_first_factor(doc, " 1.5")),
    "underscored number": lambda text, doc: _resign(_first_factor(doc, "1_5")),
    "infinite factor": lambda text, doc: _resign(_first_factor(doc, "Infinity")),
    "NaN factor": lambda text, doc: _resign(_first_factor(doc, "NaN")),
    "number as float": lambda text, doc: _resign(_first_factor(doc, 1.5)),  # type: ignore[arg-type]
    "bad molar mass": lambda text, doc: _with(
        "conversions", [["g/L", "mmol/L", "1_6110", {"factor": "1", "offset": "0"}]]
    )(doc),
    "unit not a string": lambda text, doc: _with("conversions", [[1, "g/L", "", {"factor": "1", "offset": "0"}]])(doc),
    "result half there": lambda text, doc: _with("conversions", [["g/L", "g/dL", "", {"factor": "1"}]])(doc),
    "short entry": lambda text, doc: _with("conversions", [["g/L", "g/dL", ""]])(doc),
    "conversions a dict": lambda text, doc: _with("conversions", {"g/L": "g/dL"})(doc),
    "valid without tokens": lambda text, doc: _with("parses", {"g/L": [None, []]})(doc),
    "invalid with tokens": lambda text, doc: _with("parses", {"g/L": ["bad", [["UNIT_METRIC", "g"]]]})(doc),
    "token not a pair": lambda text, doc: _with("parses", {"g/L": [None, [["UNIT_METRIC"]]]})(doc),
    "too many entries": lambda text, doc: _with(
        "parses", {f"{i}/L": [None, [["FACTOR", str(i)]]] for i in range(5000)}
    )(doc),
}


def doc_factor(document: dict[str, Any]) -> str:
    return next(entry[3]["factor"] for entry in document["conversions"] if "factor" in entry[3])


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_corrupt_or_foreign_cache_is_ignored(computed, monkeypatch, mutation):
    _, text = computed
    data = MUTATIONS[mutation](text, json.loads(text))
    monkeypatch.setattr(ucum, "_facts", {})
    monkeypatch.setattr(convert_module, "_conversions", {})
    assert seed_conversion_cache(data) is False
    assert ucum.known_facts() == {} and convert_module.known_conversions() == {}  # all or nothing


def test_seeding_keeps_what_this_process_computed(empty_memos):
    assert convert(Decimal("9.0"), "g/dL", "g/L") == Decimal("90")
    document = json.loads(conversion_cache_snapshot())
    document["conversions"] = [["g/dL", "g/L", "", {"factor": "11", "offset": "0"}]]
    assert seed_conversion_cache(_resign(document))
    assert convert(Decimal("9.0"), "g/dL", "g/L") == Decimal("90")


def test_cache_is_off_when_versions_cannot_be_told(computed, monkeypatch):
    _, text = computed
    monkeypatch.setattr(cache_module, "_fingerprint", lambda: None)
    assert conversion_cache_snapshot() == ""
    assert seed_conversion_cache(text) is False


def test_fingerprint_names_library_versions(monkeypatch):
    assert cache_module._distribution("pint").startswith("pint-")
    assert cache_module._distribution("ucumvert").startswith("ucumvert-")
    assert cache_module._distribution("no_such_library_here") is None
    current = cache_module._fingerprint.__wrapped__()
    assert current == cache_module._fingerprint()
    monkeypatch.setattr(cache_module, "_distribution", lambda name: f"{name}-99.0")
    assert cache_module._fingerprint.__wrapped__() not in (None, current)
