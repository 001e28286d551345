"""A drafted trial's FHIR resources say so in their status: R5 publication status `draft` on ResearchStudy,
EvidenceVariable, PlanDefinition and ActivityDefinitions; in R4 the same where the status is a publication status,
and a `draft` tag (publication-status code system) where it is not (ResearchStudy, whose status is the trial's
progress, and the enrollment Group, which has none). Reviewed trials carry none of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import load_catalog
from adapter.fhir_build import build_bundle
from adapter.fhir_build.r4 import DRAFT_TAG
from tests.render.drafted import NCT, drafted_site
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

DEFINITIONS = ("ResearchStudy", "EvidenceVariable", "PlanDefinition", "ActivityDefinition")
SHARED = ("CodeSystem", "StructureDefinition")  # the project's own, shared by every trial: never a draft


def _drafted_bundle(tmp_path: Path, version: str) -> list[dict[str, Any]]:
    catalog = load_catalog([drafted_site(tmp_path / "site")])
    return [e["resource"] for e in build_bundle(catalog.get(NCT), version)["entry"]]  # type: ignore[arg-type]


def test_r5_definitions_of_a_draft_are_draft(tmp_path: Path) -> None:
    resources = _drafted_bundle(tmp_path, "R5")
    statuses = {(r["resourceType"], r.get("status")) for r in resources}
    assert {kind for kind, status in statuses if status == "draft"} == set(DEFINITIONS)
    assert {status for kind, status in statuses if kind in SHARED} == {"active"}
    assert not any("meta" in r for r in resources)


def test_r4_says_draft_natively_where_it_can_and_by_tag_where_it_cannot(tmp_path: Path) -> None:
    resources = _drafted_bundle(tmp_path, "R4")
    by_type = {r["resourceType"]: r for r in resources}
    assert {r["resourceType"] for r in resources if r.get("status") == "draft"} == set(DEFINITIONS) - {"ResearchStudy"}
    study, group = by_type["ResearchStudy"], by_type["Group"]
    assert study["status"] == "withdrawn"  # R4 ResearchStudyStatus: the record's overallStatus, unchanged
    assert study["meta"] == {"tag": [DRAFT_TAG]} and group["meta"] == {"tag": [DRAFT_TAG]}
    keys = list(study)
    assert keys[0] == "resourceType" and keys.index("meta") < keys.index("text")  # FHIR's element order
    assert DRAFT_TAG == {"system": "http://hl7.org/fhir/publication-status", "code": "draft", "display": "Draft"}
    assert study["note"] == [{"text": "draft mapping, not clinically reviewed"}]


@pytest.mark.parametrize("version", ["R5", "R4"])
def test_reviewed_trials_carry_no_draft_mark(version: str) -> None:
    for nct in CATALOG.ids:
        text = json.dumps(build_bundle(CATALOG.get(nct), version))  # type: ignore[arg-type]
        assert '"draft"' not in text and "publication-status" not in text and '"meta"' not in text
