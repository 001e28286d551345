"""Who runs a trial and where: the lead sponsor's Organization, the sites' Locations, the associated parties.

Pure: a TrialRecord in, plain dicts out. Each Organization and Location is keyed by a slug of its name so
the same sponsor or site pushed from two trials is one resource on the server.
"""

from __future__ import annotations

from typing import Any

from adapter.ctgov.model import TrialRecord
from adapter.fhir_build.common import business_identifier, coding, narrative, slug

PARTY_ROLE = "http://hl7.org/fhir/research-study-party-role"


def organizations(record: TrialRecord) -> list[dict[str, Any]]:
    """The lead sponsor as an Organization (collaborators are named on the study only)."""
    if not record.lead_sponsor:
        return []
    key = f"organization-{slug(record.lead_sponsor.name)}"
    return [
        {
            "resourceType": "Organization",
            "id": key,
            "text": narrative(record.lead_sponsor.name),
            "identifier": [business_identifier(key)],
            "active": True,
            "name": record.lead_sponsor.name,
        }
    ]


def locations(record: TrialRecord) -> list[dict[str, Any]]:
    """One Location per site with a facility name; a site without one cannot be told apart."""
    result = []
    for loc in record.locations:
        if not loc.facility:
            continue
        key = f"location-{slug(loc.facility)}"
        address = {
            k: v
            for k, v in (("city", loc.city), ("state", loc.state), ("postalCode", loc.zip), ("country", loc.country))
            if v
        }
        result.append(
            {
                "resourceType": "Location",
                "id": key,
                "text": narrative(loc.facility),
                "identifier": [business_identifier(key)],
                "status": "active",
                "name": loc.facility,
                **({"address": address} if address else {}),
            }
        )
    return result


def associated_parties(record: TrialRecord, organizations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ResearchStudy.associatedParty: lead sponsor (referencing its Organization), collaborators, PI."""
    parties: list[dict[str, Any]] = []
    if record.lead_sponsor:
        parties.append(
            {
                "name": record.lead_sponsor.name,
                "role": {"coding": [coding(PARTY_ROLE, "lead-sponsor")]},
                "party": {"reference": f"Organization/{organizations[0]['id']}"},
            }
        )
    for collaborator in record.collaborators:
        parties.append({"name": collaborator.name, "role": {"coding": [coding(PARTY_ROLE, "collaborator")]}})
    responsible = record.responsible_party
    if responsible and responsible.name and responsible.type == "PRINCIPAL_INVESTIGATOR":
        parties.append({"name": responsible.name, "role": {"coding": [coding(PARTY_ROLE, "primary-investigator")]}})
    return parties


__all__ = ["associated_parties", "locations", "organizations"]
