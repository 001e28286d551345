"""The routing of `routing.py` as Spark column expressions: the third spelling generated from the one declaration
(`SUBJECT_ELEMENT`, `MEDICATION_USERS`, `READ_TYPES`, the reference patterns, `selection.Selection`), beside the
Python `route` and DuckDB's `route_sql`, and tested against the same cases.

Each line is parsed once by `from_json` against a schema of the key elements only (resourceType, id, the subject
elements, the medication references). Spark's JSON reader is more lenient than orjson (lone surrogate escapes,
bytes that are not UTF-8, numbers of any size, a number where a string belongs), so the expressions *flag*
(`problem` not NULL) every line where the two could disagree; the engine sends a file with a flagged line through
the Python reader, which reports each bad line with its number — as the local engine does with DuckDB's flags.
"""

from __future__ import annotations

from adapter.screening.resource_types import FHIR_RESOURCE_TYPES
from adapter.screening.routing import (
    ID,
    MEDICATION_REFERENCE,
    MEDICATION_USERS,
    PATIENT_REFERENCE,
    READ_TYPES,
    SUBJECT_ELEMENT,
)
from adapter.screening.selection import KEEP_ALL, Selection

# What from_json may accept that orjson refuses, spotted in the raw text (a line matching is only sent through the
# Python reader, so over-matching costs time, never a result): text around the object (the line must start with
# `{` and end with `}`; outside a string only `,`, `}`, `]` or a space follow a `}` — a `"` does inside one, as in
# the unit `{score}`), a number token out of 64 bits or near (orjson: 64-bit integers only), a surrogate escape
# (orjson refuses lone ones), NaN/Infinity as numbers. Java's regular expressions try every branch at every
# character, so each branch is cheap and the rare ones are guarded by a plain substring test first.
_SPACES = " \t\r\n"
_TOKENS = r"[:\[,]\s*(?:-9[0-9]{18}|-?[0-9]{20})|\}\s*[^\s,}\]\"]"
_SURROGATE = r"\\u[dD][89a-fA-F]"
_NON_NUMBER = r"[:\[,]\s*-?(?:NaN|Infinity)"
_ID_PREFIX = r'"id"\s*:\s*"'  # a regular expression: the top of `"id": "`
_ESCAPED = r"\\$1"  # a Java replacement: a backslash, then the character matched
_QUOTE = '"'
_OPTIONS = {"allowSingleQuotes": "false", "allowNonNumericNumbers": "false", "allowUnquotedControlChars": "false",
            "allowNumericLeadingZeros": "false", "allowBackslashEscapingAnyCharacter": "false", "mode": "PERMISSIVE"}


def key_schema() -> str:
    """The from_json schema (DDL) of the elements routing reads."""
    subjects = ", ".join(f"{element}: STRUCT<reference: STRING>" for element in sorted(set(SUBJECT_ELEMENT.values())))
    codings = "STRUCT<coding: ARRAY<STRUCT<code: STRING>>>"
    return (f"STRUCT<resourceType: STRING, id: STRING, {subjects}, medicationReference: STRUCT<reference: STRING>, "
            f"medication: STRUCT<reference: STRUCT<reference: STRING>>, code: {codings}, "
            f"component: ARRAY<STRUCT<code: {codings}>>>")


def literal(text: str) -> str:
    """A Spark SQL string literal: Spark reads backslash escapes inside quotes, so backslashes are doubled."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(names: frozenset[str] | set[str]) -> str:
    return "(" + ", ".join(literal(n) for n in sorted(names)) + ")"


def _patient_id(reference: str) -> str:
    return f"nullif(regexp_extract({reference}, {literal(PATIENT_REFERENCE)}, 1), '')"


def route_stages(max_line_bytes: int, selection: Selection = KEEP_ALL) -> list[list[str]]:
    """Three selectExpr stages over a frame of (file, line): parse (j = the key elements), key, and route —
    giving file, line, rtype, key, med_id, med_ref, problem ('blank', 'flagged' — the Python reader decides —
    or NULL) and wanted (false for an Observation no selected trial reads)."""
    options = "map(" + ", ".join(f"{literal(k)}, {literal(v)}" for k, v in _OPTIONS.items()) + ")"
    parse = ["file", "line", f"from_json(line, {literal(key_schema())}, {options}) AS j"]
    key_cases = " ".join(
        f"WHEN j.resourceType IN {_in({t for t, e in SUBJECT_ELEMENT.items() if e == element})} "
        f"THEN {_patient_id(f'j.{element}.reference')}"
        for element in sorted(set(SUBJECT_ELEMENT.values()))
    )
    # The id must be a JSON string in the raw text (from_json turns a number into one): `"id": "<id>"`, the id's
    # `.` and `-` escaped (the only characters of ID that a regular expression reads specially).
    id_is_text = (f"regexp_like(line, concat({literal(_ID_PREFIX)}, regexp_replace(j.id, {literal('([.-])')}, "
                  f"{literal(_ESCAPED)}), {literal(_QUOTE)}))")
    valid_id = f"(regexp_like(j.id, {literal(ID)}) AND {id_is_text})"
    keyed = ["file", "line", "j",
             f"CASE WHEN j.resourceType = 'Patient' AND {valid_id} THEN j.id {key_cases} END AS key",
             f"CASE WHEN j.resourceType = 'Medication' AND {valid_id} THEN j.id END AS med_id"]
    med_ref = (f"CASE WHEN j.resourceType IN {_in(set(MEDICATION_USERS))} THEN nullif(regexp_extract(coalesce("
               f"j.medicationReference.reference, j.medication.reference.reference), "
               f"{literal(MEDICATION_REFERENCE)}, 1), '') END")
    # An Observation is wanted when a code of its own or of a component's is one the trials read (the parsed
    # codes: escapes decoded, nothing matched by chance in its text).
    codes = selection.observation_codes
    read = "array(" + ", ".join(literal(c) for c in sorted(codes or ())) + ")"
    observation_codes = ("concat(coalesce(j.code.coding.code, array()), coalesce(flatten(transform(j.component, "
                         "c -> coalesce(c.code.coding.code, array()))), array()))")
    wanted = ("TRUE" if codes is None else
              f"(j.resourceType IS DISTINCT FROM 'Observation' OR coalesce(arrays_overlap({observation_codes}, "
              f"CAST({read} AS ARRAY<STRING>)), FALSE))")
    problem = f"""CASE WHEN trim(line) = '' THEN 'blank'
        WHEN octet_length(line) > {int(max_line_bytes)} OR NOT is_valid_utf8(line) THEN 'flagged'
        WHEN NOT startswith(trim(BOTH {literal(_SPACES)} FROM line), '{{') THEN 'flagged'
        WHEN NOT endswith(trim(BOTH {literal(_SPACES)} FROM line), '}}') THEN 'flagged'
        WHEN regexp_like(line, {literal(_TOKENS)}) THEN 'flagged'
        WHEN contains(line, {literal(chr(92) + 'u')}) AND regexp_like(line, {literal(_SURROGATE)}) THEN 'flagged'
        WHEN (contains(line, 'NaN') OR contains(line, 'Infinity')) AND regexp_like(line, {literal(_NON_NUMBER)})
             THEN 'flagged'
        WHEN j IS NULL OR j.resourceType IS NULL THEN 'flagged'
        WHEN j.resourceType NOT IN {_in(set(FHIR_RESOURCE_TYPES))} THEN 'flagged'
        WHEN j.resourceType NOT IN {_in(set(READ_TYPES))} THEN NULL
        WHEN j.resourceType = 'Medication' AND med_id IS NULL THEN 'flagged'
        WHEN j.resourceType <> 'Medication' AND key IS NULL THEN 'flagged'
    END"""
    routed = ["file", "line", "j.resourceType AS rtype", "key", "med_id", f"{med_ref} AS med_ref",
              f"{problem} AS problem", f"{wanted} AS wanted"]
    return [parse, keyed, routed]
