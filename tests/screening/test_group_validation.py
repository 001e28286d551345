"""The candidates Group is valid FHIR R4 and R5 by the official validator (empty and with members)."""

from __future__ import annotations

from datetime import date

import pytest

from adapter.screening.group import candidates_group
from tests.support.fhir_validator import format_issues, validate

pytestmark = [pytest.mark.validator, pytest.mark.java]


@pytest.mark.parametrize("fhir_version", ["R4", "R5"])
def test_group_is_valid(fhir_version: str) -> None:
    groups = [
        candidates_group("NCT03787251", "Apatinib in esophageal cancer", ["Patient/p1", "Patient/p-2"],
                         date(2026, 11, 1), fhir_version),  # type: ignore[arg-type]
        candidates_group("NCT03320629", "Another trial", [], date(2026, 11, 1), fhir_version),  # type: ignore[arg-type]
    ]
    results = validate(groups, fhir_version)
    for result in results:
        assert not result.errors, format_issues(results)
