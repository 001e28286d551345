"""benchmarks/synthea_export.py: the Synthea bundles of ../shared/realworld as an export folder, screened with the
same verdicts and criterion results as `trial-adapter evaluate` gives for each bundle."""

from __future__ import annotations

import importlib.util
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import TrialCatalog
from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.render.report import report_json
from adapter.screening.patient import JobRecipe
from adapter.screening.run import ScreenRequest, screen
from tests.support.bulk_export import read_ndjson

pytestmark = [pytest.mark.realworld]

ROOT = Path(__file__).resolve().parents[2]
REALWORLD = ROOT.parent / "shared" / "realworld" / "synthea"
AS_OF = date(2020, 3, 1)


def _converter() -> Any:
    spec = importlib.util.spec_from_file_location("synthea_export", ROOT / "benchmarks" / "synthea_export.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthea_bundles_screen_as_they_evaluate(tmp_path: Path, catalog: TrialCatalog) -> None:
    converter = _converter()
    bundles = sorted(p for p in REALWORLD.glob("*.json") if p.name != "SOURCES.json")
    assert converter.write_export(bundles, tmp_path / "export") == len(bundles) == 19
    exported = read_ndjson(tmp_path / "export" / "Condition.ndjson")
    assert all(c["subject"]["reference"].startswith("Patient/") for c in exported)  # no urn:uuid left
    request = ScreenRequest(source=tmp_path / "export", out=tmp_path / "out", recipe=JobRecipe((), (), AS_OF),
                            engine="local", workers=1, memory_limit="512MB")
    screen(request, catalog.all())
    results = {(line["patient"], line["trial"]): line for line in read_ndjson(tmp_path / "out" / "results.ndjson")}
    assert read_ndjson(tmp_path / "out" / "errors.ndjson") == []
    for path in bundles:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        facts = facts_from_bundle(bundle, catalog.units)
        patient_id = facts.patient_ref.rsplit("/", 1)[-1].split(":")[-1]
        for trial in catalog.all():
            report = report_json(evaluate_trial(trial, facts, AS_OF))
            line = results[(f"Patient/{patient_id}", trial.nct_id)]
            assert (line["verdict"], line["failed"]) == (
                report["verdict"], [c["id"] for c in report["criteria"] if c["result"] == "fail"]), path.name


def test_copies_get_new_ids_and_keep_their_references(tmp_path: Path) -> None:
    converter = _converter()
    bundle = next(p for p in sorted(REALWORLD.glob("*.json")) if "bundle" in p.name)
    assert converter.write_export([bundle], tmp_path, copies=3) == 3
    patients = {p["id"] for p in read_ndjson(tmp_path / "Patient.ndjson")}
    assert len(patients) == 3
    observations = read_ndjson(tmp_path / "Observation.ndjson")
    assert {o["subject"]["reference"].split("/", 1)[1] for o in observations} == patients
