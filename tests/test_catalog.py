"""The trial catalog: bundled data read through importlib.resources, site folders overlaying it, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapter.catalog import bundled_mappings, load_catalog
from adapter.errors import MappingError, UnknownTrialError
from tests.support.trials import MAPPINGS

pytestmark: list[pytest.MarkDecorator] = []


def test_bundled_data_is_the_reviewed_folder() -> None:
    names = {entry.name for entry in bundled_mappings().iterdir()}
    assert {"concepts.yaml", "units.yaml"} <= names
    for entry in bundled_mappings().iterdir():
        if entry.name.endswith((".yaml", ".json")):
            assert entry.read_bytes() == (MAPPINGS / entry.name).read_bytes(), entry.name


def test_catalog_knows_the_seed_trials_and_loads_each_once() -> None:
    catalog = load_catalog()
    assert catalog.ids == ["NCT03320629", "NCT03787251"]
    trial = catalog.get("nct03787251")
    assert trial is catalog.get("NCT03787251")
    assert trial.nct_id == "NCT03787251" and not trial.recruiting and not trial.draft
    assert trial.units is catalog.units and trial.concepts is catalog.concepts
    assert trial.evidence_variable is trial.evidence_variable  # built once
    assert "NCT03787251" in catalog and "NCT00000000" not in catalog


def test_two_catalogs_share_nothing() -> None:
    assert load_catalog().get("NCT03787251") is not load_catalog().get("NCT03787251")


def test_unknown_trial_names_the_known_ones() -> None:
    with pytest.raises(UnknownTrialError, match=r"NCT00000000.*NCT03320629, NCT03787251"):
        load_catalog().get("NCT00000000")


def test_a_site_folder_overrides_a_bundled_trial(tmp_path: Path) -> None:
    shutil.copy(MAPPINGS / "NCT03787251.json", tmp_path)
    text = (MAPPINGS / "NCT03787251.yaml").read_text(encoding="utf-8")
    (tmp_path / "NCT03787251.yaml").write_text(text.replace("value: 90\n", "value: 95\n", 1), encoding="utf-8")
    catalog = load_catalog([tmp_path])
    assert catalog.ids == ["NCT03320629", "NCT03787251"]
    assert catalog.get("NCT03787251").source == str(tmp_path / "NCT03787251.yaml")
    hemoglobin = next(c for c in catalog.get("NCT03787251").mapping.criteria if c.id == "inc-hemoglobin")
    assert "95" in hemoglobin.model_dump_json()


def test_site_concepts_are_merged_over_the_bundled_ones(tmp_path: Path) -> None:
    (tmp_path / "concepts.yaml").write_text(
        "conditions:\n  site-only-concept:\n    display: Site concept\n    text: [site words]\n", encoding="utf-8")
    catalog = load_catalog([tmp_path])
    assert "site-only-concept" in catalog.concepts.conditions
    bundled = load_catalog().concepts
    assert set(bundled.conditions) | {"site-only-concept"} == set(catalog.concepts.conditions)
    assert catalog.concepts.observations == bundled.observations


@pytest.mark.parametrize(("setup", "message"), [
    (lambda d: None, "no trial mappings"),
    (lambda d: (d / "NCT01234567.yaml").write_text("trial: NCT01234567\n"), "no record NCT01234567.json"),
])
def test_unusable_catalogs_are_errors(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    for part in MAPPINGS.glob("concepts*.yaml"):
        shutil.copy(part, tmp_path)
    shutil.copy(MAPPINGS / "units.yaml", tmp_path)
    setup(tmp_path)
    with pytest.raises(MappingError, match=message):
        load_catalog([tmp_path], bundled=False)


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such directory"):
        load_catalog([tmp_path / "missing"])


def test_a_concept_defined_twice_in_one_folder_is_an_error(tmp_path: Path) -> None:
    for part in MAPPINGS.glob("concepts*.yaml"):
        shutil.copy(part, tmp_path)
    shutil.copy(MAPPINGS / "units.yaml", tmp_path)
    for name in ("NCT03787251.yaml", "NCT03787251.json"):
        shutil.copy(MAPPINGS / name, tmp_path)
    (tmp_path / "concepts-extra.yaml").write_text(
        "conditions:\n  hiv:\n    display: HIV again\n    text: [hiv]\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"conditions\.hiv is already defined"):
        load_catalog([tmp_path], bundled=False)


def test_codes_must_cite_a_known_source(tmp_path: Path) -> None:
    (tmp_path / "concepts.yaml").write_text(
        "conditions:\n  x:\n    display: X\n    codes:\n      - {system: http://snomed.info/sct, code: '1', "
        "source: nowhere}\n", encoding="utf-8")
    with pytest.raises(MappingError, match="unknown source 'nowhere'"):
        load_catalog([tmp_path])
