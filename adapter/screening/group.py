"""A trial's screening candidates as a FHIR Group (R4 or R5), so a worklist can be pushed to a server and used
there (a recruitment list, a Bulk Data ``Group/[id]/$export`` of just these patients). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

from adapter.vocabulary import RESOURCE_IDENTIFIER_SYSTEM


def group_id(nct_id: str) -> str:
    return "screening-" + re.sub(r"[^A-Za-z0-9\-.]", "-", nct_id.lower())


def candidates_group(nct_id: str, title: str, patients: Iterable[str], as_of: date,
                     fhir_version: Literal["R4", "R5"] = "R4") -> dict[str, Any]:
    """The Group of `patients` (``Patient/<id>`` references, in worklist order) screened for `nct_id`."""
    members = [{"entity": {"reference": p}} for p in patients]
    name = f"Pre-screening candidates for {nct_id} as of {as_of.isoformat()}"
    group: dict[str, Any] = {
        "resourceType": "Group",
        "id": group_id(nct_id),
        # The project's identifier system: `push --resource` updates this Group in place on a second push.
        "identifier": [{"system": RESOURCE_IDENTIFIER_SYSTEM, "value": f"screening-{nct_id}"}],
        "active": True,
        "type": "person",
    }
    if fhir_version == "R4":
        group["actual"] = True
    else:
        group["membership"] = "enumerated"
    group["code"] = {"text": f"Pre-screening: potentially eligible or insufficient data for {nct_id}"}
    group["name"] = name
    if fhir_version == "R5":
        group["description"] = (f"Patients whose data did not exclude them from {nct_id} ({title}); each one's "
                                "verdict and open criteria are in results.ndjson and worklist.csv. Pre-screening, "
                                "not an eligibility decision.")
    group["quantity"] = len(members)
    if members:
        group["member"] = members
    return group
