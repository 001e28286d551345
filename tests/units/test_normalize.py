"""Reading a FHIR Quantity's unit: `UnitTable.normalize` with the rules of adapter.units.normalize."""

from __future__ import annotations

import pytest

from adapter.units import UCUM_SYSTEM
from adapter.units.normalize import alias, clean, is_safe_text_ucum

pytestmark: list[pytest.MarkDecorator] = []

LOINC = "http://loinc.org|"


@pytest.mark.parametrize(
    ("code", "text", "system", "expected"),
    [
        ("10*9/L", "10*9/L", UCUM_SYSTEM, "10*9/L"),
        ("K/uL", "K/uL", UCUM_SYSTEM, "10*3/uL"),  # Synthea 26515-7
        (None, "x10E3/uL", None, "10*3/uL"),
        (None, "10^3/uL", None, "10*3/uL"),
        (None, "10^9/L", None, "10*9/L"),
        (None, "x10^9/L", None, "10*9/L"),
        (None, "× 10^9/L", None, "10*9/L"),
        ("umol/L", "µmol/l", UCUM_SYSTEM, "umol/L"),  # MII: code wins
        (None, "µmol/l", None, "umol/L"),  # micro sign U+00B5
        (None, "μmol/L", None, "umol/L"),  # Greek mu U+03BC
        (None, "µg/L", None, "ug/L"),  # micro signs read as u, no alias needed
        (None, "mg/dl", None, "mg/dL"),
        (None, "MG/DL", None, "mg/dL"),
        (None, "mmHg", None, "mm[Hg]"),
        (None, "mm Hg", None, "mm[Hg]"),
        (None, "/mm3", None, "/mm3"),
        (None, "mEq/L", None, "meq/L"),
        (None, "mL/min/1.73m2", None, "mL/min/{1.73_m2}"),
        (None, "lbs", None, "[lb_av]"),
        ("mm[Hg]", None, UCUM_SYSTEM, "mm[Hg]"),
        ("{INR}", "{INR}", UCUM_SYSTEM, "{INR}"),
        ("1", None, UCUM_SYSTEM, "1"),
        (None, "INR", None, "{INR}"),
    ],
)
def test_normalize_unit(unit_table, code, text, system, expected):
    assert unit_table.normalize(code, text, system) == expected


def test_unit_with_only_display_text(unit_table):
    assert unit_table.normalize(None, "mg/dL", None) == "mg/dL"
    assert unit_table.normalize(None, "g/L", None) == "g/L"
    assert unit_table.normalize("", "umol/L", "") == "umol/L"


def test_code_without_text_and_ucum_system(unit_table):
    # AU bundle: system + code, no unit text
    assert unit_table.normalize("g/L", None, UCUM_SYSTEM) == "g/L"


def test_non_ucum_system_code_is_not_parsed_but_text_is(unit_table):
    # FHIR core f204: SNOMED 258814008 (= umol/L) as code; the text is valid UCUM
    assert unit_table.normalize("258814008", "umol/L", "http://snomed.info/sct") == "umol/L"
    assert unit_table.normalize("258814008", None, "http://snomed.info/sct") is None
    # a number as text is not a unit
    assert unit_table.normalize(None, "7", None) is None


@pytest.mark.parametrize(
    ("code", "text", "system"),
    [
        (None, None, None),
        ("", "", ""),
        (None, "ML", None),  # would be a megalitre
        (None, "G/L", None),  # giga (French labs) or gram? ambiguous
        (None, "T/L", None),
        (None, "mM", None),
        (None, "cells", None),
        (None, "IU/L", None),  # enzyme U/L or WHO [IU]/L: depends on the analyte
        ("xyz", "xyz", UCUM_SYSTEM),
    ],
)
def test_normalize_unit_gives_none_when_nothing_usable(unit_table, code, text, system):
    assert unit_table.normalize(code, text, system) is None


def test_per_analyte_alias(unit_table):
    alt = [LOINC + "1742-6"]
    assert unit_table.normalize("IU/L", "IU/L", UCUM_SYSTEM, analyte_codes=alt) == "U/L"
    assert unit_table.normalize(None, "IU/L", None, analyte_codes=[LOINC + "1920-8"]) == "U/L"
    assert unit_table.normalize("IU/L", "IU/L", UCUM_SYSTEM, analyte_codes=[LOINC + "21198-7"]) is None
    # a general answer is not overridden by the analyte
    assert unit_table.normalize("U/L", "IU/L", UCUM_SYSTEM, analyte_codes=alt) == "U/L"


def test_invalid_ucum_code_falls_back_to_text(unit_table):
    assert unit_table.normalize("mg/dL ", "mg/dL", UCUM_SYSTEM) == "mg/dL"
    assert unit_table.normalize("milligrams", "mg/dL", UCUM_SYSTEM) == "mg/dL"


def test_unhashable_input_is_not_a_unit(unit_table):
    assert unit_table.normalize(["g/L"], None, UCUM_SYSTEM) is None  # type: ignore[arg-type]


def test_text_rules():
    assert clean(" µmol / l ") == "umol/l"
    assert alias("mg / dl", {"mg/dl": "mg/dL"}) == "mg/dL"
    assert alias("µmol/l", {"umol/l": "umol/L"}) == "umol/L"
    assert is_safe_text_ucum("mg/dL") and is_safe_text_ucum("[IU]/L") and is_safe_text_ucum("1")
    assert not is_safe_text_ucum("ML") and not is_safe_text_ucum("7") and not is_safe_text_ucum("Gg/L")
