"""Everything the engine needs about one patient, from a FHIR server, in one round trip where possible.

One `batch` Bundle carries every search (Patient, Observations by the trials' codes newest first, Conditions,
medications, procedures, allergies). A server that refuses batch gets the same searches one by one. Pages are
followed either way (a server that ignores `_count` or `_sort`, or caps page sizes, still gives everything: the
engine orders by date itself); a failed search — the whole batch or one entry of it, e.g. a 403 — is an error,
never silently "no data": for conditions and medications absence means "not present", so a missing answer could
otherwise pass an exclusion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adapter.errors import BatchEntryError, FhirServerError, PatientDataError
from adapter.fhir.client import FhirClient
from adapter.fhir.quirks import patient_search_value

RECORD_TYPES = ("Condition", "MedicationStatement", "MedicationRequest", "MedicationAdministration", "Procedure",
                "AllergyIntolerance")
BATCH_REFUSED = {400, 404, 405, 415, 422, 501}


@dataclass(frozen=True)
class PullPlan:
    observation_codes: tuple[str, ...]  # system|code
    page_size: int = 200

    def searches(self, patient_id: str) -> list[str]:
        # `code=` with LOINC tokens matches any coding of an Observation, so results whose first coding is a
        # local code are found too.
        codes = ",".join(self.observation_codes)
        patient = patient_search_value(patient_id)
        return [
            patient,
            f"Observation?patient={patient}&code={codes}&_sort=-date&_count={self.page_size}",
            *(f"{kind}?patient={patient}&_count={self.page_size}" for kind in RECORD_TYPES),
        ]


def plan_for(observation_codes: Iterable[str], page_size: int = 200) -> PullPlan:
    return PullPlan(tuple(sorted(set(observation_codes))), page_size)


def pull_patient(client: FhirClient, patient_id: str, plan: PullPlan) -> list[dict[str, Any]]:
    """The patient's resources as a flat list (Patient first)."""
    if not patient_id or "/" in patient_id or "?" in patient_id:
        raise PatientDataError(f"not a Patient id: {patient_id!r}")
    searches = plan.searches(patient_id)
    try:
        answers = client.batch(searches)
    except BatchEntryError:
        raise
    except FhirServerError as exc:
        if exc.status not in BATCH_REFUSED:
            raise
        return _one_by_one(client, patient_id, searches[1:])
    patient, *bundles = answers
    resources = [patient]
    for bundle in bundles:
        resources.extend(client.follow_pages(bundle))
    return resources


def _one_by_one(client: FhirClient, patient_id: str, searches: list[str]) -> list[dict[str, Any]]:
    resources = [client.read("Patient", patient_id)]
    for search in searches:
        resource_type, _, query = search.partition("?")
        params = dict(part.split("=", 1) for part in query.split("&"))
        resources.extend(client.search(resource_type, params))
    return resources
