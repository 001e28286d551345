"""Compiled trials on the public Synthea bundles (../shared/realworld/synthea, read-only): the same results and
words as the reference interpreter, with and without facts narrowed to what the plans read."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.eligibility.plan_equivalence import check_patient

pytestmark = [pytest.mark.realworld]

SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "realworld" / "synthea"
BUNDLES = sorted(p for p in SYNTHEA.glob("*.json") if p.name != "SOURCES.json")


def test_the_synthea_bundles_are_there():
    assert len(BUNDLES) >= 19, f"the real-world data is read from {SYNTHEA}"


@pytest.mark.parametrize("path", BUNDLES, ids=[p.stem for p in BUNDLES])
def test_compiled_equals_interpreted_on_synthea(path):
    bundle = json.loads(path.read_text(encoding="utf-8"))
    if bundle.get("resourceType") != "Bundle":
        raise AssertionError(f"{path.name} is not a Bundle")
    left_out = check_patient(bundle, date(2026, 11, 1))
    assert left_out > 0  # Synthea records hold many results no criterion reads
