"""What real FHIR servers do that their CapabilityStatement does not say — in one place, each with where it was
seen (DOMAIN.md §8 and the servers' sources and docs). The modules that talk to servers read these; none keeps a
server's peculiarity of its own.
"""

from __future__ import annotations

import re

# Transactions: the most entries one transaction may hold for our pushes, by `software.name` (lower case,
# substring). Not part of a CapabilityStatement; any other limit is learned from the server's refusal.
# Medplum: 8 once any entry is conditional, 50 updates otherwise; we never send conditional entries, so 50 applies.
TRANSACTION_LIMITS: dict[str, int] = {"medplum": 50, "healthlake": 160, "microsoft fhir server": 500,
                                      "cloud healthcare": 4500}

# A transaction refusal that names its size or isolation (Medplum: "Transaction requires strict isolation but has
# too many entries", "... more update operations than allowed"; others: too large, limit, maximum): the push
# falls back to smaller transactions.
TRANSACTION_SIZE_REFUSAL = re.compile(r"too many|too large|more .* than allowed|isolation|limit|maximum|exceed",
                                      re.IGNORECASE)

# Searches by patient: `patient=Patient/{id}`, typed. Every server takes it, and some (Medplum's in-memory engine)
# match a bare id only when they can resolve the reference.
def patient_search_value(patient_id: str) -> str:
    return f"Patient/{patient_id}"


# Bulk Data: a patient-level export holds the Patient compartment only, which Medication is not in — HAPI refuses
# `_type=Medication` there. The Medications the exported orders reference are read apart.
NOT_IN_PATIENT_EXPORT: frozenset[str] = frozenset({"Medication"})

# Handled where they happen (named here so that one page lists them):
# - Bulk Data polling: HAPI asks for `Retry-After: 120`; the client cuts longer waits to its own maximum
#   (adapter.fhir.bulk.export DEFAULT_MAX_POLL_WAIT_S).
# - Bulk Data `_since`: HAPI's export lists no deletions; they are read from `_history` (adapter.screening).
# - Terminology: asked about a code system it does not hold, HAPI answers `$expand` / `$subsumes` with a 500
#   ("CodeSystem … is ignored/not-present"), which would read as "down" — so the client asks `CodeSystem?url=`
#   first; HAPI JPA refuses `$subsumes` on a `content: fragment` CodeSystem ("Unknown code", 400) — the client
#   then decides subsumption by an is-a expansion (adapter.terminology.client).
