"""Unit handling for lab values: UCUM parsing and conversion, and the unit of a FHIR Quantity.

Public API
----------
``convert(value, from_unit, to_unit, *, molar_mass=None) -> Decimal``
    Converts between UCUM units. Mass <-> substance conversions (g/L <-> mmol/L, mg/dL <-> umol/L)
    need the analyte's ``molar_mass`` in g/mol (see ``molar_mass_for``). Raises
    ``UnitConversionError`` naming both units and the reason.
``normalize_unit(code, unit_text, system, *, analyte_codes=None) -> str | None``
    The UCUM code to use for a FHIR Quantity, or None when nothing usable is there.
``molar_mass_for(codes) -> Decimal | None``
    The molar mass (g/mol) for an Observation with one of these ``system|code`` codes.
``is_ucum(unit) -> bool``
``warm_up() -> None``
    Loads the table, the UCUM parser and the pint registry now (~0.5 s) rather than on first use.

Rules worth knowing
-------------------
* UCUM is parsed with ``ucumvert`` (a UCUM grammar on top of pint). Plain pint is never given a UCUM
  string: it reads ``10*9/L`` as 90/L.
* Parsing is slow (~0.3-1 ms) so parses and conversion factors are cached per unit / per
  (from, to, molar mass); a cached ``convert`` costs a few microseconds.
* Results are Decimals rounded to 12 significant digits, then stripped of trailing zeros, so
  9.0 g/dL -> 90 g/L exactly: no float noise at thresholds.
* UCUM annotations (``{INR}``, ``{cells}``) carry no meaning and are ignored, except annotations
  about body-surface normalisation (``{1.73_m2}``): ``mL/min/{1.73_m2}`` (eGFR) is not converted to
  ``mL/min`` (a creatinine clearance), and vice versa.
* Arbitrary units (``[IU]``, ``[arb'U]``, ...) are commensurable only with themselves (UCUM).
* Offset units (``Cel`` <-> ``[degF]``) are converted affinely; inside compound units they are refused.
* Aliases (non-UCUM lab spellings such as ``K/uL``) are data: ``mappings/units.yaml``. ``convert``
  takes UCUM only; pass it the result of ``normalize_unit``.
* ``normalize_unit`` trusts a code whose ``system`` is UCUM (it is the sender's assertion). Free
  text (``unit``, or a code without a system) is read as UCUM only when it uses unambiguous atoms:
  no upper-case prefixes or one-letter atoms (text ``ML`` would be a megalitre, ``G/L`` gauss per
  litre), so those give None unless the alias table knows them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from adapter.errors import MappingError, UnitConversionError

UCUM_SYSTEM = "http://unitsofmeasure.org"
UNITS_YAML = Path(__file__).resolve().parents[1] / "mappings" / "units.yaml"

SIGNIFICANT_DIGITS = 12
_RESULT_CTX = Context(prec=SIGNIFICANT_DIGITS, rounding=ROUND_HALF_EVEN)
_FACTOR_CTX = Context(prec=15, rounding=ROUND_HALF_EVEN)

_MICRO_SIGNS = str.maketrans({"\u00b5": "u", "\u03bc": "u"})
_BLANKS = re.compile(r"\s+")
# Annotations that change what is measured (body-surface normalisation); all others are ignored.
_SIGNIFICANT_ANNOTATION = re.compile(r"m2|m\^2|bsa", re.IGNORECASE)

# Atoms/prefixes accepted when a unit is read from free text rather than a UCUM-coded field.
_TEXT_PREFIXES = frozenset({"k", "h", "d", "c", "m", "u", "n", "p", "f"})
_TEXT_ATOMS = frozenset(
    {
        "g", "L", "l", "mol", "s", "m", "eq", "osm", "U", "kat", "Pa", "bar", "Cel", "m[Hg]", "m[H2O]",
        "10*", "10^", "%", "min", "h", "d", "wk", "mo", "a",
    }
)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# The units table (mappings/units.yaml), read once
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _UnitsTable:
    aliases: dict[str, str]
    analyte_aliases: dict[str, dict[str, str]]  # system|code -> {spelling: UCUM}
    molar_masses: dict[str, tuple[str, Decimal]]  # system|code -> (analyte, g/mol)


@lru_cache(maxsize=1)
def _table() -> _UnitsTable:
    return load_units_table(UNITS_YAML)


def load_units_table(path: Path) -> _UnitsTable:
    """Read and check a units table; raises MappingError when it is missing or malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"units table {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"units table {path}: expected a mapping at the top level")

    def str_map(obj: Any, where: str) -> dict[str, str]:
        if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()):
            raise MappingError(f"units table {path}: {where} must map unit spellings to UCUM strings")
        return dict(obj)

    aliases = str_map(data.get("aliases") or {}, "aliases")

    analyte_aliases: dict[str, dict[str, str]] = {}
    for i, item in enumerate(data.get("analyte_aliases") or []):
        if not isinstance(item, dict) or not isinstance(item.get("codes"), list):
            raise MappingError(f"units table {path}: analyte_aliases[{i}] needs codes and aliases")
        spellings = str_map(item.get("aliases"), f"analyte_aliases[{i}].aliases")
        for code in item["codes"]:
            analyte_aliases.setdefault(str(code), {}).update(spellings)

    molar_masses: dict[str, tuple[str, Decimal]] = {}
    for i, item in enumerate(data.get("molar_masses") or []):
        try:
            analyte = str(item["analyte"])
            mass = Decimal(str(item["g_per_mol"]))
            codes = [str(c) for c in item["codes"]]
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise MappingError(f"units table {path}: molar_masses[{i}] needs analyte, g_per_mol and codes") from exc
        if not mass.is_finite() or mass <= 0:
            raise MappingError(f"units table {path}: molar_masses[{i}] g_per_mol must be positive")
        for code in codes:
            if "|" not in code:
                raise MappingError(f"units table {path}: molar_masses[{i}] code {code!r} is not system|code")
            previous = molar_masses.get(code)
            if previous and previous[1] != mass:
                raise MappingError(f"units table {path}: {code} has two molar masses")
            molar_masses[code] = (analyte, mass)
    return _UnitsTable(aliases, analyte_aliases, molar_masses)


def molar_mass_for(codes: Iterable[str]) -> Decimal | None:
    """Molar mass (g/mol) for a result coded with any of ``codes`` (``system|code``).

    None when no code is known, or when the codes point at analytes with different masses.
    """
    table = _table().molar_masses
    found = {table[c][1] for c in codes if c in table}
    return found.pop() if len(found) == 1 else None


# --------------------------------------------------------------------------------------------------
# UCUM parsing (ucumvert), lazily initialised and cached
# --------------------------------------------------------------------------------------------------

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _parser() -> Any:
    parser = _state.get("parser")
    if parser is None:
        with _lock:
            parser = _state.get("parser")
            if parser is None:
                from ucumvert import get_ucum_parser

                parser = _state["parser"] = get_ucum_parser()
    return parser


def _pint() -> tuple[Any, Any]:
    """(registry, transformer): a private pint registry with ucumvert's UCUM definitions."""
    pair = _state.get("pint")
    if pair is None:
        with _lock:
            pair = _state.get("pint")
            if pair is None:
                import pint
                import ucumvert
                from ucumvert import UcumToPintTransformer

                registry = pint.UnitRegistry()
                registry.load_definitions(Path(ucumvert.__file__).resolve().parent / "pint_ucum_defs.txt")
                pair = _state["pint"] = (registry, UcumToPintTransformer(ureg=registry))
    return pair


def _arbitrary_atoms() -> frozenset[str]:
    atoms = _state.get("arbitrary")
    if atoms is None:
        with _lock:
            atoms = _state.get("arbitrary")
            if atoms is None:
                from ucumvert.xml_util import get_units_with_full_definition

                atoms = _state["arbitrary"] = frozenset(
                    u.code_cs for u in get_units_with_full_definition() if u.is_arbitrary
                )
    return atoms


@dataclass(frozen=True, slots=True)
class _Parsed:
    tree: Any  # lark Tree, or None when invalid
    error: str | None
    tokens: tuple[tuple[str, str], ...]  # (token type, value)


@lru_cache(maxsize=4096)
def _parse(unit: str) -> _Parsed:
    from lark import Token
    from ucumvert import InvalidUcumError, parse_ucum

    if not unit or unit != unit.strip():
        return _Parsed(None, "empty or padded unit", ())
    try:
        tree = parse_ucum(unit, _parser())
    except InvalidUcumError as exc:
        return _Parsed(None, str(exc).splitlines()[0], ())
    except Exception as exc:  # lark raises a few other error types on odd input
        return _Parsed(None, f"{unit!r} is not a valid UCUM unit ({type(exc).__name__})", ())
    tokens = tuple((t.type, str(t)) for t in tree.scan_values(lambda v: isinstance(v, Token)))
    return _Parsed(tree, None, tokens)


def is_ucum(unit: str) -> bool:
    """True when ``unit`` is a syntactically valid UCUM code (case-sensitive)."""
    return _parse(unit).tree is not None


def _is_safe_text_ucum(unit: str) -> bool:
    """Valid UCUM that reads the same for a human: lower-case prefixes and common lab atoms only."""
    parsed = _parse(unit)
    if parsed.tree is None:
        return False
    if unit != "1" and all(kind == "FACTOR" for kind, _ in parsed.tokens):
        return False  # a bare number ("7", "258814008") in a text field is not a unit
    for kind, value in parsed.tokens:
        if kind == "PREFIX_SHORT" and value not in _TEXT_PREFIXES:
            return False
        if kind == "PREFIX_LONG":
            return False
        if (
            kind in ("UNIT_METRIC", "UNIT_NON_METRIC")
            and value not in _TEXT_ATOMS
            and not (value.startswith("[") and value.endswith("]"))
        ):
            return False
    return True


# --------------------------------------------------------------------------------------------------
# normalize_unit
# --------------------------------------------------------------------------------------------------


def _clean(unit: str) -> str:
    return _BLANKS.sub("", unit).translate(_MICRO_SIGNS)


def _alias(unit: str, aliases: dict[str, str]) -> str | None:
    hit = aliases.get(unit)
    if hit is None:
        stripped = _BLANKS.sub("", unit)
        hit = aliases.get(stripped)
        if hit is None:
            hit = aliases.get(stripped.translate(_MICRO_SIGNS))
    return hit


@lru_cache(maxsize=4096)
def _normalize_cached(code: str | None, unit_text: str | None, system: str | None) -> str | None:
    aliases = _table().aliases
    if code:
        hit = _alias(code, aliases)
        if hit is not None:
            return hit
        if system == UCUM_SYSTEM:
            if is_ucum(code):
                return code
            cleaned = _clean(code)
            if cleaned != code and is_ucum(cleaned):
                return cleaned
        elif not system:
            # A code without a system is not a valid Quantity (qty-3); read it like text.
            cleaned = _clean(code)
            if _is_safe_text_ucum(cleaned):
                return cleaned
        # A code from another system (SNOMED, a local lab system) is never parsed as UCUM.
    if unit_text:
        hit = _alias(unit_text, aliases)
        if hit is not None:
            return hit
        cleaned = _clean(unit_text)
        if _is_safe_text_ucum(cleaned):
            return cleaned
    return None


def normalize_unit(
    code: str | None,
    unit_text: str | None,
    system: str | None,
    *,
    analyte_codes: Iterable[str] | None = None,
) -> str | None:
    """The UCUM code to use for a FHIR Quantity (``code``, ``unit``, ``system``), or None.

    Order: the alias table for ``code``; ``code`` itself when ``system`` is UCUM; ``unit`` text
    through the alias table, then as (unambiguous) UCUM. A code of another system (e.g. SNOMED
    258814008) is only looked up in the alias table. When nothing general applies and
    ``analyte_codes`` (``system|code`` of the Observation) are given, the per-analyte aliases are
    tried (``IU/L`` is ``U/L`` for ALT/AST, but not for hCG).
    """
    result = _normalize_cached(code or None, unit_text or None, system or None)
    if result is None and analyte_codes:
        per_analyte = _table().analyte_aliases
        for analyte in analyte_codes:
            spellings = per_analyte.get(analyte)
            if spellings:
                for candidate in (code, unit_text):
                    if candidate:
                        hit = _alias(candidate, spellings)
                        if hit is not None:
                            return hit
    return result


# --------------------------------------------------------------------------------------------------
# convert
# --------------------------------------------------------------------------------------------------

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
    parsed = _parse(code)
    if parsed.tree is None:
        return f"unknown unit {code!r}: {parsed.error or 'not valid UCUM'}"
    registry, transformer = _pint()
    try:
        quantity = transformer.transform(parsed.tree)
    except Exception as exc:  # lark VisitError wrapping pint's UndefinedUnitError, ...
        reason = str(getattr(exc, "orig_exc", exc)).strip().splitlines()[-1]
        return f"UCUM unit {code!r} has no conversion definition ({reason})"
    if not isinstance(quantity, registry.Quantity):  # an annotation alone, e.g. {INR}
        quantity = registry.Quantity(1, "dimensionless")
    arbitrary_atoms = _arbitrary_atoms()
    arbitrary = tuple(
        sorted(v for k, v in parsed.tokens if k in ("UNIT_METRIC", "UNIT_NON_METRIC") and v in arbitrary_atoms)
    )
    significant = tuple(
        sorted(v.replace(" ", "") for k, v in parsed.tokens if k == "ANNOTATION" and _SIGNIFICANT_ANNOTATION.search(v))
    )
    return _Unit(code, quantity, arbitrary, significant)


def _to_decimal(x: float | int) -> Decimal:
    return _FACTOR_CTX.plus(Decimal(repr(float(x))) if not isinstance(x, int) else Decimal(x))


@lru_cache(maxsize=4096)
def _conversion(from_unit: str, to_unit: str, molar_mass: Decimal | None) -> tuple[Decimal, Decimal] | str:
    """(factor, offset) so that to = value * factor + offset; or an error message. Cached."""
    import pint

    source = _unit(from_unit)
    if isinstance(source, str):
        return f"cannot convert {from_unit!r} to {to_unit!r}: {source}"
    target = _unit(to_unit)
    if isinstance(target, str):
        return f"cannot convert {from_unit!r} to {to_unit!r}: {target}"
    prefix = f"cannot convert {from_unit!r} to {to_unit!r}"
    if source.arbitrary != target.arbitrary:
        names = ", ".join(sorted(set(source.arbitrary) ^ set(target.arbitrary)))
        return f"{prefix}: arbitrary unit {names} is commensurable only with itself (UCUM)"
    if source.significant_annotations != target.significant_annotations:
        return (
            f"{prefix}: the annotations {list(source.significant_annotations)} and "
            f"{list(target.significant_annotations)} differ (a rate per 1.73 m² body surface is not an "
            "absolute rate)"
        )
    registry = source.quantity._REGISTRY
    try:
        ratio = (source.quantity / target.quantity).to_base_units()
    except pint.errors.OffsetUnitCalculusError:
        return _affine(source, target, prefix)
    dims = ratio.dimensionality
    if not dims:
        return (_to_decimal(ratio.magnitude), Decimal(0))
    substance_per_mass = registry.Quantity(1, "mol/g").dimensionality
    if dims == substance_per_mass or dims == 1 / substance_per_mass:
        if molar_mass is None:
            return (
                f"{prefix}: {from_unit} is {_describe(source.quantity.dimensionality)} and {to_unit} "
                f"{_describe(target.quantity.dimensionality)}; converting needs the analyte's molar "
                "mass, and none was given"
            )
        if not molar_mass.is_finite() or molar_mass <= 0:
            return f"{prefix}: molar mass {molar_mass} g/mol is not a positive number"
        if dims == substance_per_mass:  # substance -> mass: multiply by g/mol
            factor = _to_decimal(ratio.to("mol/g").magnitude) * molar_mass
        else:  # mass -> substance
            factor = _to_decimal(ratio.to("g/mol").magnitude) / molar_mass
        return (_FACTOR_CTX.plus(factor), Decimal(0))
    return (
        f"{prefix}: {from_unit} is {_describe(source.quantity.dimensionality)} and {to_unit} is "
        f"{_describe(target.quantity.dimensionality)}; they are not commensurable"
    )


def _affine(source: _Unit, target: _Unit, prefix: str) -> tuple[Decimal, Decimal] | str:
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


def _tidy(d: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation (90, not 9E+1)."""
    d = d.normalize(_RESULT_CTX)
    if d.as_tuple().exponent > 0:  # type: ignore[operator]
        d = d.quantize(Decimal(1))
    return d


def convert(
    value: Decimal,
    from_unit: str,
    to_unit: str,
    *,
    molar_mass: Decimal | None = None,
) -> Decimal:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (UCUM codes), rounded to 12 significant digits.

    Raises UnitConversionError (message names both units and why) when a unit is unknown or not
    UCUM, when the units are not commensurable, or when a mass <-> substance conversion has no
    ``molar_mass`` (g/mol).
    """
    if not isinstance(value, Decimal):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UnitConversionError(f"cannot convert {value!r}: not a number")
        value = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not value.is_finite():
        raise UnitConversionError(f"cannot convert {value} {from_unit}: not a finite number")
    if molar_mass is not None and not isinstance(molar_mass, Decimal):
        molar_mass = Decimal(str(molar_mass))
    try:
        conversion = _conversion(from_unit, to_unit, molar_mass)
    except TypeError:  # unhashable unit argument
        raise UnitConversionError(f"cannot convert {from_unit!r} to {to_unit!r}: not unit codes") from None
    if isinstance(conversion, str):
        raise UnitConversionError(conversion)
    factor, offset = conversion
    result = _RESULT_CTX.multiply(value, factor)
    if offset:
        result = _RESULT_CTX.add(result, offset)
    return _tidy(result)


def warm_up() -> None:
    """Load the units table, the UCUM parser and the pint registry now, not on first use (~0.5 s)."""
    table = _table()
    _pint()
    _arbitrary_atoms()
    for target in table.aliases.values():
        _parse(target)
