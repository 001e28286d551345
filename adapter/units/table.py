"""The reviewed units table (`mappings/units.yaml`): aliases for non-UCUM spellings and molar masses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from adapter.errors import MappingError
from adapter.units.normalize import analyte_alias, normalize
from adapter.units.ucum import MEMO_LIMIT


@dataclass(frozen=True, eq=False)
class UnitTable:
    """The reviewed units table (`mappings/units.yaml`): aliases for non-UCUM spellings and molar masses.

    Immutable; normalisations are memoised per table (a bounded dict), never in module state.
    """

    aliases: Mapping[str, str]
    analyte_aliases: Mapping[str, Mapping[str, str]]  # system|code -> {spelling: UCUM}
    molar_masses: Mapping[str, tuple[str, Decimal]]  # system|code -> (analyte, g/mol)
    _memo: dict[tuple[str | None, str | None, str | None], str | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    def normalize(
        self,
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
        key = (code or None, unit_text or None, system or None)
        try:
            result = self._memo[key]
        except KeyError:
            result = normalize(self.aliases, *key)
            if len(self._memo) > MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = result
        except TypeError:  # unhashable input: not a unit
            return None
        if result is None and analyte_codes:
            return analyte_alias(code, unit_text, analyte_codes, self.analyte_aliases)
        return result

    def molar_mass_for(self, codes: Iterable[str]) -> Decimal | None:
        """Molar mass (g/mol) for a result coded with any of ``codes`` (``system|code``).

        None when no code is known, or when the codes point at analytes with different masses.
        """
        found = {self.molar_masses[c][1] for c in codes if c in self.molar_masses}
        return found.pop() if len(found) == 1 else None


def load_units_table(path: Path) -> UnitTable:
    """Read and check a units table file; raises MappingError when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"units table {path} cannot be read: {exc}") from exc
    return load_unit_table(text, str(path))


def load_unit_table(text: str, source: str) -> UnitTable:
    """Check a units table's YAML text; `source` names it in messages. Raises MappingError when malformed."""
    from adapter.yamlio import load_yaml  # only when a table is read: PyYAML's import costs ~10 ms

    try:  # the safe constructor, alias expansion bounded; one line naming the file
        data = load_yaml(text, source)
    except MappingError as exc:
        raise MappingError(f"units table {source} cannot be read: {str(exc).removeprefix(source + ':').strip()}") \
            from None
    if not isinstance(data, dict):
        raise MappingError(f"units table {source}: expected a mapping at the top level")
    aliases = _str_map(data.get("aliases") or {}, source, "aliases")
    analyte_aliases = _analyte_aliases(data.get("analyte_aliases") or [], source)
    molar_masses = _molar_masses(data.get("molar_masses") or [], source)
    return UnitTable(aliases, analyte_aliases, molar_masses)


def _str_map(obj: Any, source: str, where: str) -> dict[str, str]:
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()):
        raise MappingError(f"units table {source}: {where} must map unit spellings to UCUM strings")
    return dict(obj)


def _analyte_aliases(items: Any, source: str) -> dict[str, dict[str, str]]:
    analyte_aliases: dict[str, dict[str, str]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("codes"), list):
            raise MappingError(f"units table {source}: analyte_aliases[{i}] needs codes and aliases")
        spellings = _str_map(item.get("aliases"), source, f"analyte_aliases[{i}].aliases")
        for code in item["codes"]:
            analyte_aliases.setdefault(str(code), {}).update(spellings)
    return analyte_aliases


def _molar_masses(items: Any, source: str) -> dict[str, tuple[str, Decimal]]:
    molar_masses: dict[str, tuple[str, Decimal]] = {}
    for i, item in enumerate(items):
        try:
            analyte = str(item["analyte"])
            mass = Decimal(str(item["g_per_mol"]))
            codes = [str(c) for c in item["codes"]]
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise MappingError(f"units table {source}: molar_masses[{i}] needs analyte, g_per_mol and codes") from exc
        if not mass.is_finite() or mass <= 0:
            raise MappingError(f"units table {source}: molar_masses[{i}] g_per_mol must be positive")
        for code in codes:
            if "|" not in code:
                raise MappingError(f"units table {source}: molar_masses[{i}] code {code!r} is not system|code")
            previous = molar_masses.get(code)
            if previous and previous[1] != mass:
                raise MappingError(f"units table {source}: {code} has two molar masses")
            molar_masses[code] = (analyte, mass)
    return molar_masses
