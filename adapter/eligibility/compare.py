"""Comparing a result, possibly censored (`<50`, `>500`), with a threshold or a range.

A result is an interval of values it may stand for: `95` is [95, 95], `<50` is (-inf, 50). A criterion is
the set of values that satisfy it. The result passes when its whole interval lies inside the set, fails
when none of it does, and is undecided otherwise — so `<50` fails `≥ 80` for certain, `>500` passes it,
and `<100` cannot be judged against `≥ 80`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal

from adapter.eligibility.prose import unit_text

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


_SHOW_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)  # display only: never traps on a value of any size
_PLAIN_LIMIT = Decimal("1e15")  # below this magnitude (and above 1e-9) a value is written out in full
_PLAIN_FLOOR = Decimal("1e-9")
_MAX_EXTRA_PLACES = 30


def _default_places(value: Decimal) -> int:
    """Decimals `show` uses: 2, or 3 significant digits below 1."""
    if value.is_zero() or value.copy_abs() >= 1:
        return 2
    return max(2, 2 - value.adjusted())


def _plain(value: Decimal) -> bool:
    return value.is_zero() or _PLAIN_FLOOR <= value.copy_abs() < _PLAIN_LIMIT


def _rounded(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), context=_SHOW_CTX)


def _text(value: Decimal) -> str:
    text = format(value.normalize(_SHOW_CTX), "f")
    return "0" if text in ("-0", "0") else text


def _deciding_places(value: Decimal, bounds: Iterable[Decimal | None]) -> int:
    """The fewest decimals (at least `show`'s) at which `value` and every bound, both rounded, compare as they
    do exactly — so a shown result never contradicts a shown threshold (1499 /uL is 1.499, not 1.5 < 1.5)."""
    finite = [b for b in bounds if b is not None and b.is_finite() and _plain(b)]
    places = max([_default_places(value), *(_default_places(b) for b in finite)])
    for extra in range(_MAX_EXTRA_PLACES):
        shown = _rounded(value, places + extra)
        if all((shown > (b_shown := _rounded(b, places + extra))) - (shown < b_shown) == (value > b) - (value < b)
               for b in finite):
            return places + extra
    return places + _MAX_EXTRA_PLACES


def show(value: Decimal, against: Iterable[Decimal | None] = ()) -> str:
    """A Decimal as a person reads it: 90, 1.5, 16.31, 0.0884 — at most 2 decimals (3 significant digits
    below 1), no exponent, no trailing zeros; a huge or tiny value as 1.235e+28. For display only; comparisons
    use the exact value. With `against` (the thresholds it is compared with), as many more decimals as it takes
    for the shown value to compare with each shown threshold as the exact ones do."""
    if not value.is_finite():
        return str(value)
    if not _plain(value):
        return format(value, ".4g")
    bounds = list(against)
    places = _deciding_places(value, bounds) if bounds else _default_places(value)
    if value.is_zero() or value.copy_abs() >= 1:
        shown = _rounded(value, places) if value.as_tuple().exponent < -places else value  # type: ignore[operator]
    elif bounds:
        shown = _rounded(value, places)
    else:
        shown = Decimal(f"{value:.3g}")
    return _text(shown)


def show_quantity(
    value: Decimal, unit: str | None, comparator: str | None = None, against: Iterable[Decimal | None] = ()
) -> str:
    """A value with its unit as a reason shows it: the unit as people write it (10⁹/L, mmHg; none for a score)."""
    prefix = COMPARATOR_SYMBOL.get(comparator or "", "")
    shown = unit_text(unit)
    return f"{prefix}{show(value, against)}{' ' + shown if shown else ''}"
