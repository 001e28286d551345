"""Synthea patient bundles → a Bulk Data export folder (one NDJSON file per resource type), for `trial-adapter screen`.

    .venv/bin/python benchmarks/synthea_export.py ../shared/realworld/synthea --out /tmp/synthea-export [--copies N]

Synthea writes one transaction Bundle per patient whose entries refer to each other by `urn:uuid:` fullUrls; an
export holds bare resources that refer by `Type/id`. Each reference to an entry of the same Bundle is rewritten to
that entry's `Type/id` (the id given to it, or the uuid). `--copies N` clones the population N times with new ids
(the realistic shape of a large export: ~700-1,000 resources a patient), every copy's references rewritten alike.
Files that are not patient bundles are skipped and named.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


def _rewrite(value: Any, targets: dict[str, str]) -> Any:
    """The value with every `reference` that names an entry of the bundle rewritten to `Type/id`."""
    if isinstance(value, dict):
        return {k: (targets.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, targets))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, targets) for v in value]
    return value


def export_resources(bundle: dict[str, Any], suffix: str = "") -> Iterator[dict[str, Any]]:
    """The bundle's resources as an export holds them: ids made unique by `suffix`, references as `Type/id`."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    targets: dict[str, str] = {}
    for entry in entries:
        resource = entry["resource"]
        full_url = entry.get("fullUrl") or ""
        rid = str(resource.get("id") or full_url.rsplit(":", 1)[-1])
        targets[full_url] = f"{resource['resourceType']}/{rid}{suffix}"
        if resource.get("id"):
            targets[f"{resource['resourceType']}/{resource['id']}"] = targets[full_url]
    for entry in entries:
        resource = _rewrite(entry["resource"], targets)
        resource["id"] = targets[entry.get("fullUrl") or ""].split("/", 1)[1]
        yield resource


def write_export(sources: list[Path], out: Path, copies: int = 1, log: TextIO = sys.stderr) -> int:
    """Write the export folder; the number of patients written."""
    out.mkdir(parents=True, exist_ok=True)
    streams: dict[str, TextIO] = {}
    patients = 0
    try:
        for path in sources:
            bundle = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or not any(
                    (e.get("resource") or {}).get("resourceType") == "Patient" for e in bundle.get("entry") or []):
                print(f"skipped {path.name}: not a patient bundle", file=log)
                continue
            for copy in range(copies):
                for resource in export_resources(bundle, f"-c{copy}" if copies > 1 else ""):
                    kind = resource["resourceType"]
                    if kind not in streams:
                        streams[kind] = (out / f"{kind}.ndjson").open("w", encoding="utf-8")
                    streams[kind].write(json.dumps(resource, separators=(",", ":")) + "\n")
                    patients += kind == "Patient"
    finally:
        for stream in streams.values():
            stream.close()
    return patients


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder of Synthea patient bundles (*.json)")
    parser.add_argument("--out", type=Path, required=True, help="the export folder to write")
    parser.add_argument("--copies", type=int, default=1, help="clone the population this many times (new ids)")
    args = parser.parse_args(argv)
    sources = sorted(args.folder.glob("*.json"))
    count = write_export(sources, args.out, max(1, args.copies))
    print(f"{count} patients written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
