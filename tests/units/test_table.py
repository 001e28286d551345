"""adapter.units.table: the units table (mappings/units.yaml), its checks and its molar masses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapter.errors import MappingError
from adapter.units import convert, is_ucum, load_unit_table, load_units_table

pytestmark: list[pytest.MarkDecorator] = []

D = Decimal
LOINC = "http://loinc.org|"
UNITS_YAML = Path(__file__).resolve().parents[2] / "mappings" / "units.yaml"


def test_every_alias_target_is_valid_ucum(unit_table):
    targets = set(unit_table.aliases.values())
    for spellings in unit_table.analyte_aliases.values():
        targets.update(spellings.values())
    invalid = sorted(t for t in targets if not is_ucum(t))
    assert not invalid


def test_aliases_that_are_valid_ucum_mean_the_same(unit_table):
    """An alias may only rename a valid UCUM code to an equal one (K/uL = kelvin is the known exception)."""
    deliberate = {"K/uL", "K/mm3"}
    for spelling, target in unit_table.aliases.items():
        if spelling in deliberate or not is_ucum(spelling):
            continue
        assert convert(D("1"), spelling, target) == D("1"), spelling


def test_micro_sign_aliases_are_listed(unit_table):
    aliases = unit_table.aliases
    assert aliases["µmol/l"] == "umol/L" and aliases["μmol/L"] == "umol/L"
    assert aliases["K/uL"] == "10*3/uL"
    assert "IU/L" not in aliases  # only per analyte


def test_molar_mass_for(unit_table):
    molar_mass_for = unit_table.molar_mass_for
    assert molar_mass_for([LOINC + "59260-0"]) == D("16110")
    for code in ("2160-0", "38483-4", "14682-9", "59826-8"):
        assert molar_mass_for([LOINC + code]) == D("113.12")
    for code in ("1975-2", "14631-6"):
        assert molar_mass_for([LOINC + code]) == D("584.66")
    for code in ("1558-6", "2345-7", "2339-0"):
        assert molar_mass_for([LOINC + code]) == D("180.16")
    assert molar_mass_for([LOINC + "777-3"]) is None
    assert molar_mass_for([]) is None
    assert molar_mass_for(["http://snomed.info/sct|1", LOINC + "718-7"]) == D("16110")
    # codes of two analytes: ambiguous
    assert molar_mass_for([LOINC + "718-7", LOINC + "2160-0"]) is None


def test_units_table_errors(tmp_path):
    with pytest.raises(MappingError):
        load_units_table(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("aliases: [1, 2]\n", encoding="utf-8")
    with pytest.raises(MappingError):
        load_units_table(bad)
    bad.write_text("molar_masses:\n  - {analyte: x, g_per_mol: -1, codes: ['a|b']}\n", encoding="utf-8")
    with pytest.raises(MappingError):
        load_units_table(bad)
    bad.write_text("molar_masses:\n  - {analyte: x, g_per_mol: 1, codes: ['nocode']}\n", encoding="utf-8")
    with pytest.raises(MappingError):
        load_units_table(bad)
    assert load_units_table(UNITS_YAML).molar_masses


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("aliases: [", "cannot be read"),
        ("- 1\n", "mapping at the top level"),
        ("analyte_aliases:\n  - {aliases: {a: b}}\n", r"analyte_aliases\[0\] needs codes"),
        ("analyte_aliases:\n  - {codes: ['a|b'], aliases: {a: 1}}\n", "must map unit spellings"),
        ("molar_masses:\n  - {analyte: x, codes: ['a|b']}\n", "needs analyte, g_per_mol and codes"),
        (
            "molar_masses:\n  - {analyte: x, g_per_mol: 1, codes: ['a|b']}\n"
            "  - {analyte: y, g_per_mol: 2, codes: ['a|b']}\n",
            "two molar masses",
        ),
    ],
)
def test_load_unit_table_names_source_and_problem(text, message):
    with pytest.raises(MappingError, match=message) as info:
        load_unit_table(text, "site/units.yaml")
    assert "site/units.yaml" in str(info.value)


def test_table_from_text_equals_table_from_file(unit_table):
    table = load_unit_table(UNITS_YAML.read_text(encoding="utf-8"), "units.yaml")
    assert table.aliases == unit_table.aliases
    assert table.analyte_aliases == unit_table.analyte_aliases
    assert table.molar_masses == unit_table.molar_masses
    assert table.normalize(None, "x10E3/uL", None) == "10*3/uL"
