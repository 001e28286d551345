"""A drafted trial's Bundles (R5 and R4: status `draft`, R4's draft tag and note) pass the official HL7 validator
with zero errors; and R4's ResearchStudy.status could not have said `draft` (the validator refuses it), which is why
R4 carries a tag there."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import load_catalog
from adapter.fhir_build import build_bundle
from tests.render.drafted import NCT, drafted_site
from tests.support.fhir_validator import format_issues, validate_files

pytestmark = [pytest.mark.validator, pytest.mark.java]


def _write(path: Path, resource: dict[str, Any]) -> Path:
    path.write_text(json.dumps(resource, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@pytest.mark.parametrize("version", ["R5", "R4"])
def test_a_drafted_trial_bundle_is_valid(tmp_path: Path, version: str) -> None:
    bundle = build_bundle(load_catalog([drafted_site(tmp_path / "site")]).get(NCT), version)  # type: ignore[arg-type]
    path = _write(tmp_path / f"{NCT}-draft-{version}.json", bundle)
    files = [path]
    if version == "R4":  # the same Bundle with `draft` as R4 ResearchStudy.status: not in its value set
        broken = copy.deepcopy(bundle)
        study = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "ResearchStudy")
        study["status"] = "draft"
        files.append(_write(tmp_path / "broken-r4-study-status-draft.json", broken))
    results = validate_files(files, version, definitions=[path])
    assert results[0].ok, format_issues(results[:1])
    about_draft = [i for i in results[0].warnings if "publication-status" in i.message or ".meta" in i.location]
    assert about_draft == [], format_issues(results[:1], ("warning",))
    if version == "R4":
        assert not results[1].ok and any("draft" in i.message for i in results[1].errors), format_issues(results[1:])
