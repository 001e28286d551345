"""`trial-adapter screen --server` through a real HAPI FHIR R4 server's Bulk Data `$export` gives the same
results as screening the same resources from files.

HAPI is shared by the session's tests, so this test's patients get ids of their own and the export is a
`Group/[id]/$export` of exactly them.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from adapter.fhir import FhirClient
from adapter.vocabulary import RESOURCE_IDENTIFIER_SYSTEM
from tests.support.bulk_export import fixture_resources, read_ndjson, write_export

pytestmark = [pytest.mark.hapi, pytest.mark.java]

AS_OF = "2026-11-01"
PATIENTS = ["p-eligible-si-units", "p-eligible-us-units", "p-platelets-below-50", "p-missing-platelets",
            "p-hiv-icd10cm", "p-transfusion-cpt"]


def _renamed(resources: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The fixtures under ids of this test's own (every id and every Patient reference prefixed)."""
    text = json.dumps(resources)
    for resource in resources:
        old = f"{resource['resourceType']}/{resource['id']}"
        text = text.replace(f'"{old}"', f'"{resource["resourceType"]}/{prefix}{resource["id"]}"')
    renamed = json.loads(text)
    for resource in renamed:
        resource["id"] = prefix + resource["id"]
    return renamed


def _load_with_group(base_url: str, resources: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """PUT the resources and a Group of their Patients (the export's cohort) in one transaction."""
    group = {"resourceType": "Group", "id": f"{prefix}cohort", "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{r['id']}"}} for r in resources
                        if r["resourceType"] == "Patient"]}
    entries = [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
               for r in [*resources, group]]
    with FhirClient(base_url) as client:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    return group


def test_screen_from_hapi_export_equals_screen_from_files(hapi_r4: Any, tmp_path: Path,
                                                         capsys: Any) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    # An order coded only by a reference to a Medication: not in the Patient compartment, read after the export.
    medication = {"resourceType": "Medication", "id": "bev",
                  "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "253337"}]}}
    order = {"resourceType": "MedicationRequest", "id": "mr-bev", "status": "completed", "intent": "order",
             "subject": {"reference": "Patient/p-eligible-us-units"}, "authoredOn": "2026-06-01",
             "medicationReference": {"reference": "Medication/bev"}}
    resources = _renamed([*fixture_resources(PATIENTS), medication, order], prefix)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    group = _load_with_group(hapi_r4.base_url, resources, prefix)

    from_server = tmp_path / "server"
    code = main(["screen", "--server", hapi_r4.base_url, "--group", group["id"], "--as-of", AS_OF,
                 "--workers", "1", "--out", str(from_server)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    exported = sorted(p.name for p in (from_server / "export").iterdir())
    assert "Patient.ndjson" in exported and "Observation.2.ndjson" in exported  # HAPI: 5 resources a file

    files = tmp_path / "export"
    write_export(files, resources)
    from_files = tmp_path / "files"
    assert main(["screen", "--ndjson", str(files), "--as-of", AS_OF, "--workers", "1",
                 "--out", str(from_files)]) == 0

    def lines(out: Path) -> list[str]:
        return sorted(json.dumps(line, sort_keys=True) for line in read_ndjson(out / "results.ndjson"))

    assert len(lines(from_server)) == 2 * len(patients)
    assert lines(from_server) == lines(from_files)
    assert read_ndjson(from_server / "errors.ndjson") == []
    assert (from_server / "worklist.csv").read_text() == (from_files / "worklist.csv").read_text()
    bevacizumab = next(line for line in read_ndjson(from_server / "results.ndjson")
                       if line["patient"] == f"Patient/{prefix}p-eligible-us-units" and line["trial"] == "NCT03787251")
    assert "exc-prior-anti-angiogenic" in bevacizumab["failed"]

    # The worklist's Group goes back to the server, once however often it is pushed.
    group_file = from_server / "Group-NCT03787251.json"
    members = [m["entity"]["reference"] for m in json.loads(group_file.read_text()).get("member", [])]
    assert members
    outcomes = []
    for _ in range(2):
        assert main(["push", "--server", hapi_r4.base_url, "--resource", str(group_file)]) == 0
        outcomes.append(capsys.readouterr().out)
    assert "Group/" in outcomes[0] and (" created " in outcomes[0] or " updated " in outcomes[0])
    assert " unchanged " in outcomes[1] and " created " not in outcomes[1]
    with FhirClient(hapi_r4.base_url) as client:
        found = list(client.search("Group", {"identifier": f"{RESOURCE_IDENTIFIER_SYSTEM}|screening-NCT03787251"}))
    assert len(found) == 1
    assert [m["entity"]["reference"] for m in found[0]["member"]] == members


def test_since_screens_the_changed_patients_on_their_whole_record(hapi_r4: Any, tmp_path: Path,
                                                                  capsys: Any) -> None:
    """An export `_since` holds only what changed; an unchanged exclusion (HIV, recorded before) must still be
    read, or the patient would pass it."""
    import time
    from datetime import UTC, datetime

    prefix = f"s{uuid.uuid4().hex[:8]}-"
    group = _load_with_group(hapi_r4.base_url, _renamed(fixture_resources(["p-hiv", "p-eligible-si-units"]),
                                                        prefix), prefix)
    with FhirClient(hapi_r4.base_url) as client:
        time.sleep(1.5)
        since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        time.sleep(1.5)
        hiv = f"{prefix}p-hiv"
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": {"resourceType": "Observation", "id": f"{prefix}new-weight", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                         "subject": {"reference": f"Patient/{hiv}"}, "effectiveDateTime": "2026-10-30",
                         "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org",
                                           "code": "kg"}},
            "request": {"method": "PUT", "url": f"Observation/{prefix}new-weight"}}]})

    out = tmp_path / "since"
    code = main(["screen", "--server", hapi_r4.base_url, "--group", group["id"], "--since", since,
                 "--trial", "NCT03787251", "--as-of", AS_OF, "--workers", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    results = read_ndjson(out / "results.ndjson")
    assert [line["patient"] for line in results] == [f"Patient/{hiv}"]  # the unchanged patient is not screened
    assert "exc-immunodeficiency" in results[0]["failed"]  # read from the whole record, not the changes alone
    assert (out / "export" / "since").is_dir()
