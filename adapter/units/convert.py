"""Converting lab values between UCUM units: factors, affine (temperature) units, rounding.

A conversion is reduced once to ``to = value * factor + offset`` (Decimals, 15 significant digits) and
memoised per (from, to, molar mass) in `_conversions`, which the persistent cache can also seed; the
result is then rounded to 12 significant digits, so a seeded factor gives the very same Decimal.

Precision is bounded: a value, and a result, must lie within [1e-24, 1e24] in magnitude (or be 0) — far beyond
any lab value in any unit — and all arithmetic runs in a local context. Anything else (1e28, 1e-30, a 30-digit
integer, a factor that would overflow) is a UnitConversionError "value out of range for conversion", never a
`decimal` exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DecimalException
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from adapter.errors import UnitConversionError
from adapter.units import ucum

if TYPE_CHECKING:
    from adapter.units.table import UnitTable

SIGNIFICANT_DIGITS = 12
_RESULT_CTX = Context(prec=SIGNIFICANT_DIGITS, rounding=ROUND_HALF_EVEN)
_FACTOR_CTX = Context(prec=15, rounding=ROUND_HALF_EVEN)
MAX_MAGNITUDE = Decimal("1e24")  # beyond any lab value in any unit (RBC 5e12/L, pmol/L as mol/L 1e-12)
MIN_MAGNITUDE = Decimal("1e-24")
_WIDE_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)  # integral form of a result (at most 25 digits)
OUT_OF_RANGE = "value out of range for conversion"


def within_range(value: Decimal) -> bool:
    """A finite value that is 0 or of magnitude in [1e-24, 1e24]: safe for any arithmetic here."""
    return value.is_finite() and (value.is_zero() or MIN_MAGNITUDE <= value.copy_abs() <= MAX_MAGNITUDE)

Conversion = tuple[Decimal, Decimal] | str  # (factor, offset), or why the units do not convert
ConversionKey = tuple[str, str, Decimal | None]  # (from, to, molar mass in g/mol)

_conversions: dict[ConversionKey, Conversion] = {}

# Annotations that change what is measured (body-surface normalisation); all others are ignored.
_SIGNIFICANT_ANNOTATION = re.compile(r"m2|m\^2|bsa", re.IGNORECASE)

_DIMENSION_NAMES = {
    "[mass] / [length] ** 3": "a mass concentration",
    "[substance] / [length] ** 3": "a substance concentration",
    "1 / [length] ** 3": "a number concentration",
    "[mass]": "a mass",
    "[substance]": "an amount of substance",
    "[time]": "a time",
    "[length]": "a length",
    "[length] ** 3": "a volume",
    "[length] ** 3 / [time]": "a volume rate",
    "[mass] / [length] / [time] ** 2": "a pressure",
    "[substance] / [time] / [length] ** 3": "a catalytic concentration",
    "[substance] / [time]": "a catalytic activity",
    "dimensionless": "dimensionless",
    "[temperature]": "a temperature",
}


def _describe(dimensionality: Any) -> str:
    text = str(dimensionality)
    return _DIMENSION_NAMES.get(text, text)


@dataclass(frozen=True, slots=True)
class _Unit:
    code: str
    quantity: Any  # pint Quantity for one of this unit
    arbitrary: tuple[str, ...]
    significant_annotations: tuple[str, ...]


@lru_cache(maxsize=1024)
def _unit(code: str) -> _Unit | str:
    """The pint quantity for a UCUM code, or an error message (cached either way)."""
    if not isinstance(code, str) or not code:
        return f"{code!r} is not a unit"
    tree = ucum.parse_tree(code)
    if tree is None:
        return f"unknown unit {code!r}: {ucum.parse_facts(code).error or 'not valid UCUM'}"
    registry, transformer = ucum.registry()
    try:
        quantity = transformer.transform(tree)
    except Exception as exc:  # lark VisitError wrapping pint's UndefinedUnitError, ...
        reason = str(getattr(exc, "orig_exc", exc)).strip().splitlines()[-1]
        return f"UCUM unit {code!r} has no conversion definition ({reason})"
    if not isinstance(quantity, registry.Quantity):  # an annotation alone, e.g. {INR}
        quantity = registry.Quantity(1, "dimensionless")
    tokens = ucum.parse_facts(code).tokens
    atoms = ucum.arbitrary_atoms()
    arbitrary = tuple(sorted(v for k, v in tokens if k in ("UNIT_METRIC", "UNIT_NON_METRIC") and v in atoms))
    significant = tuple(
        sorted(v.replace(" ", "") for k, v in tokens if k == "ANNOTATION" and _SIGNIFICANT_ANNOTATION.search(v))
    )
    return _Unit(code, quantity, arbitrary, significant)


def _to_decimal(x: float | int) -> Decimal:
    return _FACTOR_CTX.plus(Decimal(repr(float(x))) if not isinstance(x, int) else Decimal(x))


def _refusal(source: _Unit, target: _Unit, prefix: str) -> str | None:
    """Why two parsed units may not be converted whatever pint says, or None."""
    if source.arbitrary != target.arbitrary:
        names = ", ".join(sorted(set(source.arbitrary) ^ set(target.arbitrary)))
        return f"{prefix}: arbitrary unit {names} is commensurable only with itself (UCUM)"
    if source.significant_annotations != target.significant_annotations:
        return (
            f"{prefix}: the annotations {list(source.significant_annotations)} and "
            f"{list(target.significant_annotations)} differ (a rate per 1.73 m² body surface is not an "
            "absolute rate)"
        )
    return None


def _compute(from_unit: str, to_unit: str, molar_mass: Decimal | None) -> Conversion:
    """(factor, offset) so that to = value * factor + offset; or an error message."""
    import pint

    prefix = f"cannot convert {from_unit!r} to {to_unit!r}"
    source = _unit(from_unit)
    if isinstance(source, str):
        return f"{prefix}: {source}"
    target = _unit(to_unit)
    if isinstance(target, str):
        return f"{prefix}: {target}"
    refusal = _refusal(source, target, prefix)
    if refusal is not None:
        return refusal
    try:
        ratio = (source.quantity / target.quantity).to_base_units()
    except pint.errors.OffsetUnitCalculusError:
        return _affine(source, target, prefix)
    if not ratio.dimensionality:
        return (_to_decimal(ratio.magnitude), Decimal(0))
    substance_per_mass = source.quantity._REGISTRY.Quantity(1, "mol/g").dimensionality
    if ratio.dimensionality in (substance_per_mass, 1 / substance_per_mass):
        return _via_molar_mass(source, target, ratio, ratio.dimensionality == substance_per_mass, molar_mass, prefix)
    return (
        f"{prefix}: {from_unit} is {_describe(source.quantity.dimensionality)} and {to_unit} is "
        f"{_describe(target.quantity.dimensionality)}; they are not commensurable"
    )


def _via_molar_mass(
    source: _Unit, target: _Unit, ratio: Any, substance_to_mass: bool, molar_mass: Decimal | None, prefix: str
) -> Conversion:
    """Mass <-> substance: the pint ratio is mol/g (or g/mol) and the analyte's molar mass bridges it."""
    if molar_mass is None:
        return (
            f"{prefix}: {source.code} is {_describe(source.quantity.dimensionality)} and {target.code} "
            f"{_describe(target.quantity.dimensionality)}; converting needs the analyte's molar "
            "mass, and none was given"
        )
    if not molar_mass.is_finite() or molar_mass <= 0:
        return f"{prefix}: molar mass {molar_mass} g/mol is not a positive number"
    if substance_to_mass:  # multiply by g/mol
        factor = _to_decimal(ratio.to("mol/g").magnitude) * molar_mass
    else:
        factor = _to_decimal(ratio.to("g/mol").magnitude) / molar_mass
    return (_FACTOR_CTX.plus(factor), Decimal(0))


def _affine(source: _Unit, target: _Unit, prefix: str) -> Conversion:
    import pint

    registry = source.quantity._REGISTRY
    if source.quantity.magnitude != 1 or target.quantity.magnitude != 1:
        return f"{prefix}: offset units (temperatures) are only converted on their own"
    try:
        zero = registry.Quantity(0, source.quantity.units).to(target.quantity.units).magnitude
        one = registry.Quantity(1, source.quantity.units).to(target.quantity.units).magnitude
    except (pint.errors.DimensionalityError, pint.errors.OffsetUnitCalculusError):
        return (
            f"{prefix}: {_describe(source.quantity.dimensionality)} and "
            f"{_describe(target.quantity.dimensionality)} are not commensurable, or an offset unit "
            "(temperature) is part of a compound unit"
        )
    offset = _to_decimal(zero)
    return (_FACTOR_CTX.subtract(_to_decimal(one), offset), offset)


def conversion(from_unit: str, to_unit: str, molar_mass: Decimal | None) -> Conversion:
    """The memoised (factor, offset) or error message; pint is loaded only for a conversion not known yet."""
    key = (from_unit, to_unit, molar_mass)
    found = _conversions.get(key)
    if found is None:
        found = _compute(from_unit, to_unit, molar_mass)
        remember_conversion(key, found)
    return found


def remember_conversion(key: ConversionKey, value: Conversion) -> None:
    """Memoise a conversion (also how the persistent cache seeds them); keeps an existing entry."""
    if key not in _conversions:
        if len(_conversions) >= ucum.MEMO_LIMIT:
            _conversions.clear()
        _conversions[key] = value


def known_conversions() -> dict[ConversionKey, Conversion]:
    """A copy of the memoised conversions (for the persistent cache)."""
    return dict(_conversions)


def _tidy(d: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation (90, not 9E+1)."""
    d = d.normalize(_RESULT_CTX)
    if d.as_tuple().exponent > 0:  # type: ignore[operator]
        d = d.quantize(Decimal(1), context=_WIDE_CTX)  # up to 25 digits: the range is bounded
    return d


def _as_decimal(value: object, from_unit: str) -> Decimal:
    if not isinstance(value, Decimal):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UnitConversionError(f"cannot convert {value!r}: not a number")
        value = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not value.is_finite():
        raise UnitConversionError(f"cannot convert {value} {from_unit}: not a finite number")
    if not within_range(value):
        raise UnitConversionError(f"cannot convert {_brief(value)} {from_unit}: {OUT_OF_RANGE}")
    return value


def _brief(value: Decimal) -> str:
    """A value of any size in a few characters (1e+28, 1.235e-30), for messages."""
    return format(value, ".4g")


def convert(
    value: Decimal,
    from_unit: str,
    to_unit: str,
    *,
    molar_mass: Decimal | None = None,
) -> Decimal:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (UCUM codes), rounded to 12 significant digits.

    Raises UnitConversionError (message names both units and why) when a unit is unknown or not
    UCUM, when the units are not commensurable, when a mass <-> substance conversion has no
    ``molar_mass`` (g/mol), or when the value or the result is out of range (see the module docstring).
    """
    value = _as_decimal(value, from_unit)
    if molar_mass is not None and not isinstance(molar_mass, Decimal):
        try:
            molar_mass = Decimal(str(molar_mass))
        except DecimalException:
            raise UnitConversionError(f"molar mass {str(molar_mass)[:20]!r} is not a number") from None
    try:
        found = conversion(from_unit, to_unit, molar_mass)
    except TypeError:  # unhashable unit argument
        raise UnitConversionError(f"cannot convert {from_unit!r} to {to_unit!r}: not unit codes") from None
    if isinstance(found, str):
        raise UnitConversionError(found)
    factor, offset = found
    try:
        result = _RESULT_CTX.multiply(value, factor)
        if offset:
            result = _RESULT_CTX.add(result, offset)
        if within_range(result):
            return _tidy(result)
    except DecimalException:  # an overflowing factor: the same refusal as an out-of-range result
        pass
    raise UnitConversionError(
        f"cannot convert {_brief(value)} {from_unit} to {to_unit}: {OUT_OF_RANGE} "
        "(the result would lie outside 1e-24…1e24)"
    )


def warm_up(table: UnitTable | None = None) -> None:
    """Load the UCUM parser and the pint registry now, not on first use (~0.5 s); parse the table's targets."""
    ucum.registry()
    ucum.arbitrary_atoms()
    ucum.parser()
    if table is not None:
        for target in table.aliases.values():
            ucum.parse_facts(target)
