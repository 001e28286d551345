"""A drafted trial's FHIR (R5 and R4 Bundles) passes the official HL7 validator with zero errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.catalog import load_catalog
from adapter.cli import main
from adapter.fhir_build import build_bundle
from tests.support.fhir_validator import format_issues, validate_files
from tests.support.trials import MAPPINGS

pytestmark = [pytest.mark.validator, pytest.mark.java]


def test_drafted_trial_bundles_validate(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert main(["draft", "--record", str(MAPPINGS / "NCT03787251.json"), "--out", str(site)]) == 0
    trial = load_catalog([site]).get("NCT03787251")
    assert trial.draft
    results = []
    for version in ("R5", "R4"):
        path = tmp_path / f"draft-{version}.json"
        path.write_text(json.dumps(build_bundle(trial, version), ensure_ascii=False), encoding="utf-8")
        # one validator call per FHIR version (the helper runs one version per call)
        results += validate_files([path], version, definitions=[path])
    assert len(results) == 2
    assert all(not r.errors for r in results), format_issues(results)
