"""A screening store kept up to date from a real HAPI FHIR R4 server: the next `screen --server --store` exports
only what changed since the store's last export and applies deletions — HAPI's `_since` export lists none, so
they come from the server's history. A Condition deleted since (the only change of its patient) no longer
excludes; a deleted Patient leaves the results with a note; the results equal a fresh full screen's.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from adapter.fhir import FhirClient
from tests.screening.test_screen_hapi import _load_with_group, _renamed
from tests.support.bulk_export import fixture_resources, read_ndjson

pytestmark = [pytest.mark.hapi, pytest.mark.java]

AS_OF = "2026-11-01"
TRIAL = "NCT03787251"
HIV_EXCLUSION = "exc-immunodeficiency"


def _screen(capsys: Any, base_url: str, group: str, out: Path, *extra: str) -> dict[str, Any]:
    code = main(["screen", "--server", base_url, "--group", group, "--trial", TRIAL, "--as-of", AS_OF,
                 "--workers", "1", "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    record: dict[str, Any] = json.loads((out / "run.json").read_text())
    record["stderr"] = captured.err
    return record


def _results(out: Path) -> dict[str, dict[str, Any]]:
    return {line["patient"]: line for line in read_ndjson(out / "results.ndjson")}


def test_since_applies_deletions_to_the_store(hapi_r4: Any, tmp_path: Path, capsys: Any) -> None:
    prefix = f"d{uuid.uuid4().hex[:8]}-"
    resources = _renamed(fixture_resources(["p-hiv", "p-eligible-si-units", "p-eligible-us-units"]), prefix)
    group = _load_with_group(hapi_r4.base_url, resources, prefix)
    hiv, gone, kept = (f"{prefix}{p}" for p in ("p-hiv", "p-eligible-us-units", "p-eligible-si-units"))
    store = tmp_path / "store"

    first = _screen(capsys, hapi_r4.base_url, group["id"], tmp_path / "first", "--store", str(store))
    assert first["inputs"]["since"] is None and first["counts"]["store"]["new"] == 3
    assert HIV_EXCLUSION in _results(tmp_path / "first")[f"Patient/{hiv}"]["failed"]

    time.sleep(1.5)  # after the export's transaction time, at HAPI's one-second resolution
    members = [m for m in group["member"] if m["entity"]["reference"] != f"Patient/{gone}"]
    deletions = [f"{r['resourceType']}/{r['id']}" for r in resources if gone in json.dumps(r)]
    with FhirClient(hapi_r4.base_url) as client:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "DELETE", "url": f"Condition/{prefix}hiv-hiv"}},  # the patient's only change
            *({"request": {"method": "DELETE", "url": ref}} for ref in deletions),
            {"resource": {**group, "member": members}, "request": {"method": "PUT", "url": f"Group/{group['id']}"}},
        ]})

    update = _screen(capsys, hapi_r4.base_url, group["id"], tmp_path / "update", "--store", str(store))
    assert update["inputs"]["since"] == first["inputs"]["transaction_time"]  # the store's last export
    assert update["counts"]["store"]["deleted_resources"] >= 2
    assert update["counts"]["store"]["removed_patients"] == 1
    # The HIV patient, on their whole record; `kept` reused — unless the trial itself changed in between (a
    # mapping or the engine edited in this checkout while the test ran: its hash then differs, and all are).
    same_trial = first["trials"] == update["trials"]
    assert update["counts"]["patients_evaluated"] == (1 if same_trial else 2)
    results = _results(tmp_path / "update")
    assert sorted(results) == sorted([f"Patient/{hiv}", f"Patient/{kept}"])
    assert HIV_EXCLUSION not in results[f"Patient/{hiv}"]["failed"]
    assert any(f"Patient/{gone} was deleted on the server" in note for note in update["notes"])
    assert f"note: Patient/{gone} was deleted on the server" in update["stderr"]

    fresh = _screen(capsys, hapi_r4.base_url, group["id"], tmp_path / "fresh")  # a full export, no store
    assert (tmp_path / "fresh" / "results.ndjson").read_text() == (tmp_path / "update" / "results.ndjson").read_text()
    assert (tmp_path / "fresh" / "worklist.csv").read_text() == (tmp_path / "update" / "worklist.csv").read_text()
    assert fresh["counts"]["verdicts"] == update["counts"]["verdicts"]
