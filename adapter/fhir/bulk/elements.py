"""`_elements` for a Bulk Data kick-off: which resource types may be narrowed, and the value to send.

The IG's `_elements` (v2 and later) asks the server to leave out unlisted, non-mandatory root elements
(`Type.element`). That is safe only where the screening reads known fields — measured values (Observation) and
demographics (Patient). Record entries (Condition, Medication*, Procedure, AllergyIntolerance, …) are never
narrowed: their free text, notes and codings in any element can carry what an exclusion needs, and a trimmed
entry would read as an absent exclusion — a false pass. So only `ELEMENT_TYPES` may be listed; anything else is
refused when the request is built.

Which elements to ask for is the screening side's choice; `elements_value` adds what the export itself needs
to keep each resource attached to its patient (`ROUTING`), and sorts and deduplicates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from adapter.fhir.bulk.model import RESOURCE_TYPE, BulkExportError

# Measured values and demographics: read field by field, so a narrowed resource loses nothing the trials read.
ELEMENT_TYPES = frozenset({"Observation", "Patient"})
# What a narrowed resource must keep to be grouped by patient (Patient: its id, which a server always returns).
ROUTING: Mapping[str, tuple[str, ...]] = {"Observation": ("subject",), "Patient": ()}
_ELEMENT = re.compile(r"[a-z][A-Za-z0-9]{0,63}")


def elements_value(wanted: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """`_elements` entries (`Type.element`) for the root elements `wanted` per type, plus `ROUTING`'s.

    `elements_value({"Observation": ["code", "value", "effective"]})` →
    `("Observation.code", "Observation.effective", "Observation.subject", "Observation.value")`.
    BulkExportError for a type outside ELEMENT_TYPES or a name that is not a root element name.
    """
    entries: set[str] = set()
    for kind, names in wanted.items():
        for name in (*names, *ROUTING.get(kind, ())):
            entries.add(f"{kind}.{name}")
    value = tuple(sorted(entries))
    check_elements(value)
    return value


def check_elements(entries: Iterable[str]) -> None:
    """BulkExportError unless every entry is `Type.element` with Type in ELEMENT_TYPES."""
    for entry in entries:
        kind, dot, name = entry.partition(".") if isinstance(entry, str) else ("", "", "")
        if not dot or not RESOURCE_TYPE.fullmatch(kind) or not _ELEMENT.fullmatch(name):
            raise BulkExportError(None, f"_elements entries look like 'Observation.code', not {entry!r}")
        if kind not in ELEMENT_TYPES:
            raise BulkExportError(
                None, f"_elements may narrow only {', '.join(sorted(ELEMENT_TYPES))}, not {kind} (a record entry's "
                      "text matters)"
            )  # fmt: skip
