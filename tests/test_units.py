"""adapter.units: UCUM conversion, unit normalisation and the units table."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from adapter.errors import AdapterError, UnitConversionError
from adapter.units import (
    UCUM_SYSTEM,
    UNITS_YAML,
    _table,
    convert,
    is_ucum,
    load_units_table,
    molar_mass_for,
    normalize_unit,
    warm_up,
)

D = Decimal
LOINC = "http://loinc.org|"
HB_MOLAR = molar_mass_for([LOINC + "718-7"])
CREAT_MOLAR = molar_mass_for([LOINC + "2160-0"])
BILI_MOLAR = molar_mass_for([LOINC + "1975-2"])
GLUC_MOLAR = molar_mass_for([LOINC + "1558-6"])


# ---------------------------------------------------------------------------------------------- counts


def test_per_microlitre_to_10e9_per_litre():
    assert convert(D("150000"), "/uL", "10*9/L") == D("150")


def test_10e3_per_microlitre_is_10e9_per_litre():
    assert convert(D("250"), "10*3/uL", "10*9/L") == D("250")
    assert convert(D("165.32502210572153"), "10*3/uL", "10*9/L") == D("165.325022106")


def test_10e9_per_litre_is_not_90_per_litre():
    # plain pint reads 10*9/L as 90/L; UCUM means 10^9 per litre
    assert convert(D("1"), "10*9/L", "/L") == D("1000000000")
    assert convert(D("1"), "10*9/L", "/uL") == D("1000")
    assert convert(D("90"), "/L", "10*9/L") == D("9E-8")


def test_per_cubic_millimetre_is_per_microlitre():
    assert convert(D("1500"), "/mm3", "10*9/L") == D("1.5")


# ---------------------------------------------------------------------------------- concentrations


def test_g_per_dl_to_g_per_l_is_exact():
    result = convert(D("9.0"), "g/dL", "g/L")
    assert result == D("90")
    assert str(result) == "90"  # no float noise, no exponent notation
    assert convert(D("13.311348747308667"), "g/dL", "g/L") == D("133.113487473")


def test_hemoglobin_mmol_per_l_to_g_per_l():
    assert molar_mass_for([LOINC + "718-7"]) == D("16110")
    assert convert(D("5.6"), "mmol/L", "g/L", molar_mass=HB_MOLAR) == D("90.216")
    assert convert(D("90"), "g/L", "mmol/L", molar_mass=HB_MOLAR) == D("5.58659217877")
    assert convert(D("59260"), "mmol/L", "mmol/L") == D("59260")


def test_creatinine_mg_per_dl_and_umol_per_l():
    assert molar_mass_for([LOINC + "2160-0"]) == D("113.12")
    one = convert(D("1"), "mg/dL", "umol/L", molar_mass=CREAT_MOLAR)
    assert abs(one - D("88.4")) < D("0.01")
    assert convert(D("0.9"), "mg/dL", "umol/L", molar_mass=CREAT_MOLAR) == D("79.5615275813")
    back = convert(D("88.4"), "umol/L", "mg/dL", molar_mass=CREAT_MOLAR)
    assert abs(back - D("1")) < D("0.0001")


def test_bilirubin_and_glucose():
    assert abs(convert(D("1"), "mg/dL", "umol/L", molar_mass=BILI_MOLAR) - D("17.1")) < D("0.01")
    assert convert(D("1"), "mmol/L", "mg/dL", molar_mass=GLUC_MOLAR) == D("18.016")
    assert convert(D("180.16"), "mg/dL", "mmol/L", molar_mass=GLUC_MOLAR) == D("10")


def test_molar_mass_can_be_given_as_number():
    assert convert(D("1"), "mmol/L", "mg/dL", molar_mass=180.16) == D("18.016")  # type: ignore[arg-type]


def test_missing_molar_mass_raises():
    with pytest.raises(UnitConversionError, match=r"'mg/dL'.*'umol/L'.*molar mass"):
        convert(D("1"), "mg/dL", "umol/L")
    with pytest.raises(UnitConversionError, match="molar mass"):
        convert(D("5.6"), "mmol/L", "g/L")


def test_bad_molar_mass_raises():
    with pytest.raises(UnitConversionError, match="positive"):
        convert(D("1"), "mg/dL", "umol/L", molar_mass=D("0"))


# ----------------------------------------------------------------------------- vitals, times, weights


def test_pressure_time_weight_rate():
    assert convert(D("150"), "mm[Hg]", "mm[Hg]") == D("150")
    assert convert(D("120"), "mm[Hg]", "kPa") == D("15.9986864898")
    assert convert(D("440"), "ms", "s") == D("0.44")
    assert convert(D("0.45"), "s", "ms") == D("450")
    assert convert(D("1"), "[lb_av]", "kg") == D("0.45359237")
    assert convert(D("150"), "[lb_av]", "kg") == D("68.0388555")
    assert convert(D("60"), "mL/min", "L/h") == D("3.6")
    assert convert(D("1"), "mL/s", "mL/min") == D("60")


def test_temperatures_are_affine():
    assert convert(D("37"), "Cel", "[degF]") == D("98.6")
    assert convert(D("98.6"), "[degF]", "Cel") == D("37")


def test_dimensionless_and_annotations():
    assert convert(D("1.2"), "{INR}", "1") == D("1.2")
    assert convert(D("1.2"), "1", "{INR}") == D("1.2")
    assert convert(D("50"), "%", "1") == D("0.5")
    assert convert(D("150"), "{cells}/uL", "10*9/L") == D("0.15")


def test_body_surface_annotation_is_significant():
    # eGFR per 1.73 m² is not a creatinine clearance in mL/min
    with pytest.raises(UnitConversionError, match=r"1\.73"):
        convert(D("60"), "mL/min/{1.73_m2}", "mL/min")
    assert convert(D("60"), "mL/min/{1.73_m2}", "mL/s/{1.73_m2}") == D("1")


def test_enzyme_units():
    assert convert(D("30"), "U/L", "ukat/L") == D("0.5")
    with pytest.raises(UnitConversionError, match="catalytic"):
        convert(D("30"), "U/L", "mmol/L", molar_mass=D("1"))


def test_arbitrary_units_only_with_themselves():
    assert convert(D("5"), "m[IU]/mL", "[IU]/L") == D("5")
    with pytest.raises(UnitConversionError, match=r"arbitrary unit \[IU\]"):
        convert(D("5"), "[IU]/L", "U/L")
    with pytest.raises(UnitConversionError, match="arbitrary"):
        convert(D("5"), "[IU]/L", "/L")


# ------------------------------------------------------------------------------------------- errors


def test_unknown_unit_raises_with_both_units():
    with pytest.raises(UnitConversionError) as info:
        convert(D("1"), "furlongs", "g/L")
    assert "'furlongs'" in str(info.value) and "'g/L'" in str(info.value)
    assert isinstance(info.value, AdapterError)


def test_non_ucum_spelling_is_refused_by_convert():
    with pytest.raises(UnitConversionError):
        convert(D("1"), "mEq/L", "mmol/L")  # UCUM is meq/L; normalize_unit knows the alias
    with pytest.raises(UnitConversionError):
        convert(D("1"), "x10E3/uL", "10*9/L")
    with pytest.raises(UnitConversionError, match="temperature"):
        convert(D("189"), "K/uL", "10*9/L")  # as UCUM: kelvin per microlitre


def test_incommensurable_units_raise():
    with pytest.raises(UnitConversionError, match="not commensurable"):
        convert(D("90"), "g/L", "10*9/L")
    with pytest.raises(UnitConversionError, match="not commensurable"):
        convert(D("1"), "kg", "mL/min")


def test_valid_ucum_without_definition_raises():
    with pytest.raises(UnitConversionError, match=r"\[pH\]"):
        convert(D("7"), "[pH]", "1")


def test_bad_values_raise():
    with pytest.raises(UnitConversionError):
        convert(D("NaN"), "g/L", "g/dL")
    with pytest.raises(UnitConversionError):
        convert("9", "g/L", "g/dL")  # type: ignore[arg-type]
    assert convert(9, "g/dL", "g/L") == D("90")  # type: ignore[arg-type]


def test_errors_are_cached_and_repeatable():
    for _ in range(3):
        with pytest.raises(UnitConversionError, match="not commensurable"):
            convert(D("1"), "g/L", "10*9/L")


def test_cached_conversion_costs_microseconds():
    warm_up()
    convert(D("1"), "mg/dL", "umol/L", molar_mass=CREAT_MOLAR)
    n = 2000
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            convert(D("1.06"), "mg/dL", "umol/L", molar_mass=CREAT_MOLAR)
        best = min(best, (time.perf_counter() - start) / n)
    assert best < 50e-6  # measured ~1-2 µs; generous for loaded machines


# ------------------------------------------------------------------------------------ normalize_unit


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
def test_normalize_unit(code, text, system, expected):
    assert normalize_unit(code, text, system) == expected


def test_unit_with_only_display_text():
    assert normalize_unit(None, "mg/dL", None) == "mg/dL"
    assert normalize_unit(None, "g/L", None) == "g/L"
    assert normalize_unit("", "umol/L", "") == "umol/L"


def test_code_without_text_and_ucum_system():
    # AU bundle: system + code, no unit text
    assert normalize_unit("g/L", None, UCUM_SYSTEM) == "g/L"


def test_non_ucum_system_code_is_not_parsed_but_text_is():
    # FHIR core f204: SNOMED 258814008 (= umol/L) as code; the text is valid UCUM
    assert normalize_unit("258814008", "umol/L", "http://snomed.info/sct") == "umol/L"
    assert normalize_unit("258814008", None, "http://snomed.info/sct") is None
    # a number as text is not a unit
    assert normalize_unit(None, "7", None) is None


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
def test_normalize_unit_gives_none_when_nothing_usable(code, text, system):
    assert normalize_unit(code, text, system) is None


def test_per_analyte_alias():
    alt = [LOINC + "1742-6"]
    assert normalize_unit("IU/L", "IU/L", UCUM_SYSTEM, analyte_codes=alt) == "U/L"
    assert normalize_unit(None, "IU/L", None, analyte_codes=[LOINC + "1920-8"]) == "U/L"
    assert normalize_unit("IU/L", "IU/L", UCUM_SYSTEM, analyte_codes=[LOINC + "21198-7"]) is None
    # a general answer is not overridden by the analyte
    assert normalize_unit("U/L", "IU/L", UCUM_SYSTEM, analyte_codes=alt) == "U/L"


def test_invalid_ucum_code_falls_back_to_text():
    assert normalize_unit("mg/dL ", "mg/dL", UCUM_SYSTEM) == "mg/dL"
    assert normalize_unit("milligrams", "mg/dL", UCUM_SYSTEM) == "mg/dL"


def test_is_ucum():
    assert is_ucum("10*9/L") and is_ucum("mL/min/{1.73_m2}") and is_ucum("{INR}")
    assert not is_ucum("x10E3/uL") and not is_ucum("") and not is_ucum(" g/L")


# ------------------------------------------------------------------------------------- units table


def test_every_alias_target_is_valid_ucum():
    table = _table()
    targets = set(table.aliases.values())
    for spellings in table.analyte_aliases.values():
        targets.update(spellings.values())
    invalid = sorted(t for t in targets if not is_ucum(t))
    assert not invalid


def test_aliases_that_are_valid_ucum_mean_the_same():
    """An alias may only rename a valid UCUM code to an equal one (K/uL = kelvin is the known exception)."""
    deliberate = {"K/uL", "K/mm3"}
    for spelling, target in _table().aliases.items():
        if spelling in deliberate or not is_ucum(spelling):
            continue
        assert convert(D("1"), spelling, target) == D("1"), spelling


def test_micro_sign_aliases_are_listed():
    aliases = _table().aliases
    assert aliases["µmol/l"] == "umol/L" and aliases["μmol/L"] == "umol/L"
    assert aliases["K/uL"] == "10*3/uL"
    assert "IU/L" not in aliases  # only per analyte


def test_molar_mass_for():
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
    from adapter.errors import MappingError

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
