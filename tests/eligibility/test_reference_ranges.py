"""The site's default reference-range table: strict loading with one-line errors naming the file and the row."""

from __future__ import annotations

import pickle
from decimal import Decimal
from pathlib import Path

import pytest

from adapter.eligibility.reference_ranges import ReferenceRangeError, load_reference_ranges, table_from_data

pytestmark: list[pytest.MarkDecorator] = []

SOURCES = {"lab": {"title": "a handbook", "url": "https://example.org/h"}}
ROW = {"loinc": "2160-0", "sex": "female", "age_low": 18, "unit": "mg/dL", "low": 0.5, "high": 1.06,
       "source": "lab"}


def test_a_table_loads_as_decimals_and_travels_to_workers() -> None:
    table = table_from_data({"sources": SOURCES, "rows": [ROW, {**ROW, "sex": "male", "high": 1.22}]}, "t.yaml")
    assert table.rows[0].high == Decimal("1.06") and table.rows[1].row == 2
    assert table.rows_for(["http://loinc.org|2160-0"]) == table.rows
    assert pickle.loads(pickle.dumps(table)) == table and hash(table)  # picklable and hashable (Spark recipe key)


@pytest.mark.parametrize(("rows", "message"), [
    ([{**ROW, "sex": "woman"}], "row 1 (sex): Input should be 'male', 'female' or 'any'"),
    ([{**ROW, "high": "1.06"}], "row 1 (high)"),
    ([{**ROW, "extra": 1}], "row 1 (extra): Extra inputs are not permitted"),
    ([{**ROW, "source": "nowhere"}], "row 1: unknown source 'nowhere'"),
    ([{**ROW, "unit": "mg/dx"}], "row 1 (unit): 'mg/dx' is not UCUM"),
    ([{**ROW, "low": 2}], "row 1: low 2 is above high 1.06"),
    ([ROW, {**ROW, "sex": "any", "age_low": 60}], "rows 1 and 2 overlap"),
    ([], "rows: List should have at least 1 item"),
])
def test_a_bad_table_is_one_line_naming_file_and_row(rows: list, message: str) -> None:
    with pytest.raises(ReferenceRangeError) as caught:
        table_from_data({"sources": SOURCES, "rows": rows}, "site.yaml")
    text = str(caught.value)
    assert text.startswith("reference ranges site.yaml: ") and message in text and "\n" not in text


def test_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ReferenceRangeError, match="no such file"):
        load_reference_ranges(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rows: [\n", encoding="utf-8")
    with pytest.raises(ReferenceRangeError, match="not valid YAML"):
        load_reference_ranges(broken)
