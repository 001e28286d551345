"""ClinicalTrials.gov API v2 records: the model, reading them from files or bytes, and fetching them live."""

from typing import Any

from adapter.ctgov.eligibility_text import parse_age, split_eligibility
from adapter.ctgov.model import (
    NCT_ID_PATTERN,
    ArmGroup,
    Intervention,
    Location,
    ResponsibleParty,
    SecondaryId,
    Sponsor,
    TrialRecord,
)
from adapter.ctgov.parse import load_record, parse_record, parse_record_bytes

__all__ = [
    "NCT_ID_PATTERN",
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
    "parse_record_bytes",
    "save_record",
    "split_eligibility",
]


def __getattr__(name: str) -> Any:
    # The fetcher pulls in httpx (~80 ms); commands that only read files do not pay for it.
    if name in ("fetch_record", "save_record"):
        from adapter.ctgov import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module 'adapter.ctgov' has no attribute {name!r}")
