"""Where a patient's FHIR data comes from: a `PatientRecord` and its sources.

A record is the data as given (a Bundle, a resource, a list of them, as parsed JSON) and, when the caller knows
it, the patient the data must be about. Sources: a file or stdin (`read_patient_file`), parsed JSON
(`PatientRecord(data)`), a CDS Hooks prefetch (`PatientRecord.from_prefetch`), one patient's NDJSON lines of a
Bulk Data export (`PatientRecord.from_ndjson_lines`), a FHIR server (`pull_patient_record`). Every door of the
project turns its input into a record and hands it to `adapter.core.Eligibility`; none reads facts itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.errors import PatientDataError
from adapter.jsonio import parse_json, parse_line
from adapter.limits import check_resource_count

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.eligibility.facts import PatientFacts
    from adapter.eligibility.facts.reads import FactReads
    from adapter.fhir.client import FhirClient
    from adapter.units import UnitTable

PATIENT_KEY = "patient"  # the CDS Hooks prefetch key that holds the Patient
PAGED = "paged (a next link)"


class UnknownPatient(PatientDataError):
    """Resources refer to a patient the data does not hold."""


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """One patient's FHIR data: `data` as parsed JSON (a Bundle of any type, a resource, or a list of them);
    `patient_id`, when given, the id the Patient in it must have; `origin` names the source in messages."""

    data: Any
    patient_id: str | None = None
    origin: str = "the data"

    def facts(self, units: UnitTable, reads: FactReads | None = None) -> PatientFacts:
        """The facts the engine reads. PatientDataError when the data is not FHIR, holds no Patient or two, is
        not about `patient_id`, or is over the resource cap (TooManyResources)."""
        from adapter.eligibility.facts import extract_facts

        data = self.data
        check_resource_count(data)  # before the engine: its work grows with the resources, not the bytes
        if isinstance(data, dict):
            if not isinstance(data.get("resourceType"), str):
                raise PatientDataError("input is not a FHIR resource or Bundle (no resourceType)")
            items: Sequence[Any] = [data]
        elif isinstance(data, list | tuple):
            items = data
        else:
            raise PatientDataError(f"input is not a FHIR resource, Bundle or list (a {type(data).__name__})")
        return extract_facts(items, units=units, patient_id=self.patient_id, reads=reads)

    @classmethod
    def from_prefetch(cls, prefetch: Mapping[str, Any], patient_id: str, keys: Sequence[str] | None = None
                      ) -> PatientRecord:
        """The record of a CDS Hooks prefetch: every key (of `keys`, default all) complete, the Patient the one in
        context. PatientDataError names the first gap (`prefetch_gap`) or the wrong patient."""
        wanted = list(keys) if keys is not None else list(prefetch)
        for key in wanted:
            if key not in prefetch:
                raise PatientDataError(f"prefetch lacks {key}")
            gap = prefetch_gap(key, prefetch[key])
            if gap is not None:
                raise PatientDataError(f"prefetch {key[:40]!r} is {gap}")
        check_prefetch_patient(prefetch, patient_id)
        return cls([prefetch[key] for key in wanted], patient_id, "prefetch")

    @classmethod
    def from_ndjson_lines(cls, patient_id: str, lines: Iterable[str | bytes], *, total: int | None = None
                          ) -> PatientRecord:
        """One patient's lines of a Bulk Data export (their Patient, what refers to them, the Medications their
        orders name), parsed in one order whatever order they came in (results must not depend on it). The same
        Patient twice counts once; two different ones with the id, or none, are input errors (`total`: how many
        lines the record had before a grouping step left some out, for the message)."""
        resources: list[dict[str, Any]] = []
        patient_line: bytes | None = None
        for raw in sorted(line.encode() if isinstance(line, str) else line for line in lines):
            resource = parse_line(raw)
            if not isinstance(resource, dict):
                raise PatientDataError("a line is not a FHIR resource")
            if resource.get("resourceType") == "Patient":
                if patient_line is not None:
                    if parse_line(patient_line) != resource:
                        raise PatientDataError(f"two different Patient resources with id {patient_id!r}")
                    continue
                patient_line = raw
            resources.append(resource)
        if patient_line is None:
            count = len(resources) if total is None else total
            raise UnknownPatient(f"{count} {'resource refers' if count == 1 else 'resources refer'} to "
                                 f"Patient/{patient_id}, which is not in the export")
        return cls(resources, patient_id, "the export")


def read_patient_file(source: str | Path) -> PatientRecord:
    """A patient's data from a JSON file (or stdin for `-`)."""
    return PatientRecord(read_json_file(str(source)), None, str(source))


def read_json_file(source: str) -> Any:
    """The parsed JSON of a file (or stdin for `-`); XML and NDJSON are named, with what to do instead."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PatientDataError(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise PatientDataError(f"{source}: cannot read (not UTF-8 text)") from None
    except OSError as exc:
        raise PatientDataError(f"{source}: cannot read ({exc.strerror or exc})") from None
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        raise PatientDataError(f"{source} is XML: this command reads FHIR JSON")
    try:
        data = parse_json(text, source)
    except PatientDataError:
        if _looks_like_ndjson(text):
            raise PatientDataError(f"{source} looks like NDJSON (one resource per line): use "
                                   "`trial-adapter screen --ndjson DIR`") from None
        raise
    check_resource_count(data)
    return data


def pull_patient_record(client: FhirClient, patient_id: str, trials: Iterable[Trial]) -> PatientRecord:
    """The patient's data the trials read, pulled from a FHIR server: their Patient, the results the criteria
    read, and every record entry (adapter.fhir.pull)."""
    from adapter.evaluation import observation_codes
    from adapter.fhir.pull import plan_for, pull_patient

    resources = pull_patient(client, patient_id, plan_for(observation_codes(trials)))
    return PatientRecord(resources, patient_id, "the server")


def prefetch_gap(key: str, value: Any) -> str | None:
    """Why a prefetch value does not hold the whole data, or None when it does: null, an OperationOutcome, not a
    Bundle, a `next` link (PAGED), or fewer match entries than its `total` — a missing medication list could
    otherwise pass an exclusion."""
    if value is None:
        return "null"
    if not isinstance(value, dict):
        raise PatientDataError("a prefetch value is not a FHIR resource or null")
    resource_type = value.get("resourceType")
    if resource_type == "OperationOutcome":
        return "an OperationOutcome"
    if key == PATIENT_KEY:
        return None
    if resource_type != "Bundle":
        return "not a Bundle"
    links = value.get("link") or []
    if not isinstance(links, list):
        return "link is not a list"
    if any(isinstance(link, dict) and link.get("relation") == "next" for link in links):
        return PAGED
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        return "entry is not a list"
    total = value.get("total")
    matches = sum(1 for e in entries if isinstance(e, dict) and (e.get("search") or {}).get("mode", "match") == "match")
    if isinstance(total, int) and not isinstance(total, bool) and total > matches:
        return f"{matches} of {total} matches"
    return None


def check_prefetch_patient(prefetch: Mapping[str, Any], patient_id: str) -> None:
    """The prefetch's `patient` is a Patient (or a Bundle of exactly one) with the id in context."""
    patient = prefetch.get(PATIENT_KEY)
    if isinstance(patient, dict) and patient.get("resourceType") == "Bundle":
        entries = patient.get("entry") or []
        patients = [e.get("resource") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
        patient = patients[0] if len(patients) == 1 else None
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise PatientDataError("prefetch 'patient' is not a Patient resource")
    if patient.get("id") != patient_id:
        raise PatientDataError("prefetch 'patient' is not the patient in context.patientId")


def _looks_like_ndjson(text: str) -> bool:
    """Two or more lines, the first of them a whole JSON object on its own (a pretty-printed file's is `{`)."""
    import json

    lines = [line for line in text.splitlines()[:3] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except ValueError:
        return False
