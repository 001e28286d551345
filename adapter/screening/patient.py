"""One patient of a population against the trials: that patient's raw NDJSON lines in, one result line per
trial out. Pure — no I/O, no state between calls — so that both engines (and the benchmark's "engine alone")
run exactly this, wherever they run it.

A result line is the contract of ``results.ndjson``: the verdict and criterion results that
``trial-adapter evaluate`` gives for the same resources, reduced to the ids of the criteria that failed or are
unknown and the tests that would settle the unknowns, with who the patient is (name, MRN, birth date, age, sex:
`identity`) and the date of the newest evidence the evaluation used. Every patient also carries, for the
worklist and the report, their criterion checklist with evidence: whole for candidates (everyone not
ineligible), only the failing criteria for the ineligible (why they were excluded, and a report of sane size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from adapter.eligibility.prose import unique
from adapter.errors import AdapterError, PatientDataError
from adapter.limits import MAX_RESOURCES_PER_PATIENT, TooManyResources
from adapter.patients import PatientRecord, UnknownPatient
from adapter.screening.identity import identity, newest_evidence
from adapter.screening.routing import unreadable_in

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.core import Eligibility
    from adapter.eligibility.reference_ranges import ReferenceRangeTable
    from adapter.evaluation import TrialEvaluation
    from adapter.units import UnitTable

CANDIDATE_VERDICTS = ("potentially-eligible", "insufficient-data")


@dataclass(frozen=True, slots=True)
class ScreeningJob:
    """What every patient is screened against: the core (with its catalog and terminology server), the trials,
    the date."""

    eligibility: Eligibility
    trials: tuple[Trial, ...]
    as_of: date
    mrn_system: str | None = None  # the site's MRN identifier system (else the identifier typed MR)
    max_resources: int = MAX_RESOURCES_PER_PATIENT  # one record past this is an error line, never parsed

    @property
    def units(self) -> UnitTable:
        return self.eligibility.catalog.units


@dataclass(frozen=True, slots=True)
class JobRecipe:
    """How to build a ScreeningJob: small and picklable, so that a worker process (a pool worker, a Spark
    executor) builds its own job once instead of receiving the catalog's objects."""

    mapping_dirs: tuple[str, ...]
    trial_ids: tuple[str, ...]  # () = every trial of the catalog
    as_of: date
    cache_dir: str | None = None
    # The site's default reference ranges, as loaded by the caller (frozen and hashable: it travels inside).
    reference_ranges: ReferenceRangeTable | None = None
    mrn_system: str | None = None
    terminology_server: str | None = None  # each worker opens its own connection (answers cached in memory)

    def build(self) -> ScreeningJob:
        from pathlib import Path

        from adapter.catalog import load_catalog
        from adapter.core import Eligibility

        catalog = load_catalog(self.mapping_dirs, cache_dir=Path(self.cache_dir) if self.cache_dir else None,
                               reference_ranges=self.reference_ranges)
        terminology = None
        if self.terminology_server:
            from adapter.terminology import Terminology

            terminology = Terminology.open(self.terminology_server)
        eligibility = Eligibility(catalog, terminology=terminology)
        trials = eligibility.trials(list(self.trial_ids) or None)
        return ScreeningJob(eligibility, tuple(trials), self.as_of, self.mrn_system)


class PatientLines(Sequence[str | bytes]):
    """A patient's lines as a grouping step hands them over when it has left some out: the lines kept (those the
    trials read) and how many the record had in all (`total`: the resource cap and the error lines count these).
    With `kept` empty and `total` over the cap, a pathological record is reported without being loaded."""

    __slots__ = ("kept", "total")

    def __init__(self, kept: Sequence[str | bytes], total: int) -> None:
        self.kept = kept
        self.total = total

    def __len__(self) -> int:
        return len(self.kept)

    def __getitem__(self, index: Any) -> Any:
        return self.kept[index]

    def __reduce__(self) -> tuple[Any, ...]:
        return PatientLines, (self.kept, self.total)


def record_size(lines: Sequence[str | bytes]) -> int:
    """How many resources the patient's record holds, including lines a grouping step left out."""
    return lines.total if isinstance(lines, PatientLines) else len(lines)


@dataclass(frozen=True, slots=True)
class PatientScreening:
    """One patient's outcome: a results line per trial, or the reason their data could not be screened."""

    patient: str  # "Patient/<id>"
    results: tuple[dict[str, Any], ...] = ()
    candidates: tuple[dict[str, Any] | None, ...] = ()  # per trial: the result line with its checklist (`detail`)
    error: dict[str, Any] | None = None  # an errors.ndjson line


def screen_patient(job: ScreeningJob, patient_id: str, lines: Sequence[str | bytes]) -> PatientScreening:
    """Screen the patient `patient_id` from the raw lines grouped under them (their Patient, everything that
    refers to them, and the Medications their orders reference). Never raises for bad data: an input error
    becomes `error`, so that one record cannot stop a population."""
    patient = f"Patient/{patient_id}"
    try:
        if record_size(lines) > job.max_resources:  # before parsing: a giant record must not take the memory
            raise TooManyResources(record_size(lines), job.max_resources)
        unreadable = unreadable_in(lines)
        if unreadable:  # screened without it, an exclusion it holds could be missed
            raise PatientDataError(f"{len(unreadable)} line(s) of this patient's record could not be read "
                                   f"({', '.join(unreadable[:3])}): not screened")
        record = PatientRecord.from_ndjson_lines(patient_id, lines, total=record_size(lines))
        judged = job.eligibility.evaluate(record, job.trials, job.as_of)  # the one core every door calls
        evaluations = judged.results
        who = identity(record.data, judged.facts, job.as_of, job.mrn_system)
    except PatientDataError as exc:
        return PatientScreening(patient, error=_error(patient, exc, lines))
    except AdapterError as exc:  # any other named input error of the record
        return PatientScreening(patient, error=_error(patient, exc, lines))
    except Exception as exc:  # one malformed record is reported, the population goes on
        return PatientScreening(patient, error=_error(patient, exc, lines, unexpected=True))
    return PatientScreening(
        patient,
        results=tuple(result_line(patient, e, who) for e in evaluations),
        candidates=tuple(detail(patient, e, who) for e in evaluations),
    )


def result_line(patient: str, result: TrialEvaluation, who: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The results.ndjson line of one patient × trial; `who` is the patient's `identity`."""
    evaluation = result.evaluation
    # What would settle the open criteria (not the alternatives of settled ones), each test named once.
    missing = list(unique(m for c in evaluation.criteria if c.result == "unknown" for m in c.missing))
    return {
        "patient": patient,
        **(who or {}),
        "trial": result.nct_id,
        "draft": result.draft,  # a drafted mapping no clinician has reviewed: its verdicts are provisional
        "as_of": evaluation.as_of.isoformat(),
        "verdict": evaluation.verdict,
        "summary": dict(result.summary),
        "failed": [c.id for c in evaluation.criteria if c.result == "fail"],
        "unknown": [c.id for c in evaluation.criteria if c.result == "unknown"],
        "missing": missing,
        "last_data": newest_evidence(e for c in evaluation.criteria for e in c.evidence),
    }


def detail(patient: str, result: TrialEvaluation, who: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The result line with its criterion checklist and evidence, for the worklist and the report: every
    criterion for a candidate (not ineligible), the failing ones only for an ineligible patient."""
    from adapter.render.report import evidence_json

    evaluation = result.evaluation
    shown = evaluation.criteria
    if evaluation.verdict not in CANDIDATE_VERDICTS:
        shown = tuple(c for c in shown if c.result == "fail")
    line = result_line(patient, result, who)
    line["criteria"] = [
        {
            "id": c.id,
            "result": c.result,
            "reason": c.reason,
            "evidence": [evidence_json(e) for e in c.evidence],
            **({"missing": list(c.missing)} if c.missing else {}),
        }
        for c in shown
    ]
    return line


def _error(patient: str, exc: Exception, lines: Sequence[str | bytes], *, unexpected: bool = False) -> dict[str, Any]:
    kind = "unknown-patient" if isinstance(exc, UnknownPatient) else "patient-data"
    reason = f"could not be evaluated ({type(exc).__name__}: {exc})" if unexpected else str(exc)
    return {"kind": kind, "patient": patient, "resources": record_size(lines), "reason": reason}
