"""A Bulk Data export on disk for tests, written the way servers write one: resources of each type shuffled
across one or more files (``Observation.ndjson``, ``Observation.2.ndjson``, …), optionally gzip-compressed, not
grouped by patient — or (`write_patient_blocks`) organized by patient as with the STU3 ``organizeOutputBy=Patient``
(``output.ndjson``, ``output.2.ndjson``, …: per patient a ``Parameters`` header, the Patient, its resources)."""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.support.trials import PATIENTS


def fixture_resources(names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The resources of the fixture patients (fixtures/patients/*.json; all of them when `names` is None)."""
    paths = sorted(PATIENTS.glob("*.json")) if names is None else [PATIENTS / f"{n}.json" for n in names]
    resources: list[dict[str, Any]] = []
    for path in paths:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        resources += [entry["resource"] for entry in bundle.get("entry", [])]
    return resources


def write_export(directory: Path, resources: Iterable[Mapping[str, Any]], *, seed: int = 0, files_per_type: int = 1,
                 gzip_types: Iterable[str] = (), extra_lines: Mapping[str, list[str]] | None = None) -> list[Path]:
    """Write `resources` as NDJSON files by type; `extra_lines` appends raw lines (bad input) to a file name."""
    directory.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = defaultdict(list)
    for resource in resources:
        by_type[resource["resourceType"]].append(json.dumps(resource, ensure_ascii=False))
    rng = random.Random(seed)
    compressed = set(gzip_types)
    written: list[Path] = []
    for resource_type, lines in sorted(by_type.items()):
        rng.shuffle(lines)
        for part in range(files_per_type):
            chunk = lines[part::files_per_type]
            if not chunk:
                continue
            stem = resource_type if part == 0 else f"{resource_type}.{part + 1}"
            written.append(_write(directory, stem, chunk, resource_type in compressed))
    for name, lines in (extra_lines or {}).items():
        path = directory / name
        with path.open("a", encoding="utf-8") as stream:
            stream.write("".join(line + "\n" for line in lines))
        written.append(path)
    return written


def write_patient_blocks(directory: Path, resources: Iterable[Mapping[str, Any]], *,
                         patients_per_file: int = 1) -> list[Path]:
    """Write `resources` as `organizeOutputBy=Patient` files: each patient's block (a `Parameters` header with a
    `header` reference, the Patient, the resources whose `subject` or `patient` is that Patient), in the order
    the Patients come, `patients_per_file` blocks a file. Resources of no patient are left out."""
    directory.mkdir(parents=True, exist_ok=True)
    items = list(resources)
    blocks: dict[str, list[str]] = {}
    for resource in items:
        if resource["resourceType"] == "Patient":
            reference = f"Patient/{resource['id']}"
            header = {"resourceType": "Parameters",
                      "parameter": [{"name": "header", "valueReference": {"reference": reference}}]}
            blocks[reference] = [json.dumps(header), json.dumps(resource, ensure_ascii=False)]
    for resource in items:
        owner = (resource.get("subject") or resource.get("patient") or {}).get("reference")
        if resource["resourceType"] != "Patient" and owner in blocks:
            blocks[owner].append(json.dumps(resource, ensure_ascii=False))
    ordered = list(blocks.values())
    written: list[Path] = []
    for n, start in enumerate(range(0, len(ordered), patients_per_file)):
        lines = [line for block in ordered[start:start + patients_per_file] for line in block]
        written.append(_write(directory, "output" if n == 0 else f"output.{n + 1}", lines, False))
    return written


def _write(directory: Path, stem: str, lines: list[str], compress: bool) -> Path:
    text = "".join(line + "\n" for line in lines).encode("utf-8")
    if compress:
        path = directory / f"{stem}.ndjson.gz"
        path.write_bytes(gzip.compress(text))
    else:
        path = directory / f"{stem}.ndjson"
        path.write_bytes(text)
    return path


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
