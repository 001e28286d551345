"""FHIR servers: a compact httpx client, authentication, pulling a patient's data and pushing trials."""

from adapter.fhir.auth import AuthError, BearerToken, SmartBackendAuth
from adapter.fhir.client import (
    BatchEntryError,
    FhirClient,
    FhirServerError,
    FhirTimeout,
    ForeignLinkError,
    ResponseTooLarge,
)

__all__ = ["AuthError", "BatchEntryError", "BearerToken", "FhirClient", "FhirServerError", "FhirTimeout",
           "ForeignLinkError", "ResponseTooLarge", "SmartBackendAuth"]
