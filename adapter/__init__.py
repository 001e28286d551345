"""trial-fhir-adapter: ClinicalTrials.gov records to FHIR, and patient eligibility explained.

The public Python API (README, "Use it from Python")::

    from datetime import date
    from adapter import Eligibility, load_catalog, read_patient_file, report_text

    eligibility = Eligibility(load_catalog())                 # the bundled trials (+ site folders)
    result = eligibility.evaluate(read_patient_file("patient.json"), as_of=date(2026, 11, 1))
    for trial in result:                                      # a TrialEvaluation per trial
        print(trial.nct_id, trial.verdict)
        print(report_text(trial))

Patient data: `read_patient_file`, `PatientRecord(json)`, `PatientRecord.from_prefetch`,
`PatientRecord.from_ndjson_lines`, `pull_patient_record(FhirClient(...), id, trials)`. Output: `report_json`,
`report_text`, `cds_cards`, `evaluation_bundle` (ResearchSubject + Parameters); the trials as FHIR:
`build_bundle(trial, "R5" | "R4")`. Errors: every input error is an `AdapterError` (`PatientDataError`,
`MappingError`, `UnknownTrialError`, `FhirServerError`, …) with a one-line message.

Names are imported on first use, so `import adapter` stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from adapter.catalog import Trial, TrialCatalog, load_catalog
    from adapter.core import Eligibility, PatientEvaluation
    from adapter.eligibility.result import CriterionResult, Evaluation
    from adapter.errors import AdapterError, FhirServerError, MappingError, PatientDataError, UnknownTrialError
    from adapter.evaluation import TrialEvaluation
    from adapter.fhir.client import FhirClient
    from adapter.fhir_build import build_bundle
    from adapter.patients import PatientRecord, pull_patient_record, read_patient_file
    from adapter.render.cards import cards as cds_cards
    from adapter.render.fhir import evaluation_bundle
    from adapter.render.report import report_json
    from adapter.render.text import report_text
    from adapter.terminology import Terminology, open_terminology

_EXPORTS: dict[str, tuple[str, str]] = {
    "load_catalog": ("adapter.catalog", "load_catalog"),
    "Trial": ("adapter.catalog", "Trial"),
    "TrialCatalog": ("adapter.catalog", "TrialCatalog"),
    "Eligibility": ("adapter.core", "Eligibility"),
    "PatientEvaluation": ("adapter.core", "PatientEvaluation"),
    "TrialEvaluation": ("adapter.evaluation", "TrialEvaluation"),
    "Evaluation": ("adapter.eligibility.result", "Evaluation"),
    "CriterionResult": ("adapter.eligibility.result", "CriterionResult"),
    "PatientRecord": ("adapter.patients", "PatientRecord"),
    "read_patient_file": ("adapter.patients", "read_patient_file"),
    "pull_patient_record": ("adapter.patients", "pull_patient_record"),
    "FhirClient": ("adapter.fhir.client", "FhirClient"),
    "Terminology": ("adapter.terminology", "Terminology"),
    "open_terminology": ("adapter.terminology", "open_terminology"),
    "build_bundle": ("adapter.fhir_build", "build_bundle"),
    "report_json": ("adapter.render.report", "report_json"),
    "report_text": ("adapter.render.text", "report_text"),
    "cds_cards": ("adapter.render.cards", "cards"),
    "evaluation_bundle": ("adapter.render.fhir", "evaluation_bundle"),
    "AdapterError": ("adapter.errors", "AdapterError"),
    "PatientDataError": ("adapter.errors", "PatientDataError"),
    "MappingError": ("adapter.errors", "MappingError"),
    "UnknownTrialError": ("adapter.errors", "UnknownTrialError"),
    "FhirServerError": ("adapter.errors", "FhirServerError"),
}

__all__ = [
    "AdapterError",
    "CriterionResult",
    "Eligibility",
    "Evaluation",
    "FhirClient",
    "FhirServerError",
    "MappingError",
    "PatientDataError",
    "PatientEvaluation",
    "PatientRecord",
    "Terminology",
    "Trial",
    "TrialCatalog",
    "TrialEvaluation",
    "UnknownTrialError",
    "__version__",
    "build_bundle",
    "cds_cards",
    "evaluation_bundle",
    "load_catalog",
    "open_terminology",
    "pull_patient_record",
    "read_patient_file",
    "report_json",
    "report_text",
]


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (PEP 562)."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'adapter' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
