"""adapter.units.ucum: UCUM parsing, and that the heavy libraries are loaded only when needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapter.units import is_ucum
from adapter.units.ucum import ParseFacts, parse_facts, parse_tree

pytestmark: list[pytest.MarkDecorator] = []

ROOT = Path(__file__).resolve().parents[2]


def test_is_ucum():
    assert is_ucum("10*9/L") and is_ucum("mL/min/{1.73_m2}") and is_ucum("{INR}")
    assert not is_ucum("x10E3/uL") and not is_ucum("") and not is_ucum(" g/L")


def test_parse_facts_tokens_and_errors():
    facts = parse_facts("mg/dL")
    assert facts.valid and ("UNIT_METRIC", "g") in facts.tokens and ("PREFIX_SHORT", "m") in facts.tokens
    bad = parse_facts("x10E3/uL")
    assert not bad.valid and bad.error and bad.tokens == ()
    assert parse_facts(" g/L") == ParseFacts("empty or padded unit", ())
    assert parse_tree("g/L") is not None and parse_tree("furlongs") is None


def test_non_string_is_not_ucum():
    assert not is_ucum(None)  # type: ignore[arg-type]
    assert not is_ucum(["g/L"])  # type: ignore[arg-type]


def test_importing_the_package_loads_no_heavy_library():
    """pint, ucumvert, lark (~0.5 s) and yaml are imported on first need, not by `import adapter.units`."""
    code = (
        "import sys, adapter.units; print(sorted(m for m in ('pint', 'ucumvert', 'lark', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
