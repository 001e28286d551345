"""What every rule reads: the patient's facts, the evaluation date, the options, and a way to evaluate another
characteristic (for `timeFromEvent.eventId`). A rule is a plain function of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.eligibility.options import EngineOptions
from adapter.eligibility.outcome import Outcome
from adapter.vocabulary import coding_tokens

if TYPE_CHECKING:
    from adapter.eligibility.facts import PatientFacts

# Days per UCUM time unit (a month is 30 days, a year 365: look-back windows, not calendar arithmetic).
DAY_UNITS: Mapping[str, int | Decimal] = {
    "d": 1,
    "wk": 7,
    "mo": 30,
    "a": 365,
    "h": Decimal(1) / 24,
    "min": Decimal(1) / 1440,
}


@dataclass(frozen=True, slots=True)
class RuleContext:
    facts: PatientFacts
    as_of: date
    end_of_day: datetime  # the evaluation date's last instant (UTC): the end of look-back windows
    options: EngineOptions
    by_link: Mapping[str, Mapping[str, Any]]  # every characteristic with a linkId, nested ones too
    # The outcome of another characteristic, memoised by the evaluator (so an anchor is evaluated once).
    characteristic: Callable[[Mapping[str, Any]], Outcome]


# A rule: the context, the `definitionByTypeAndValue`, and the characteristic's `timeFromEvent` windows.
Rule = Callable[[RuleContext, Mapping[str, Any], list[Mapping[str, Any]]], Outcome]


def type_tokens(definition: Mapping[str, Any]) -> list[str]:
    """The codings of the definition's `type`, as system|code."""
    return coding_tokens(definition.get("type"))


def type_label(definition: Mapping[str, Any]) -> str:
    """How a reason names the item: the type's text, else its first code."""
    types = type_tokens(definition)
    return (definition.get("type") or {}).get("text") or (types[0] if types else "item")


def days(quantity: Mapping[str, Any] | None) -> Decimal | None:
    """A time Quantity in days (None when absent or not a time unit)."""
    if not quantity or quantity.get("value") is None:
        return None
    factor = DAY_UNITS.get(quantity.get("code") or "d")
    return None if factor is None else Decimal(str(quantity["value"])) * Decimal(factor)
