"""Lines no selected trial reads are dropped before Python parses them — and the results do not change: a
Synthea-shaped export (the realworld Synthea bundles, references as `Type/id`) screens to the same
results.ndjson and errors.ndjson with the drop on and off, and the drop does leave most Observations out."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import TrialCatalog
from adapter.core import Eligibility
from adapter.screening import selection
from adapter.screening.patient import JobRecipe, PatientLines, ScreeningJob, screen_patient
from adapter.screening.run import ScreenRequest, screen
from adapter.screening.selection import Selection, selection_for

pytestmark = [pytest.mark.realworld]

ROOT = Path(__file__).resolve().parents[2]
REALWORLD = ROOT.parent / "shared" / "realworld" / "synthea"
AS_OF = date(2020, 3, 1)


def _export(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location("synthea_export", ROOT / "benchmarks" / "synthea_export.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bundles = sorted(p for p in REALWORLD.glob("*.json") if p.name != "SOURCES.json")
    assert module.write_export(bundles, folder) == len(bundles) > 0
    return folder


def _screen(export: Path, out: Path, catalog: TrialCatalog, workers: int) -> tuple[bytes, bytes]:
    request = ScreenRequest(source=export, out=out, recipe=JobRecipe((), (), AS_OF), engine="local",
                            workers=workers, memory_limit="512MB")
    screen(request, catalog.all())
    return (out / "results.ndjson").read_bytes(), (out / "errors.ndjson").read_bytes()


def test_a_synthea_export_screens_the_same_with_and_without_the_drop(
        tmp_path: Path, catalog: TrialCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    export = _export(tmp_path / "export")
    dropped = _screen(export, tmp_path / "dropped", catalog, workers=2)
    monkeypatch.setattr(selection, "DROP_UNREAD", False)
    kept = _screen(export, tmp_path / "kept", catalog, workers=1)
    assert dropped[0] == kept[0] and dropped[0].count(b"\n") > 0
    assert dropped[1] == kept[1]


def test_the_drop_leaves_out_most_synthea_observations(tmp_path: Path, catalog: TrialCatalog) -> None:
    export = _export(tmp_path / "export")
    chosen = selection_for(catalog.all())
    lines = (export / "Observation.ndjson").read_bytes().splitlines()
    kept = [line for line in lines if chosen.keeps_observation(line)]
    assert 0 < len(kept) < len(lines) // 2  # the results the trials read, not the vitals of every encounter


def test_a_code_is_kept_only_whole_and_an_escape_keeps_the_line() -> None:
    chosen = Selection(frozenset({"718-7"}))
    assert chosen.keeps_observation(b'{"code": {"coding": [{"code": "718-7"}]}}')
    assert not chosen.keeps_observation(b'{"code": {"coding": [{"code": "718-70"}]}}')
    assert chosen.keeps_observation(b'{"code": {"coding": [{"code": "718\\u002d7"}]}}')
    assert Selection(frozenset({"a code"})).observation_pattern() is None  # kept whole rather than guessed
    assert Selection(None).keeps_observation(b"{}")


def _patient(pid: str) -> bytes:
    return b'{"resourceType": "Patient", "id": "%s", "birthDate": "1970-01-01"}' % pid.encode()


def test_the_record_size_counts_the_dropped_lines(catalog: TrialCatalog) -> None:
    job = ScreeningJob(Eligibility(catalog), tuple(catalog.all()), AS_OF, max_resources=3)
    over = screen_patient(job, "p1", PatientLines([_patient("p1")], total=4))
    assert over.error is not None and over.error["resources"] == 4 and "has 4 resources, limit 3" in str(over.error)
    under = screen_patient(job, "p1", PatientLines([_patient("p1")], total=3))
    assert under.error is None and len(under.results) == len(catalog.all())
    unreadable: Any = screen_patient(job, "p1", PatientLines(["\x00unreadable\x00f:1", _patient("p1")], total=9))
    assert unreadable.error["resources"] == 9
    unknown: Any = screen_patient(job, "px", PatientLines([], total=3))  # only dropped lines, no Patient
    assert unknown.error["kind"] == "unknown-patient" and unknown.error["resources"] == 3
    assert "3 resources refer to Patient/px" in unknown.error["reason"]
