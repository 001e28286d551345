"""Shared fixtures of the drafting tests."""

from __future__ import annotations

import pytest

from adapter.mapping.concepts import ConceptLibrary
from tests.support.trials import CATALOG


@pytest.fixture(scope="module")
def library() -> ConceptLibrary:
    """The bundled concept library, as the drafter reads it."""
    return CATALOG.concepts
