"""One patient of a population against the trials: that patient's raw NDJSON lines in, one result line per
trial out. Pure — no I/O, no state between calls — so that both engines (and the benchmark's "engine alone")
run exactly this, wherever they run it.

A result line is the contract of ``results.ndjson``: the verdict and criterion results that
``trial-adapter evaluate`` gives for the same resources, reduced to the ids of the criteria that failed or are
unknown and the tests that would settle the unknowns. Candidates (everyone not ineligible) also carry their
criterion checklist with evidence, for the worklist and the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson

from adapter.errors import AdapterError, PatientDataError

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.evaluation import TrialEvaluation
    from adapter.units import UnitTable

CANDIDATE_VERDICTS = ("potentially-eligible", "insufficient-data")


@dataclass(frozen=True, slots=True)
class ScreeningJob:
    """What every patient is screened against: the trials, the units table, the date."""

    trials: tuple[Trial, ...]
    units: UnitTable
    as_of: date


@dataclass(frozen=True, slots=True)
class JobRecipe:
    """How to build a ScreeningJob: small and picklable, so that a worker process (a pool worker, a Spark
    executor) builds its own job once instead of receiving the catalog's objects."""

    mapping_dirs: tuple[str, ...]
    trial_ids: tuple[str, ...]  # () = every trial of the catalog
    as_of: date
    cache_dir: str | None = None

    def build(self) -> ScreeningJob:
        from pathlib import Path

        from adapter.catalog import load_catalog

        catalog = load_catalog(self.mapping_dirs, cache_dir=Path(self.cache_dir) if self.cache_dir else None)
        trials = catalog.select(list(self.trial_ids) or None)
        return ScreeningJob(tuple(trials), catalog.units, self.as_of)


@dataclass(frozen=True, slots=True)
class PatientScreening:
    """One patient's outcome: a results line per trial, or the reason their data could not be screened."""

    patient: str  # "Patient/<id>"
    results: tuple[dict[str, Any], ...] = ()
    candidates: tuple[dict[str, Any] | None, ...] = ()  # per trial: the checklist when not ineligible
    error: dict[str, Any] | None = None  # an errors.ndjson line


def screen_patient(job: ScreeningJob, patient_id: str, lines: Sequence[str | bytes]) -> PatientScreening:
    """Screen the patient `patient_id` from the raw lines grouped under them (their Patient, everything that
    refers to them, and the Medications their orders reference). Never raises for bad data: an input error
    becomes `error`, so that one record cannot stop a population."""
    patient = f"Patient/{patient_id}"
    try:
        resources = _resources(patient_id, lines)
        from adapter.eligibility.facts import extract_facts
        from adapter.evaluation import evaluate_trial

        facts = extract_facts(resources, units=job.units, patient_id=patient_id)
        evaluations = [evaluate_trial(trial, facts, job.as_of) for trial in job.trials]
    except PatientDataError as exc:
        return PatientScreening(patient, error=_error(patient, exc, lines))
    except AdapterError as exc:  # any other named input error of the record
        return PatientScreening(patient, error=_error(patient, exc, lines))
    except Exception as exc:  # one malformed record is reported, the population goes on
        return PatientScreening(patient, error=_error(patient, exc, lines, unexpected=True))
    return PatientScreening(
        patient,
        results=tuple(result_line(patient, e) for e in evaluations),
        candidates=tuple(candidate(patient, e) for e in evaluations),
    )


def result_line(patient: str, result: TrialEvaluation) -> dict[str, Any]:
    """The results.ndjson line of one patient × trial."""
    evaluation = result.evaluation
    missing: list[str] = []
    for c in evaluation.criteria:  # what would settle the open criteria (not the alternatives of settled ones)
        if c.result == "unknown":
            missing += [m for m in c.missing if m not in missing]
    return {
        "patient": patient,
        "trial": result.nct_id,
        "as_of": evaluation.as_of.isoformat(),
        "verdict": evaluation.verdict,
        "summary": dict(result.summary),
        "failed": [c.id for c in evaluation.criteria if c.result == "fail"],
        "unknown": [c.id for c in evaluation.criteria if c.result == "unknown"],
        "missing": missing,
    }


def candidate(patient: str, result: TrialEvaluation) -> dict[str, Any] | None:
    """The criterion checklist with evidence of a candidate (not ineligible), for the worklist and report."""
    from adapter.render.report import evidence_json

    evaluation = result.evaluation
    if evaluation.verdict not in CANDIDATE_VERDICTS:
        return None
    line = result_line(patient, result)
    line["criteria"] = [
        {
            "id": c.id,
            "result": c.result,
            "reason": c.reason,
            "evidence": [evidence_json(e) for e in c.evidence],
            **({"missing": list(c.missing)} if c.missing else {}),
        }
        for c in evaluation.criteria
    ]
    return line


def _resources(patient_id: str, lines: Sequence[str | bytes]) -> list[dict[str, Any]]:
    """The parsed resources in one order whatever order the engine grouped them in (results must not depend
    on it); the same Patient twice counts once, two different ones with one id are an input error."""
    resources: list[dict[str, Any]] = []
    patient_line: bytes | None = None
    for raw in sorted(line.encode() if isinstance(line, str) else line for line in lines):
        resource = orjson.loads(raw)
        if not isinstance(resource, dict):
            raise PatientDataError("a line is not a FHIR resource")
        if resource.get("resourceType") == "Patient":
            if patient_line is not None:
                if orjson.loads(patient_line) != resource:
                    raise PatientDataError(f"two different Patient resources with id {patient_id!r}")
                continue
            patient_line = raw
        resources.append(resource)
    if patient_line is None:
        count = len(resources)
        raise UnknownPatient(f"{count} resource{'s' if count != 1 else ''} refer to Patient/{patient_id}, "
                             "which is not in the export")
    return resources


class UnknownPatient(PatientDataError):
    """Resources refer to a patient the export does not hold."""


def _error(patient: str, exc: Exception, lines: Sequence[str | bytes], *, unexpected: bool = False) -> dict[str, Any]:
    kind = "unknown-patient" if isinstance(exc, UnknownPatient) else "patient-data"
    reason = f"could not be evaluated ({type(exc).__name__}: {exc})" if unexpected else str(exc)
    return {"kind": kind, "patient": patient, "resources": len(lines), "reason": reason}
