"""Named exceptions. Everything the CLI turns into one line on stderr derives from AdapterError."""


class AdapterError(Exception):
    """Base class for errors a user can act on; the message is meant to be shown as is."""


class RecordFormatError(AdapterError):
    """A ClinicalTrials.gov record that is missing, unreadable or not in the API v2 format."""


class MappingError(AdapterError):
    """A mapping file that is missing, malformed or contradicts its record."""


class UnknownTrialError(AdapterError):
    """A trial id for which no mapping or record is available."""


class PatientDataError(AdapterError):
    """Patient input that cannot be evaluated at all (not JSON, not FHIR, no Patient, two Patients)."""


class FetchError(AdapterError):
    """A remote source (ClinicalTrials.gov, a FHIR server) could not give what was asked."""


class UnitConversionError(AdapterError):
    """A quantity that cannot be converted: unknown or non-UCUM unit, incommensurable units, no molar mass."""


class FhirServerError(FetchError):
    """A FHIR server answered with an error status, or with something that is not the FHIR JSON asked for.

    `status` is the HTTP status (None when the failure is not tied to one, e.g. a paging loop), `message` the
    server's own words (OperationOutcome diagnostics, else the HTTP reason), `operation_outcome` the
    OperationOutcome resource when the server sent one. `str(error)` is the full line: where, status, message.
    """

    def __init__(
        self, status: int | None, message: str, operation_outcome: dict | None = None, *, where: str | None = None
    ) -> None:
        self.status = status
        self.message = message
        self.operation_outcome = operation_outcome
        self.where = where
        parts = [part for part in (where, f"HTTP {status}" if status is not None else None, message) if part]
        super().__init__(": ".join(parts))


class FhirTimeout(FetchError):
    """A FHIR server did not answer in time (after the allowed retries, or at once for a transaction)."""


class ResponseTooLarge(FetchError):
    """A response body larger than the configured cap; reading was stopped."""


class ForeignLinkError(FetchError):
    """A paging link pointing outside the server's base URL; it is not followed, so no credentials leave."""


class AuthError(FetchError):
    """An authorization server refused or failed to issue an access token, or the auth settings are unusable."""


class BatchEntryError(FhirServerError):
    """One entry of a batch the server did run failed (e.g. 404 for a read); the batch itself was accepted."""


class TransportError(FetchError):
    """An HTTP request failed below HTTP: no connection, a dropped connection, a read or write timeout.

    Raised by the HTTP seam (`adapter.http`) once its retry policy gives up or does not allow a retry.
    `detail` names the httpx failure (e.g. "ReadTimeout: slow"), `attempts` how many were made, `gave_up` that
    retries were allowed and ran out, `transient` that trying later might work, `timed_out` that it was a
    timeout, and `may_have_arrived` that the server may have received (and acted on) the request.
    """

    def __init__(
        self,
        message: str,
        *,
        detail: str,
        attempts: int,
        gave_up: bool,
        transient: bool,
        timed_out: bool,
        may_have_arrived: bool,
    ) -> None:
        super().__init__(message)
        self.detail = detail
        self.attempts = attempts
        self.gave_up = gave_up
        self.transient = transient
        self.timed_out = timed_out
        self.may_have_arrived = may_have_arrived


class DeadlineExceeded(FhirTimeout):
    """The overall deadline of one HTTP call ran out: all attempts, pauses and body reading together."""
