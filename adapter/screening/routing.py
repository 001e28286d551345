"""Which patient an export line belongs to — one rule, declared once by the constants below (which element names
the patient per resource type, the reference patterns, which types are read, where orders name a Medication) and
spelled from them three ways: in Python (``route``, for files the fast paths cannot take), as DuckDB SQL over the
raw line (``route_sql``, the local engine) and as Spark column expressions (``spark_routing``), all tested
against the same cases. Which Observations the selected trials read is `selection.Selection`.

A line is
- a Patient: its own id is the key;
- a resource the trials read (Observation, Condition, medications, Procedure, AllergyIntolerance): the key is
  the id of the Patient its subject (``patient`` for AllergyIntolerance) refers to, as ``Patient/<id>`` or an
  absolute URL ending so (Bulk Data IG: references are relative or absolute, ``/_history/..`` allowed);
- a Medication: shared by every patient whose order references it (``Medication/<id>``), so it has no key but
  a medication id, and orders carry the id they reference;
- a real FHIR type the trials do not read (Encounter, Claim, …): skipped and counted;
- anything else an error line: not JSON, not an object, no or no FHIR resourceType, no patient.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from adapter.jsonio import JsonInputError, parse_line
from adapter.screening.resource_types import FHIR_RESOURCE_TYPES
from adapter.screening.selection import KEEP_ALL, Selection
from adapter.vocabulary import RECORD_KINDS

ErrorKind = Literal["refused-file", "unreadable-file", "unreadable-line", "unknown-type", "no-patient",
                    "unknown-patient", "patient-data", "export-error"]

_ID = r"[A-Za-z0-9\-.]{1,64}"
PATIENT_REFERENCE = rf"^(?:[A-Za-z][A-Za-z0-9+.\-]*://\S*/)?Patient/({_ID})(?:/_history/{_ID})?$"
MEDICATION_REFERENCE = rf"^(?:[A-Za-z][A-Za-z0-9+.\-]*://\S*/)?Medication/({_ID})(?:/_history/{_ID})?$"
ID = rf"^{_ID}$"

# resource type -> the element naming its patient (Observation: subject; record kinds: their subject_element)
SUBJECT_ELEMENT: dict[str, str] = {"Observation": "subject"} | {
    t: kind.subject_element for kind in RECORD_KINDS for t in kind.resource_types
}
# Orders and statements whose drug may be a reference to a Medication resource (R4 medicationReference,
# R5 medication.reference).
MEDICATION_USERS: frozenset[str] = frozenset(
    t for kind in RECORD_KINDS if kind.name == "medications" for t in kind.resource_types
)
READ_TYPES: frozenset[str] = frozenset({"Patient", "Medication", *SUBJECT_ELEMENT})

_LINE_SNIPPET = 120  # how much of a bad line errors.ndjson shows

_PATIENT_REFERENCE = re.compile(PATIENT_REFERENCE)
_MEDICATION_REFERENCE = re.compile(MEDICATION_REFERENCE)
_IDENTIFIER = re.compile(ID)


@dataclass(frozen=True, slots=True)
class Routed:
    """A line the screening uses: the patient it belongs to (None for a Medication), and for a Medication its
    id, for an order the Medication id it references."""

    resource_type: str
    key: str | None
    medication_id: str | None = None
    medication_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    resource_type: str  # a FHIR type the trials do not read


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ErrorKind
    reason: str
    reference: str | None = None  # Type/id when the line had them


def route(line: bytes | str) -> Routed | Skipped | Problem | None:
    """Where one export line goes; None for a blank line."""
    if not line.strip():
        return None
    try:
        resource = parse_line(line)
    except JsonInputError as exc:
        return Problem("unreadable-line", str(exc))
    if not isinstance(resource, dict):
        return Problem("unreadable-line", f"not a JSON object (a {type(resource).__name__})")
    return route_resource(resource)


def route_resource(resource: dict[str, Any]) -> Routed | Skipped | Problem:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in FHIR_RESOURCE_TYPES:
        shown = repr(resource_type)[:60] if resource_type is not None else "none"
        return Problem("unknown-type", f"resourceType {shown} is not a FHIR resource type")
    resource_id = resource.get("id")
    reference = f"{resource_type}/{resource_id}" if isinstance(resource_id, str) else None
    if resource_type not in READ_TYPES:
        return Skipped(resource_type)
    if resource_type in ("Patient", "Medication"):
        if not isinstance(resource_id, str) or not _IDENTIFIER.match(resource_id):
            return Problem("no-patient", f"a {resource_type} without a valid id (nothing can refer to it)")
        if resource_type == "Patient":
            return Routed("Patient", resource_id)
        return Routed("Medication", None, medication_id=resource_id)
    element = SUBJECT_ELEMENT[resource_type]
    key = _reference_id(_path(resource, element, "reference"), _PATIENT_REFERENCE)
    if key is None:
        return Problem("no-patient", f"its {element} does not refer to a Patient", reference)
    medication_ref = None
    if resource_type in MEDICATION_USERS:
        medication_ref = _reference_id(
            _path(resource, "medicationReference", "reference") or _path(resource, "medication", "reference",
                                                                         "reference"),
            _MEDICATION_REFERENCE,
        )
    return Routed(resource_type, key, medication_ref=medication_ref)


# A line that could not be read may still belong to a patient: screened without it, that patient could pass on a
# missing exclusion. Each patient such a line names gets this marker in their group instead, and is reported, not
# screened. The marker cannot be a resource (a NUL first), so nothing reads it as one.
UNREADABLE_MARKER = "\x00unreadable\x00"
_RAW_PATIENT_REFERENCE = re.compile(rb'"reference"\s*:\s*"(?:[^"\\]{0,512}/)?Patient/([A-Za-z0-9\-.]{1,64})"')
_MAX_CLAIMS = 16


def unreadable_claims(raw: bytes, file: str, number: int | None) -> list[tuple[str, str]]:
    """(patient id, marker line) for each patient an unreadable line refers to (a subject or patient reference
    found in its raw text)."""
    where = f"{file}:{number}" if number is not None else file
    ids = dict.fromkeys(m.decode("ascii") for m in _RAW_PATIENT_REFERENCE.findall(raw[: 1 << 20]))
    return [(pid, f"{UNREADABLE_MARKER}{where}") for pid in list(ids)[:_MAX_CLAIMS]]


def unreadable_in(lines: Sequence[str | bytes]) -> list[str]:
    """Where the patient's unreadable lines are (file:line), from their markers."""
    marker = UNREADABLE_MARKER.encode()
    found = []
    for line in lines:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) and line.startswith(marker) else line
        if isinstance(text, str) and text.startswith(UNREADABLE_MARKER):
            found.append(text[len(UNREADABLE_MARKER):])
    return found


def problem_line(problem: Problem, file: str, number: int | None, raw: bytes | str) -> dict[str, Any]:
    """An errors.ndjson line for a line that cannot be screened."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    line: dict[str, Any] = {"kind": problem.kind, "file": file}
    if number is not None:
        line["line"] = number
    if problem.reference:
        line["resource"] = problem.reference
    line["reason"] = problem.reason
    line["text"] = text[:_LINE_SNIPPET]
    return line


def _path(resource: dict[str, Any], *names: str) -> Any:
    value: Any = resource
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _reference_id(reference: Any, pattern: re.Pattern[str]) -> str | None:
    if not isinstance(reference, str):
        return None
    match = pattern.match(reference)
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------------
# The same rule in SQL, over a table or view with a VARCHAR column `line` (DuckDB's JSON functions)
# --------------------------------------------------------------------------------------------------


def sql_literal(text: str) -> str:
    """A SQL string literal (quotes doubled): for paths and patterns put into DuckDB statements."""
    return "'" + text.replace("'", "''") + "'"


def _in(names: frozenset[str] | set[str]) -> str:
    return "(" + ", ".join(sql_literal(n) for n in sorted(names)) + ")"


def route_sql(source: str, selection: Selection = KEEP_ALL) -> str:
    """`_route_sql` without the blank lines (which `route` answers with None)."""
    return f"SELECT * FROM ({_route_sql(source, selection)}) WHERE problem IS DISTINCT FROM 'blank'"


def _route_sql(source: str, selection: Selection = KEEP_ALL) -> str:
    """A SELECT over `source` (columns file, line) giving file, line, rtype, key, med_id, med_ref, problem
    (an ErrorKind, NULL for lines the screening uses or skips) and wanted (false for an Observation no selected
    trial reads: `selection`) — the SQL twin of `route`. Each line is parsed
    once (one multi-path extraction; TRY makes a malformed line NULL); the slower checks run only on the few
    lines that need them (Patients, Medications, lines without a resourceType)."""
    elements = sorted(set(SUBJECT_ELEMENT.values()))
    paths = ["$.resourceType", "$.id", *(f"$.{e}.reference" for e in elements), "$.medicationReference.reference",
             "$.medication.reference.reference"]
    at = {path: index + 1 for index, path in enumerate(paths)}  # DuckDB lists are 1-based
    reference = {element: f"parts[{at[f'$.{element}.reference']}]" for element in elements}
    key_cases = " ".join(
        f"WHEN parts[1] IN {_in({t for t, e in SUBJECT_ELEMENT.items() if e == element})} THEN "
        f"{_patient_id(reference[element])}"
        for element in elements
    )
    valid_id = (f"json_type(line, '$.id') = 'VARCHAR' AND regexp_full_match(parts[{at['$.id']}], "
                f"{sql_literal(ID[1:-1])})")
    med_ref = (
        f"CASE WHEN rtype IN {_in(set(MEDICATION_USERS))} THEN nullif(regexp_extract(coalesce("
        f"parts[{at['$.medicationReference.reference']}], parts[{at['$.medication.reference.reference']}]), "
        f"{sql_literal(MEDICATION_REFERENCE)}, 1), '') END"
    )
    path_list = "[" + ", ".join(sql_literal(p) for p in paths) + "]"
    pattern = selection.observation_pattern()
    wanted = ("TRUE" if pattern is None else
              f"(rtype IS DISTINCT FROM 'Observation' OR regexp_matches(line, {sql_literal(pattern)}))")
    return f"""
WITH parsed AS (
    SELECT file, line, TRY(json_extract_string(line, {path_list})) AS parts
    FROM {source} WHERE line IS NOT NULL
), keyed AS (
    SELECT file, line, parts, parts[1] AS rtype,
           CASE WHEN parts[1] = 'Patient' AND {valid_id} THEN parts[{at['$.id']}]
                {key_cases} END AS key,
           CASE WHEN parts[1] = 'Medication' AND {valid_id} THEN parts[{at['$.id']}] END AS med_id
    FROM parsed
)
SELECT file, line, rtype, key, med_id, {med_ref} AS med_ref,
       CASE WHEN parts IS NULL THEN CASE WHEN trim(line) = '' THEN 'blank' ELSE 'unreadable-line' END
            WHEN rtype IS NULL THEN CASE WHEN json_type(line) = 'OBJECT' THEN 'unknown-type'
                                         ELSE 'unreadable-line' END
            WHEN rtype NOT IN {_in(set(FHIR_RESOURCE_TYPES))} THEN 'unknown-type'
            WHEN rtype NOT IN {_in(set(READ_TYPES))} THEN NULL
            WHEN rtype = 'Medication' AND med_id IS NULL THEN 'no-patient'
            WHEN rtype <> 'Medication' AND key IS NULL THEN 'no-patient'
       END AS problem,
       {wanted} AS wanted
FROM keyed
"""


def _patient_id(reference: str) -> str:
    """SQL for the Patient id a reference names, or NULL. The plain relative `Patient/<id>` — nearly every line
    of an export — is read without the full pattern's cost; everything else goes through PATIENT_REFERENCE."""
    return (f"CASE WHEN starts_with({reference}, 'Patient/') AND regexp_full_match(substr({reference}, 9), "
            f"{sql_literal(_ID)}) THEN substr({reference}, 9) "
            f"ELSE nullif(regexp_extract({reference}, {sql_literal(PATIENT_REFERENCE)}, 1), '') END")
