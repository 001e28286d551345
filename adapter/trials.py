"""The trials this installation knows: each is a ClinicalTrials.gov record plus its reviewed mapping.

Records are read from `fixtures/ctgov/` and mappings from `mappings/` beside the package, or from the
directories named by TRIAL_ADAPTER_RECORDS / TRIAL_ADAPTER_MAPPINGS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from adapter.ctgov.record import TrialRecord, load_record
from adapter.errors import UnknownTrialError
from adapter.mapping.concepts import ConceptLibrary
from adapter.mapping.loader import load_concepts, load_mapping
from adapter.mapping.model import TrialMapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Trial:
    record: TrialRecord
    mapping: TrialMapping
    concepts: ConceptLibrary

    @property
    def nct_id(self) -> str:
        return self.record.nct_id

    @property
    def recruiting(self) -> bool:
        return self.record.overall_status in {"RECRUITING", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING"}


def mappings_dir() -> Path:
    return Path(os.environ.get("TRIAL_ADAPTER_MAPPINGS", PROJECT_ROOT / "mappings"))


def records_dir() -> Path:
    return Path(os.environ.get("TRIAL_ADAPTER_RECORDS", PROJECT_ROOT / "fixtures" / "ctgov"))


def available_trials() -> list[str]:
    """NCT ids that have a mapping file."""
    return sorted(p.stem for p in mappings_dir().glob("NCT*.yaml"))


@cache
def concept_library() -> ConceptLibrary:
    return load_concepts(mappings_dir() / "concepts.yaml")


@cache
def load_trial(nct_id: str) -> Trial:
    """Record + mapping for one trial, checked against each other. Cached: both are read-only."""
    nct_id = nct_id.strip().upper()
    if nct_id not in available_trials():
        known = ", ".join(available_trials()) or "none"
        raise UnknownTrialError(f"unknown trial {nct_id}: no mapping in {mappings_dir()} (known: {known})")
    record_path = records_dir() / f"{nct_id}.json"
    if not record_path.exists():
        raise UnknownTrialError(f"trial {nct_id} has a mapping but no record at {record_path}")
    record = load_record(record_path)
    concepts = concept_library()
    mapping = load_mapping(mappings_dir() / f"{nct_id}.yaml", concepts, record)
    return Trial(record=record, mapping=mapping, concepts=concepts)
