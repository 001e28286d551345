"""Comparing a result, possibly censored (`<50`, `>500`), with a threshold or a range.

A result is an interval of values it may stand for: `95` is [95, 95], `<50` is (-inf, 50). A criterion is
the set of values that satisfy it. The result passes when its whole interval lies inside the set, fails
when none of it does, and is undecided otherwise — so `<50` fails `≥ 80` for certain, `>500` passes it,
and `<100` cannot be judged against `≥ 80`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

COMPARATOR_SYMBOL = {"<": "<", "<=": "≤", ">=": "≥", ">": ">"}
NEGATED = {"<": ">=", "<=": ">", ">=": "<", ">": "<="}


@dataclass(frozen=True, slots=True)
class Interval:
    low: Decimal | None  # None: unbounded
    low_closed: bool
    high: Decimal | None
    high_closed: bool

    @classmethod
    def point(cls, value: Decimal) -> Interval:
        return cls(value, True, value, True)

    @classmethod
    def censored(cls, value: Decimal, comparator: str | None) -> Interval:
        """The values a reported result may stand for (`comparator` as in Quantity.comparator)."""
        if comparator == "<":
            return cls(None, False, value, False)
        if comparator == "<=":
            return cls(None, False, value, True)
        if comparator == ">":
            return cls(value, False, None, False)
        if comparator == ">=":
            return cls(value, True, None, False)
        return cls.point(value)

    @classmethod
    def satisfying(cls, comparator: str, threshold: Decimal) -> Interval:
        """The values x with `x <comparator> threshold`."""
        return cls.censored(threshold, comparator)

    def _below(self, other: Interval) -> bool:
        """Every value of self is below every value of other (they do not overlap, self first)."""
        if self.high is None or other.low is None:
            return False
        if self.high < other.low:
            return True
        return self.high == other.low and not (self.high_closed and other.low_closed)

    def overlaps(self, other: Interval) -> bool:
        return not (self._below(other) or other._below(self))

    def within(self, other: Interval) -> bool:
        low_ok = other.low is None or (
            self.low is not None
            and (
                self.low > other.low or (self.low == other.low and (other.low_closed or not self.low_closed))
            )
        )
        high_ok = other.high is None or (
            self.high is not None
            and (
                self.high < other.high
                or (self.high == other.high and (other.high_closed or not self.high_closed))
            )
        )
        return low_ok and high_ok


def judge(result: Interval, criterion: Interval) -> bool | None:
    """True: satisfies for certain; False: cannot satisfy; None: cannot tell."""
    if result.within(criterion):
        return True
    if not result.overlaps(criterion):
        return False
    return None


def show(value: Decimal) -> str:
    """A Decimal as a person reads it: 90, 1.5, 16.31, 0.0884 — at most 2 decimals (3 significant digits
    below 1), no exponent, no trailing zeros. For display only; comparisons use the exact value."""
    if value != 0 and abs(value) < 1:
        shown = Decimal(f"{value:.3g}")
    else:
        shown = value.quantize(Decimal("0.01")) if value.as_tuple().exponent < -2 else value  # type: ignore[operator]
    text = format(shown.normalize(), "f")
    return text


def show_quantity(value: Decimal, unit: str | None, comparator: str | None = None) -> str:
    prefix = COMPARATOR_SYMBOL.get(comparator or "", "")
    return f"{prefix}{show(value)}{' ' + unit if unit and unit not in ('1', '{score}') else ''}"
