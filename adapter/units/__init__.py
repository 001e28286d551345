"""Unit handling for lab values: UCUM parsing and conversion, and the unit of a FHIR Quantity.

Modules: `ucum` (parsing with ucumvert, the pint registry, `is_ucum`), `normalize` (reading a
Quantity's unit), `convert` (factors, temperatures, rounding), `table` (the units table),
`cache` (the persistent cache of parses and factors).

Public API
----------
``load_units_table(path) -> UnitTable`` / ``load_unit_table(text, source) -> UnitTable``
    The reviewed units table (``mappings/units.yaml``), checked; MappingError when malformed.
``UnitTable.normalize(code, unit_text, system, *, analyte_codes=None) -> str | None``
    The UCUM code to use for a FHIR Quantity, or None when nothing usable is there.
``UnitTable.molar_mass_for(codes) -> Decimal | None``
    The molar mass (g/mol) for an Observation with one of these ``system|code`` codes.
``convert(value, from_unit, to_unit, *, molar_mass=None) -> Decimal``
    Converts between UCUM units. Mass <-> substance conversions (g/L <-> mmol/L, mg/dL <-> umol/L)
    need the analyte's ``molar_mass`` in g/mol (``UnitTable.molar_mass_for``). Raises
    ``UnitConversionError`` naming both units and the reason.
``is_ucum(unit) -> bool``
``warm_up(table=None) -> None``
    Loads the UCUM parser and the pint registry now (~0.5 s) rather than on first use.
``seed_conversion_cache(text) -> bool`` / ``conversion_cache_snapshot() -> str``
    Load / dump (JSON text) what parsing and conversion learnt, so a new process needs neither
    ucumvert nor pint for units it has seen before. No file I/O here: see `adapter.units.cache`.

Rules worth knowing
-------------------
* UCUM is parsed with ``ucumvert`` (a UCUM grammar on top of pint). Plain pint is never given a UCUM
  string: it reads ``10*9/L`` as 90/L.
* lark, ucumvert and pint are imported on first need (~0.5 s): not at all when the conversions and
  units of a run are memoised or seeded from the cache; a memoised ``convert`` costs a few microseconds.
* Results are Decimals rounded to 12 significant digits, then stripped of trailing zeros, so
  9.0 g/dL -> 90 g/L exactly: no float noise at thresholds.
* UCUM annotations (``{INR}``, ``{cells}``) carry no meaning and are ignored, except annotations
  about body-surface normalisation (``{1.73_m2}``): ``mL/min/{1.73_m2}`` (eGFR) is not converted to
  ``mL/min`` (a creatinine clearance), and vice versa.
* Arbitrary units (``[IU]``, ``[arb'U]``, ...) are commensurable only with themselves (UCUM).
* Offset units (``Cel`` <-> ``[degF]``) are converted affinely; inside compound units they are refused.
* Aliases (non-UCUM lab spellings such as ``K/uL``) are data: ``mappings/units.yaml``. ``convert``
  takes UCUM only; pass it the result of ``UnitTable.normalize``.
* ``UnitTable.normalize`` trusts a code whose ``system`` is UCUM (it is the sender's assertion). Free
  text (``unit``, or a code without a system) is read as UCUM only when it uses unambiguous atoms:
  no upper-case prefixes or one-letter atoms (text ``ML`` would be a megalitre, ``G/L`` gauss per
  litre), so those give None unless the alias table knows them.
"""

from adapter.units.cache import conversion_cache_snapshot, seed_conversion_cache
from adapter.units.convert import convert, warm_up
from adapter.units.table import UnitTable, load_unit_table, load_units_table
from adapter.units.ucum import UCUM_SYSTEM, is_ucum

__all__ = [
    "UCUM_SYSTEM",
    "UnitTable",
    "conversion_cache_snapshot",
    "convert",
    "is_ucum",
    "load_unit_table",
    "load_units_table",
    "seed_conversion_cache",
    "warm_up",
]
