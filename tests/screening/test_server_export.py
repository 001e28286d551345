"""A server export organised by patient (Bulk Data STU3 `organizeOutputBy=Patient`): the Medications its orders
reference are found in files named `output.ndjson`, not by type, and the population screens as from type files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapter.screening.server import _medication_references
from tests.support.bulk_export import write_export, write_patient_blocks
from tests.support.fhir import medication, patient

pytestmark: list[pytest.MarkDecorator] = []

ORDER: dict[str, Any] = medication("MedicationRequest", "rx-1", status="active", intent="order",
                                   medicationReference={"reference": "Medication/bev-1"})


def test_orders_in_patient_organised_files_name_their_medications(tmp_path: Path) -> None:
    files = write_patient_blocks(tmp_path / "by-patient", [patient("p1"), ORDER])
    assert [f.name for f in files] == ["output.ndjson"]
    assert list(_medication_references(files, by_patient=True)) == ["bev-1"]
    assert list(_medication_references(files)) == []  # read by type name, such a file would be passed over


def test_type_files_are_read_by_their_type(tmp_path: Path) -> None:
    files = write_export(tmp_path / "by-type", [patient("p1"), ORDER])
    assert list(_medication_references(files)) == ["bev-1"]


def test_a_patient_organised_export_screens_as_a_type_organised_one(tmp_path: Path) -> None:
    from adapter.cli import main
    from tests.support.bulk_export import fixture_resources

    resources = fixture_resources(["p-eligible-us-units", "p-prior-bevacizumab", "p-missing-platelets"])
    write_patient_blocks(tmp_path / "by-patient", resources, patients_per_file=2)
    write_export(tmp_path / "by-type", resources)
    results = []
    for layout in ("by-patient", "by-type"):
        out = tmp_path / f"out-{layout}"
        assert main(["screen", "--ndjson", str(tmp_path / layout), "--out", str(out), "--as-of", "2026-11-01",
                     "--workers", "1"]) == 0
        results.append(sorted((out / "results.ndjson").read_text(encoding="utf-8").splitlines()))
    assert results[0] == results[1] and len(results[0]) == 6
