"""A site's table of default reference ranges (`--reference-ranges FILE`): the pure lookup, and its loader.

Used only for a result that was sent with no reference range at all (no range with a high, no range text), as
Synthea and many European exports send them: a `× ULN` criterion then compares with the site's default upper
limit for the patient's sex and age, and its reason says so ("site default ULN 1.2 mg/dL (reference-ranges FILE
row 3 …)"), so that nobody mistakes it for the lab's own range. A result that carries a range never uses it.

The file (YAML; docs/reference-ranges.example.yaml is an example a site must replace with its own lab's):

    sources:
      ucsf-labmanual: {title: "UCSF Clinical Laboratories lab manual, Creatinine", url: "https://…"}
    rows:
      - {loinc: 2160-0, sex: female, age_low: 19, unit: mg/dL, low: 0.52, high: 1.06, source: ucsf-labmanual}

`sex` is male, female or any; `age_low` / `age_high` are completed years, both inclusive (`age_low` 0 and no
`age_high`: every age); `unit` is UCUM. Two rows for one code whose sexes and ages overlap are refused: the
table must name one upper limit per patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapter.errors import AdapterError
from adapter.mapping.concepts import Source  # the same shape as the concept library's sources
from adapter.vocabulary import LOINC, token

Sex = Literal["male", "female", "any"]


class ReferenceRangeError(AdapterError):
    """The table cannot be used: one line naming the file, the row and the problem."""


@dataclass(frozen=True, slots=True)
class SiteRange:
    """One row of the table. Frozen and hashable: it travels to screening workers inside a picklable recipe."""

    row: int  # 1-based position in `rows:`, for the reason a criterion gives
    code: str  # system|code (LOINC)
    sex: Sex
    age_low: Decimal  # completed years, inclusive
    age_high: Decimal | None  # inclusive; None: no upper age
    unit: str  # UCUM
    low: Decimal | None
    high: Decimal
    source: str  # id in the table's sources


@dataclass(frozen=True, slots=True)
class ReferenceRangeTable:
    origin: str  # the file as given, named in every reason that uses a row
    rows: tuple[SiteRange, ...]
    sources: tuple[tuple[str, str], ...] = ()  # (id, title)

    def rows_for(self, codes: Iterable[str]) -> tuple[SiteRange, ...]:
        """The rows for any of the result's codes (tables are small: a scan, nothing to keep in step)."""
        wanted = frozenset(codes)
        return tuple(row for row in self.rows if row.code in wanted)


# --------------------------------------------------------------------------------------------- the file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Row(_Strict):
    loinc: str = Field(pattern=r"^\d{1,7}-\d$")
    sex: Sex
    age_low: Decimal = Field(default=Decimal(0), ge=0)
    age_high: Decimal | None = Field(default=None, ge=0)
    unit: str = Field(min_length=1)
    low: Decimal | None = None
    high: Decimal = Field(gt=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> _Row:
        if self.age_high is not None and self.age_low > self.age_high:
            raise ValueError(f"age_low {self.age_low} is above age_high {self.age_high}")
        if self.low is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


class _Table(_Strict):
    sources: dict[str, Source] = Field(min_length=1)
    rows: list[_Row] = Field(min_length=1)


def _number(value: Any) -> Any:
    """YAML numbers as Decimals (strict pydantic takes no float for a Decimal); anything else as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def table_from_data(data: Any, origin: str) -> ReferenceRangeTable:
    """The table from parsed YAML; ReferenceRangeError (one line: file, row, problem) when it is not usable."""
    if not isinstance(data, dict):
        raise ReferenceRangeError(f"reference ranges {origin}: expected a mapping with `sources:` and `rows:`")
    if isinstance(data.get("rows"), list):
        data = {**data, "rows": [{k: _number(v) if k != "loinc" else v for k, v in row.items()}
                                 if isinstance(row, dict) else row for row in data["rows"]]}
    try:
        parsed = _Table.model_validate(data)
    except ValidationError as exc:
        raise ReferenceRangeError(_describe(exc, origin)) from None
    from adapter.units import is_ucum

    rows: list[SiteRange] = []
    for index, row in enumerate(parsed.rows, start=1):
        if row.source not in parsed.sources:
            raise ReferenceRangeError(f"reference ranges {origin}: row {index}: unknown source {row.source!r} "
                                      "(add it under sources)")
        if not is_ucum(row.unit):
            raise ReferenceRangeError(f"reference ranges {origin}: row {index} (unit): {row.unit!r} is not UCUM")
        rows.append(SiteRange(row=index, code=token(LOINC, row.loinc), sex=row.sex, age_low=row.age_low,
                              age_high=row.age_high, unit=row.unit, low=row.low, high=row.high, source=row.source))
    _no_overlaps(rows, origin)
    sources = tuple((key, source.title) for key, source in parsed.sources.items())
    return ReferenceRangeTable(origin=origin, rows=tuple(rows), sources=sources)


def _describe(error: ValidationError, origin: str) -> str:
    first = error.errors()[0]
    loc = list(first["loc"])
    if len(loc) >= 2 and loc[0] == "rows" and isinstance(loc[1], int):
        where = f"row {loc[1] + 1}" + (f" ({'.'.join(str(p) for p in loc[2:])})" if loc[2:] else "")
    else:
        where = ".".join(str(p) for p in loc) or "the table"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"reference ranges {origin}: {where}: {message}{more}"


def _no_overlaps(rows: list[SiteRange], origin: str) -> None:
    for i, one in enumerate(rows):
        for other in rows[i + 1:]:
            if one.code != other.code or not _sexes_meet(one.sex, other.sex):
                continue
            one_high = one.age_high if one.age_high is not None else Decimal("Infinity")
            other_high = other.age_high if other.age_high is not None else Decimal("Infinity")
            if one.age_low <= other_high and other.age_low <= one_high:
                raise ReferenceRangeError(
                    f"reference ranges {origin}: rows {one.row} and {other.row} overlap ({one.code.split('|')[1]}, "
                    f"{one.sex}/{other.sex}, ages): the table must give one upper limit per patient")


def _sexes_meet(one: Sex, other: Sex) -> bool:
    return one == other or "any" in (one, other)


def load_reference_ranges(path: Path | str) -> ReferenceRangeTable:
    """Read and check a table file; ReferenceRangeError (an AdapterError: exit 2 on the CLI) when unusable."""
    from adapter.errors import MappingError
    from adapter.yamlio import load_yaml

    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferenceRangeError(f"reference ranges {origin}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceRangeError(f"reference ranges {origin}: cannot read ({exc})") from None
    try:  # the one bounded YAML reader: aliases that expand too far are refused before anything is built
        data = load_yaml(text, f"reference ranges {origin}")
    except MappingError as exc:
        raise ReferenceRangeError(str(exc)) from None
    return table_from_data(data, origin)
