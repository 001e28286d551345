"""The FHIR vocabulary the project speaks, written once: code systems, EvidenceVariable type codes, record kinds.

Everything that names a code system, builds a `system|code` token or knows which FHIR resource types hold
conditions, medications, procedures or allergies imports it from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Code systems and canonical URLs (each is the official URI of the system: https://terminology.hl7.org).
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ADMINISTRATIVE_GENDER = "http://hl7.org/fhir/administrative-gender"
CHARACTERISTIC_OFFSET = "http://hl7.org/fhir/characteristic-offset"
REFERENCE_RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
DATA_ABSENT_REASON_EXT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
CTGOV_SYSTEM = "https://clinicaltrials.gov"
CTGOV_STUDY_PAGE = "https://clinicaltrials.gov/study/"
# Our own canonical base: business identifiers, the derived-measure CodeSystem, our extension definitions.
CANONICAL_BASE = "https://trial-fhir-adapter.github.io/fhir"
RESOURCE_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/identifier"
DERIVED_CODE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/derived-measure"

FHIR_JSON = "application/fhir+json"

# Code systems by the names people know them by (the official URIs: https://terminology.hl7.org).
SYSTEM_NAMES: Mapping[str, str] = {
    SNOMED: "SNOMED CT",
    LOINC: "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://www.cms.gov/Medicare/Coding/ICD10": "ICD-10-PCS",
    "http://www.whocc.no/atc": "ATC",
}


def system_name(system: str) -> str:
    """A code system as people name it ("SNOMED CT"); a system without a common name as its URI."""
    return SYSTEM_NAMES.get(system, system)


def token(system: str | None, code: str) -> str:
    """The one spelling of a coding as a lookup key: ``system|code`` (``|code`` when it has no system)."""
    return f"{system or ''}|{code}"


def coding_tokens(concept: Mapping[str, Any] | None) -> list[str]:
    """The codings of a CodeableConcept (a dict) as tokens, in order; codings without a code are skipped."""
    if not isinstance(concept, Mapping):
        return []
    found = []
    for coding in concept.get("coding") or ():
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str) and coding["code"]:
            system = coding.get("system")
            found.append(token(system if isinstance(system, str) else None, coding["code"]))
    return found


def split_token(value: str) -> tuple[str, str]:
    """(system, code) of a token; the system is '' when the coding had none."""
    system, _, code = value.partition("|")
    return system, code


@dataclass(frozen=True, slots=True)
class TypeCode:
    """A SNOMED CT concept used as `EvidenceVariable.characteristic.definitionByTypeAndValue.type`."""

    code: str
    display: str
    text: str

    @property
    def token(self) -> str:
        return token(SNOMED, self.code)

    def concept(self) -> dict[str, Any]:
        return {"coding": [{"system": SNOMED, "code": self.code, "display": self.display}], "text": self.text}


# Source: SNOMED CT International (browser.ihtsdotools.org); 424144002 as used by the FHIR R5 core example
# evidencevariable-example-eligibility-criteria-diabetes-surgery.
AGE = TypeCode("424144002", "Current chronological age", "Age")
GENDER = TypeCode("263495000", "Gender", "Sex")


@dataclass(frozen=True, slots=True)
class RecordKind:
    """One kind of record entry whose absence means "not present": where it lives in FHIR and in our data."""

    name: str  # the fact table and the concept table: "conditions", ...
    mapping_key: str  # the key in a mapping's criterion: "condition", ...
    type_code: TypeCode  # the EvidenceVariable type that selects it
    resource_types: tuple[str, ...]  # FHIR resource types holding it
    prefetch_keys: tuple[str, ...]  # CDS Hooks prefetch keys, one per resource type
    subject_element: str = "subject"  # where the resource names its patient


RECORD_KINDS: tuple[RecordKind, ...] = (
    RecordKind("conditions", "condition", TypeCode("439401001", "Diagnosis", "Diagnosis"), ("Condition",),
               ("conditions",)),
    RecordKind("medications", "medication", TypeCode("410942007", "Drug or medicament", "Medication"),
               ("MedicationStatement", "MedicationRequest", "MedicationAdministration"),
               ("medicationStatements", "medicationRequests", "medicationAdministrations")),
    RecordKind("procedures", "procedure", TypeCode("71388002", "Procedure", "Procedure"), ("Procedure",),
               ("procedures",)),
    RecordKind("allergies", "allergy", TypeCode("609328004", "Allergic disposition", "Allergy"),
               ("AllergyIntolerance",), ("allergies",), subject_element="patient"),
)  # fmt: skip
RECORD_KIND_BY_NAME: Mapping[str, RecordKind] = {kind.name: kind for kind in RECORD_KINDS}
RECORD_KIND_BY_MAPPING_KEY: Mapping[str, RecordKind] = {kind.mapping_key: kind for kind in RECORD_KINDS}
RECORD_KIND_BY_TYPE_TOKEN: Mapping[str, RecordKind] = {kind.type_code.token: kind for kind in RECORD_KINDS}
RECORD_KIND_BY_RESOURCE: Mapping[str, RecordKind] = {
    resource_type: kind for kind in RECORD_KINDS for resource_type in kind.resource_types
}
RECORD_RESOURCE_TYPES: tuple[str, ...] = tuple(t for kind in RECORD_KINDS for t in kind.resource_types)
# Prefetch key -> resource type, in a stable order.
RECORD_PREFETCH: Mapping[str, str] = {
    key: resource_type
    for kind in RECORD_KINDS
    for key, resource_type in zip(kind.prefetch_keys, kind.resource_types, strict=True)
}

# `offset` that makes a threshold a multiple of the result's upper reference limit.
ULN_OFFSET = token(CHARACTERISTIC_OFFSET, "UNL")
NORMAL_RANGE = token(REFERENCE_RANGE_MEANING, "normal")
