"""ClinicalTrials.gov API v2 study records as typed, immutable values.

A field the record leaves out is None (or an empty tuple), never a default that could pass for data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NCT_ID_PATTERN = re.compile(r"NCT\d{8}")


@dataclass(frozen=True)
class SecondaryId:
    id: str
    type: str | None = None
    domain: str | None = None


@dataclass(frozen=True)
class Sponsor:
    name: str
    class_: str | None = None


@dataclass(frozen=True)
class ResponsibleParty:
    type: str | None = None
    name: str | None = None
    title: str | None = None
    affiliation: str | None = None


@dataclass(frozen=True)
class ArmGroup:
    label: str
    type: str | None = None
    description: str | None = None
    intervention_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Intervention:
    type: str | None
    name: str
    description: str | None = None
    arm_group_labels: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Location:
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class TrialRecord:
    nct_id: str
    org_study_id: str | None
    secondary_ids: tuple[SecondaryId, ...]
    brief_title: str | None
    official_title: str | None
    brief_summary: str | None
    detailed_description: str | None
    overall_status: str | None
    why_stopped: str | None
    start_date: str | None
    completion_date: str | None
    primary_completion_date: str | None
    enrollment_count: int | None
    enrollment_type: str | None
    study_type: str | None
    phases: tuple[str, ...]
    allocation: str | None
    intervention_model: str | None
    primary_purpose: str | None
    masking: str | None
    lead_sponsor: Sponsor | None
    collaborators: tuple[Sponsor, ...]
    responsible_party: ResponsibleParty | None
    conditions: tuple[str, ...]
    keywords: tuple[str, ...]
    arm_groups: tuple[ArmGroup, ...]
    interventions: tuple[Intervention, ...]
    eligibility_criteria: str | None
    sex: str | None
    minimum_age: str | None
    maximum_age: str | None
    healthy_volunteers: bool | None
    locations: tuple[Location, ...]
    # The whole protocolSection, read-only, for fields this class does not lift out.
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)


__all__ = [
    "NCT_ID_PATTERN",
    "ArmGroup",
    "Intervention",
    "Location",
    "ResponsibleParty",
    "SecondaryId",
    "Sponsor",
    "TrialRecord",
]
