"""Reading the unit of a FHIR Quantity (``code``, ``unit``, ``system``) as a UCUM code.

A code whose ``system`` is UCUM is trusted (the sender's assertion). Free text (``unit``, or a code
without a system) is read as UCUM only when it uses unambiguous atoms: no upper-case prefixes or
one-letter atoms (text ``ML`` would be a megalitre, ``G/L`` gauss per litre), so those give None unless
the alias table knows them. Aliases are data (`mappings/units.yaml`, see `adapter.units.table`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from adapter.units.ucum import UCUM_SYSTEM, is_ucum, parse_facts

_MICRO_SIGNS = str.maketrans({"\u00b5": "u", "\u03bc": "u"})
_BLANKS = re.compile(r"\s+")

# Atoms/prefixes accepted when a unit is read from free text rather than a UCUM-coded field.
_TEXT_PREFIXES = frozenset({"k", "h", "d", "c", "m", "u", "n", "p", "f"})
_TEXT_ATOMS = frozenset(
    {
        "g", "L", "l", "mol", "s", "m", "eq", "osm", "U", "kat", "Pa", "bar", "Cel", "m[Hg]", "m[H2O]",
        "10*", "10^", "%", "min", "h", "d", "wk", "mo", "a",
    }
)  # fmt: skip


def _token_reads_plainly(kind: str, value: str) -> bool:
    if kind == "PREFIX_SHORT":
        return value in _TEXT_PREFIXES
    if kind == "PREFIX_LONG":
        return False
    if kind in ("UNIT_METRIC", "UNIT_NON_METRIC"):
        return value in _TEXT_ATOMS or (value.startswith("[") and value.endswith("]"))
    return True


def is_safe_text_ucum(unit: str) -> bool:
    """Valid UCUM that reads the same for a human: lower-case prefixes and common lab atoms only."""
    facts = parse_facts(unit)
    if not facts.valid:
        return False
    if unit != "1" and all(kind == "FACTOR" for kind, _ in facts.tokens):
        return False  # a bare number ("7", "258814008") in a text field is not a unit
    return all(_token_reads_plainly(kind, value) for kind, value in facts.tokens)


def clean(unit: str) -> str:
    """Without blanks, micro signs read as UCUM's ``u``."""
    return _BLANKS.sub("", unit).translate(_MICRO_SIGNS)


def alias(unit: str, aliases: Mapping[str, str]) -> str | None:
    """The alias for ``unit`` as written, without blanks, or with micro signs read as ``u``."""
    hit = aliases.get(unit)
    if hit is None:
        stripped = _BLANKS.sub("", unit)
        hit = aliases.get(stripped)
        if hit is None:
            hit = aliases.get(stripped.translate(_MICRO_SIGNS))
    return hit


def _from_code(aliases: Mapping[str, str], code: str, system: str | None) -> str | None:
    hit = alias(code, aliases)
    if hit is not None:
        return hit
    if system == UCUM_SYSTEM:
        if is_ucum(code):
            return code
        cleaned = clean(code)
        if cleaned != code and is_ucum(cleaned):
            return cleaned
    elif not system:
        # A code without a system is not a valid Quantity (qty-3); read it like text.
        cleaned = clean(code)
        if is_safe_text_ucum(cleaned):
            return cleaned
    # A code from another system (SNOMED, a local lab system) is never parsed as UCUM.
    return None


def _from_text(aliases: Mapping[str, str], unit_text: str) -> str | None:
    hit = alias(unit_text, aliases)
    if hit is not None:
        return hit
    cleaned = clean(unit_text)
    return cleaned if is_safe_text_ucum(cleaned) else None


def normalize(aliases: Mapping[str, str], code: str | None, unit_text: str | None, system: str | None) -> str | None:
    """The UCUM code for a Quantity from the general rules and ``aliases``, or None."""
    result = _from_code(aliases, code, system) if code else None
    if result is None and unit_text:
        result = _from_text(aliases, unit_text)
    return result


def analyte_alias(
    code: str | None,
    unit_text: str | None,
    analyte_codes: Iterable[str],
    analyte_aliases: Mapping[str, Mapping[str, str]],
) -> str | None:
    """The per-analyte alias for ``code`` or ``unit_text`` (``IU/L`` is ``U/L`` for ALT), or None."""
    for analyte in analyte_codes:
        spellings = analyte_aliases.get(analyte)
        if not spellings:
            continue
        for candidate in (code, unit_text):
            if candidate:
                hit = alias(candidate, spellings)
                if hit is not None:
                    return hit
    return None
