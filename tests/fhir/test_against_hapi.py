"""The HAPI-only tests moved to `test_against_servers.py`, which runs them against HAPI R4, HAPI R5 and Medplum R4.

Kept for the helper other tests import from here (tests/service/test_cds.py).
"""

from tests.fhir.test_against_servers import _as_transaction

__all__ = ["_as_transaction"]
