"""What every group of rules shares: the patient, the evaluation date, the options, and a few helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from adapter.eligibility.facts import PatientFacts
from adapter.eligibility.outcome import Outcome

SNOMED = "http://snomed.info/sct"
AGE = f"{SNOMED}|424144002"
GENDER = f"{SNOMED}|263495000"
RECORD_ENTRY_KINDS = {
    f"{SNOMED}|439401001": "conditions",
    f"{SNOMED}|71388002": "procedures",
    f"{SNOMED}|410942007": "medications",
    f"{SNOMED}|609328004": "allergies",
}
ULN_OFFSET = "http://hl7.org/fhir/characteristic-offset|UNL"
DAY_UNITS = {"d": 1, "wk": 7, "mo": 30, "a": 365, "h": Decimal(1) / 24, "min": Decimal(1) / 1440}


@dataclass(frozen=True, slots=True)
class DerivedSpec:
    """How to compute a derived measure (today: Cockcroft–Gault creatinine clearance)."""

    formula: Literal["cockcroft-gault"]
    unit: str
    creatinine_codes: tuple[str, ...]
    creatinine_lookback_days: int
    weight_codes: tuple[str, ...]
    weight_lookback_days: int


@dataclass(frozen=True, slots=True)
class EngineOptions:
    # system|code → number (ECOG LA codes)
    ordinal_answers: Mapping[str, Decimal] = field(default_factory=dict)
    derived: Mapping[str, DerivedSpec] = field(default_factory=dict)  # system|code → spec
    default_lookback_days: int = 30


def tokens(concept: Mapping[str, Any] | None) -> list[str]:
    """The codings of a CodeableConcept as system|code."""
    return [f"{c.get('system')}|{c.get('code')}" for c in (concept or {}).get("coding", []) if c.get("code")]


def days(quantity: Mapping[str, Any] | None) -> Decimal | None:
    """A time Quantity in days (None when absent or not a time unit)."""
    if not quantity or quantity.get("value") is None:
        return None
    factor = DAY_UNITS.get(quantity.get("code") or "d")
    return None if factor is None else Decimal(str(quantity["value"])) * Decimal(factor)


class RuleContext:
    """State the rule groups read; `characteristic` evaluates another characteristic (memoised)."""

    facts: PatientFacts
    as_of: date
    end_of_day: datetime
    options: EngineOptions
    by_link: dict[str, Mapping[str, Any]]

    def characteristic(self, characteristic: Mapping[str, Any]) -> Outcome:
        raise NotImplementedError

    def _age_span(self) -> tuple[int, int] | None:
        raise NotImplementedError
