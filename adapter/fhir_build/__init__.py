"""Trial → FHIR. Pure: a Trial (record + mapping) in, resources and transaction Bundles out.

Modules: `resources` assembles the R5 resources from `research_study`, `protocol`, `parties`,
`evidence_variable` and `definitions`; `r4` converts them to R4; `bundle` wraps them in a transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from adapter.fhir_build.bundle import transaction_bundle
from adapter.fhir_build.definitions import r5_combination_extension_definition
from adapter.fhir_build.r4 import to_r4
from adapter.fhir_build.resources import build_r5_resources

if TYPE_CHECKING:  # the builder only reads a trial (record, mapping, concepts); it does not load one
    from adapter.catalog import Trial

FhirVersion = Literal["R4", "R5"]


def build_resources(trial: Trial, fhir_version: FhirVersion = "R5") -> list[dict[str, Any]]:
    resources = build_r5_resources(trial)
    if fhir_version == "R4":
        return [*to_r4(resources, trial.record.overall_status, trial.nct_id), r5_combination_extension_definition()]
    return resources


def build_bundle(trial: Trial, fhir_version: FhirVersion = "R5") -> dict[str, Any]:
    """One transaction Bundle with every resource of the trial, conditional on business identifiers."""
    return transaction_bundle(build_resources(trial, fhir_version), bundle_key=f"{trial.nct_id}-{fhir_version.lower()}")


__all__ = ["FhirVersion", "build_bundle", "build_resources"]
