"""The `reports` fixture: fixture patients' reports for the catalog's trials, computed once per session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.eligibility.rules.helpers import Reports

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog


@pytest.fixture(scope="session")
def reports(catalog: TrialCatalog) -> Reports:
    return Reports(catalog)
