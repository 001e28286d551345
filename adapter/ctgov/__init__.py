"""ClinicalTrials.gov API v2 records: reading them from files and fetching them live."""

from adapter.ctgov.fetch import fetch_record, save_record
from adapter.ctgov.record import (
    ArmGroup,
    Intervention,
    Location,
    ResponsibleParty,
    SecondaryId,
    Sponsor,
    TrialRecord,
    load_record,
    parse_age,
    parse_record,
    split_eligibility,
)

__all__ = [
    "ArmGroup",
    "Intervention",
    "Location",
    "ResponsibleParty",
    "SecondaryId",
    "Sponsor",
    "TrialRecord",
    "fetch_record",
    "load_record",
    "parse_age",
    "parse_record",
    "save_record",
    "split_eligibility",
]
