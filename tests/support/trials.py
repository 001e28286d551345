"""The repository's paths and the bundled trial catalog, loaded once for the whole test session."""

from __future__ import annotations

from pathlib import Path

from adapter.catalog import TrialCatalog, load_catalog

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
PATIENTS = ROOT / "fixtures" / "patients"

CATALOG: TrialCatalog = load_catalog()
TRIAL_IDS: list[str] = CATALOG.ids
