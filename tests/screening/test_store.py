"""The screening store: a re-screen from it equals a fresh screen line for line, and evaluates only what changed
(a patient's data, a trial's mapping, the as-of date); a new export replaces the population (a patient not in it
leaves with a note); every run writes its run record."""

from __future__ import annotations

import json
import shutil
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapter.catalog import TrialCatalog, load_catalog
from adapter.screening.patient import JobRecipe
from adapter.screening.run import ScreenRequest, screen
from adapter.screening.store import DATABASE
from tests.support.bulk_export import fixture_resources, write_export

pytestmark: list[pytest.MarkDecorator] = []

AS_OF = date(2026, 11, 1)
COMPARED = ("results.ndjson", "errors.ndjson", "worklist.csv", "attrition.csv", "Group-NCT03787251.json",
            "Group-NCT03320629.json")
CHANGED = "p-eligible-si-units"
REMOVED = "p-missing-platelets"


def _resources(names: list[str] | None = None) -> list[dict[str, Any]]:
    unique: dict[str, dict[str, Any]] = {}
    for resource in fixture_resources(names):
        if resource["resourceType"] != "Bundle":  # a twin Patient would be an input error: one of each
            unique.setdefault(f"{resource['resourceType']}/{resource.get('id')}", resource)
    return list(unique.values())


def _screen(out: Path, trials: list[Any], recipe: JobRecipe, *, source: Path | None = None,
            store: Path | None = None) -> dict[str, Any]:
    screen(ScreenRequest(source=source, out=out, recipe=recipe, workers=1, store=store), trials)
    record: dict[str, Any] = json.loads((out / "run.json").read_text())
    return record


def _same_outputs(a: Path, b: Path) -> None:
    for name in COMPARED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "results.ndjson").read_text().count("\n") > 40


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_export(directory, _resources(), files_per_type=2, extra_lines={"Observation.9.ndjson": ["not JSON"]})
    return directory


def test_a_rescreen_from_the_store_equals_a_fresh_screen(tmp_path: Path, export: Path,
                                                         catalog: TrialCatalog) -> None:
    recipe = JobRecipe((), (), AS_OF)
    trials = catalog.all()
    fresh = _screen(tmp_path / "fresh", trials, recipe, source=export)
    loaded = _screen(tmp_path / "loaded", trials, recipe, source=export, store=tmp_path / "store")
    again = _screen(tmp_path / "again", trials, recipe, store=tmp_path / "store")
    _same_outputs(tmp_path / "fresh", tmp_path / "loaded")
    _same_outputs(tmp_path / "fresh", tmp_path / "again")  # no export: the store alone
    patients = loaded["counts"]["store_patients"]
    assert loaded["counts"]["patients_evaluated"] == patients > 40
    assert again["counts"]["patients_evaluated"] == 0 and again["counts"]["patients_reused"] == patients
    assert again["inputs"]["kind"] == "store" and again["inputs"]["source"] is None
    assert fresh["counts"]["errors_by_kind"] == again["counts"]["errors_by_kind"] != {}  # the bad line, replayed
    assert [t["hash"] for t in fresh["trials"]] == [t["hash"] for t in again["trials"]]
    assert set(loaded["durations_s"]) >= {"load", "screen", "outputs", "total"}
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "store" / DATABASE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "again" / "run.json").stat().st_mode) == 0o600

    # Another as-of date: every trial's hash changes, everyone is evaluated again, as a fresh screen would.
    later = JobRecipe((), (), date(2027, 6, 1))
    _screen(tmp_path / "fresh-later", trials, later, source=export)
    moved = _screen(tmp_path / "later", trials, later, store=tmp_path / "store")
    assert moved["counts"]["patients_evaluated"] == patients
    _same_outputs(tmp_path / "fresh-later", tmp_path / "later")


def test_a_changed_mapping_reevaluates_only_that_trial(tmp_path: Path, export: Path,
                                                       catalog: TrialCatalog) -> None:
    store = tmp_path / "store"
    _screen(tmp_path / "first", catalog.all(), JobRecipe((), (), AS_OF), source=export, store=store)
    site = tmp_path / "site"
    site.mkdir()
    bundled = Path(__file__).parents[2] / "adapter" / "mappings"
    shutil.copy(bundled / "NCT03787251.json", site)
    mapping = (bundled / "NCT03787251.yaml").read_text()
    assert "        value: 90\n" in mapping
    (site / "NCT03787251.yaml").write_text(mapping.replace("        value: 90\n", "        value: 95\n", 1))
    recipe = JobRecipe((str(site),), (), AS_OF)
    trials = load_catalog([str(site)]).all()
    fresh = _screen(tmp_path / "fresh", trials, recipe, source=export)
    record = _screen(tmp_path / "again", trials, recipe, store=store)
    _same_outputs(tmp_path / "fresh", tmp_path / "again")
    patients = record["counts"]["store_patients"]
    errors = record["counts"]["errors_by_kind"].get("unknown-patient", 0)  # screened, never a result
    assert record["counts"]["patients_evaluated"] == patients
    assert record["counts"]["results_evaluated"] == patients - errors  # one trial each: NCT03320629 reused
    assert [t["hash"] for t in fresh["trials"]] == [t["hash"] for t in record["trials"]]


def test_a_new_export_replaces_the_population(tmp_path: Path, export: Path, catalog: TrialCatalog) -> None:
    recipe = JobRecipe((), (), AS_OF)
    store = tmp_path / "store"
    _screen(tmp_path / "first", catalog.all(), recipe, source=export, store=store)
    resources = [r for r in _resources() if REMOVED not in json.dumps(r)]
    resources.append({"resourceType": "Condition", "id": "new-hiv", "subject": {"reference": f"Patient/{CHANGED}"},
                      "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                               "condition-clinical", "code": "active"}]},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "86406008"}]}})
    changed = tmp_path / "export2"
    write_export(changed, resources, files_per_type=3, seed=7,
                 extra_lines={"Observation.9.ndjson": ["not JSON"]})
    _screen(tmp_path / "fresh", catalog.all(), recipe, source=changed)
    record = _screen(tmp_path / "update", catalog.all(), recipe, source=changed, store=store)
    _same_outputs(tmp_path / "fresh", tmp_path / "update")
    assert record["counts"]["store"]["changed"] == 1 and record["counts"]["store"]["new"] == 0
    assert record["counts"]["store"]["removed_patients"] == 1
    assert record["counts"]["patients_evaluated"] == 1  # the one whose record changed; file layout is not data
    assert any(f"Patient/{REMOVED}" in note for note in record["notes"])
    results = (tmp_path / "update" / "results.ndjson").read_text()
    assert f"Patient/{REMOVED}\"" not in results
    hiv = [json.loads(line) for line in results.splitlines() if f"Patient/{CHANGED}\"" in line]
    assert any("exc-immunodeficiency" in line["failed"] for line in hiv)  # the new Condition was read


def test_resources_deleted_since_send_their_patients_to_be_read_again(tmp_path: Path, export: Path,
                                                                      catalog: TrialCatalog) -> None:
    """What an update does with the server's deletions: a deleted resource names the patient whose stored record
    held it (read again), a deleted Medication every patient it was joined to, a Patient itself."""
    from adapter.screening.store import ScreeningStore

    _screen(tmp_path / "first", catalog.all(), JobRecipe((), (), AS_OF), source=export, store=tmp_path / "store")
    with ScreeningStore.open(tmp_path / "store", create=False) as store:
        condition = next(r for r in _resources([CHANGED]) if r["resourceType"] == "Condition")
        assert store.patients_of([f"Condition/{condition['id']}"]) == [CHANGED]
        assert store.patients_of(["Patient/someone-else", "Condition/not-stored"]) == ["someone-else"]
        assert store.present(["someone-else", CHANGED]) == [CHANGED]
        store.mark_pending({CHANGED: "could not be read"})
        assert store.present([CHANGED]) == [] and store.pending() == {CHANGED: "could not be read"}


@pytest.mark.parametrize(("done", "total", "elapsed", "expected"), [
    (500, 10_000, 2.0, ("250 patients/s", "0:38 left")),
    (10, 100_000, 1.0, ("10 patients/s", "2:46:39 left")),
    (3, 4, 2.0, ("1.5 patients/s", "0:01 left")),
    (5, None, 2.0, ("2.5 patients/s", "")),  # no total: no time left guessed
    (0, 100, 1.0, ("", "")),
])
def test_progress_shows_patients_per_second_and_the_time_left(done: int, total: int | None, elapsed: float,
                                                              expected: tuple[str, str]) -> None:
    from adapter.screening.progress import rate_and_time_left

    assert rate_and_time_left(done, total, elapsed, "patients") == expected


def test_a_trial_added_later_reads_what_the_first_trials_did_not(tmp_path: Path, export: Path,
                                                                 catalog: TrialCatalog) -> None:
    """The store keeps every line, not only those the loading run's trials read (the engine leaves out the
    Observations no selected trial reads): a trial screened later from the store still finds its results."""
    first = catalog.select(["NCT03320629"])
    _screen(tmp_path / "first", first, JobRecipe((), ("NCT03320629",), AS_OF), source=export,
            store=tmp_path / "store")
    recipe = JobRecipe((), (), AS_OF)
    _screen(tmp_path / "fresh", catalog.all(), recipe, source=export)
    record = _screen(tmp_path / "both", catalog.all(), recipe, store=tmp_path / "store")
    _same_outputs(tmp_path / "fresh", tmp_path / "both")
    errors = record["counts"]["errors_by_kind"].get("unknown-patient", 0)
    assert record["counts"]["results_evaluated"] == record["counts"]["store_patients"] - errors  # the new trial only
