"""Shared fixtures: real HAPI FHIR servers (R4, R5), started once per session by the harness.

Nothing here skips: when HAPI cannot be built or started, every test that needs it fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hapi import HapiServer


@pytest.fixture(scope="session")
def hapi_r4() -> Iterator[HapiServer]:
    with HapiServer("R4") as server:
        yield server


@pytest.fixture(scope="session")
def hapi_r5() -> Iterator[HapiServer]:
    with HapiServer("R5") as server:
        yield server


@pytest.fixture(params=["R4", "R5"])
def hapi(request: pytest.FixtureRequest) -> HapiServer:
    """Each test that takes `hapi` runs against both servers."""
    return request.getfixturevalue(f"hapi_{request.param.lower()}")
