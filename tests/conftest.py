"""Shared fixtures: the trial catalog and units table, and real HAPI FHIR servers (R4, R5) started once per session.

Nothing here skips: when HAPI cannot be built or started, every test that needs it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog
    from adapter.units import UnitTable
    from tests.support.hapi import HapiServer
    from tests.support.medplum import MedplumServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """CLI runs in tests keep their units cache in a session folder, not in the user's ~/.cache."""
    import os

    previous = os.environ.get("TRIAL_ADAPTER_CACHE_DIR")
    os.environ["TRIAL_ADAPTER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("TRIAL_ADAPTER_CACHE_DIR", None)
    else:
        os.environ["TRIAL_ADAPTER_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def catalog() -> TrialCatalog:
    """The bundled trials, loaded once, as the CLI and the service load them."""
    from tests.support.trials import CATALOG

    return CATALOG


@pytest.fixture(scope="session")
def unit_table() -> UnitTable:
    from adapter.units import load_units_table

    return load_units_table(ROOT / "mappings" / "units.yaml")


@pytest.fixture(scope="session")
def hapi_r4() -> Iterator[HapiServer]:
    from tests.support.hapi import HapiServer

    with HapiServer("R4") as server:
        yield server


@pytest.fixture(scope="session")
def hapi_r5() -> Iterator[HapiServer]:
    from tests.support.hapi import HapiServer

    with HapiServer("R5") as server:
        yield server


@pytest.fixture(scope="session")
def medplum_r4() -> Iterator[MedplumServer]:
    """Medplum's FHIR engine (@medplum/fhir-router, in-memory) from tools/medplum-server; R4."""
    from tests.support.medplum import MedplumServer

    with MedplumServer() as server:
        yield server


@pytest.fixture(params=["R4", "R5"])
def hapi(request: pytest.FixtureRequest) -> HapiServer:
    """Each test that takes `hapi` runs against both servers."""
    return request.getfixturevalue(f"hapi_{request.param.lower()}")


# Markers for the development loop (`make test-fast` deselects java, medplum and packaging). Each module declares
# its own (`pytestmark`, or a decorator on the one test that needs a server); this check fails the collection
# when a test uses a server, the validator, Spark or ../shared without declaring it, so none can be forgotten.
_HAPI_FIXTURES = {"hapi", "hapi_r4", "hapi_r5"}
_MEDPLUM_FIXTURES = {"medplum_r4", "fhir_server"}
_JAVA_MODULES = {"test_against_hapi.py": "hapi", "test_against_servers.py": "hapi", "test_hapi_harness.py": "hapi",
                 "test_validation.py": "validator", "test_fhir_validator_harness.py": "validator",
                 "test_group_validation.py": "validator"}


def _required_markers(item: pytest.Item) -> set[str]:
    fixtures = set(getattr(item, "fixturenames", ()))
    needed: set[str] = set()
    kind = _JAVA_MODULES.get(item.path.name)
    if kind is None and fixtures & _HAPI_FIXTURES:
        kind = "hapi"
    if kind is None and "validator" in fixtures:
        kind = "validator"
    if kind is not None:
        needed |= {kind, "java"}
    if fixtures & _MEDPLUM_FIXTURES or item.path.name == "test_against_servers.py":
        needed.add("medplum")
    module = getattr(item, "module", None)
    if module is not None and hasattr(module, "SPARK"):  # PySpark starts a JVM
        needed |= {"spark", "java"}
    if "realworld" in fixtures or (module is not None and hasattr(module, "REALWORLD")):
        needed.add("realworld")
    return needed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    undeclared = []
    for item in items:
        missing = _required_markers(item) - {mark.name for mark in item.iter_markers()}
        if missing:
            undeclared.append(f"{item.nodeid}: needs {', '.join(sorted(missing))}")
    if undeclared:
        raise pytest.UsageError("tests that do not declare their markers (add them to pytestmark):\n  "
                                + "\n  ".join(undeclared[:20]))
