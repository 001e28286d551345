"""The HTTP a Bulk Data export needs, borrowed from a FhirClient: its authenticated connection for the server
itself, and a second connection without credentials for everything else.

FhirClient's resource calls hand back parsed resources only; the export protocol needs statuses, headers and
streamed bodies, so it borrows the client's `connection()` (its authenticated httpx client, retry policy,
timeouts, deadline and sleep).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from adapter.fhir.client import FhirClient
from adapter.http import RetryPolicy, is_under, new_client


@dataclass(slots=True)
class Session:
    base_url: str
    authed: httpx.Client  # carries the client's auth (bearer token, SMART backend services)
    bare: httpx.Client  # no credentials, for URLs outside the base or files that need no token
    policy: RetryPolicy
    timeout: float
    deadline: float
    sleep: Callable[[float], None]

    @classmethod
    def of(cls, client: FhirClient) -> Session:
        connection = client.connection()
        return cls(
            base_url=client.base_url,
            authed=connection.http,
            bare=new_client(timeout=connection.timeout),
            policy=connection.policy,
            timeout=connection.timeout,
            deadline=connection.deadline,
            sleep=connection.sleep,
        )

    def close(self) -> None:
        self.bare.close()  # the authenticated connection belongs to the FhirClient

    def http_for(self, url: str, *, credentials: bool = True) -> httpx.Client:
        """The connection for `url`: with the client's credentials only when asked and `url` is under the base."""
        return self.authed if credentials and is_under(self.base_url, url) else self.bare
