"""Conformance resources this project defines, published with the trials so servers and validators know them."""

from __future__ import annotations

from typing import Any, Literal

from adapter.fhir_build.common import business_identifier, narrative
from adapter.mapping.concepts import ConceptLibrary
from adapter.vocabulary import CANONICAL_BASE, DERIVED_CODE_SYSTEM

R5_COMBINATION_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/r5-definition-by-combination"
# How a record-entry characteristic (Diagnosis, Procedure, Drug, Allergy) reads the record beyond its codes:
# `history` (entries no longer active count too) and `partialCode` (codings that name the item without a detail
# the criterion needs; a match is `unknown`, with `missing` shown). On EvidenceVariable.characteristic, in R5
# and R4 alike; the engine reads it there (or on definitionByTypeAndValue).
RECORD_ENTRY_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/record-entry-reading"
# Which way a record-entry characteristic settles (a modifier: it changes what a match or its absence means):
# `absence` — only absence settles (not present); a match is unknown, for a person: the recorded facts that bear on
# a criterion left to a person. `presence` — only a match settles; no match is unknown: a condition the record may
# hold under other names (a trial's own conditions). `neither` — a match is cited for the person who decides, and
# the characteristic stays manual either way.
RECORD_ENTRY_SETTLES_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/record-entry-settles"
SETTLES_CODES = ("absence", "presence", "neither")
FHIR_VERSIONS = {"R4": "4.0.1", "R5": "5.0.0"}


def derived_code_system(concepts: ConceptLibrary) -> dict[str, Any]:
    """The CodeSystem of the measures this project computes (creatinine clearance…), used as criterion types."""
    return {
        "resourceType": "CodeSystem",
        "id": "derived-measure",
        "text": narrative("Derived measures"),
        "url": DERIVED_CODE_SYSTEM,
        "identifier": [business_identifier("derived-measure")],
        "name": "DerivedMeasure",
        "title": "Measures computed from other data by trial-fhir-adapter",
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "concept": [
            {
                "code": code,
                "display": d.display,
                "definition": f"{d.display} computed by the {d.formula} formula, in {d.unit}.",
            }
            for code, d in concepts.derived.items()
        ],
    }


def _characteristic_extension() -> dict[str, Any]:
    """What both of our extensions on EvidenceVariable.characteristic declare alike (a new dict each time: the
    resources built from it are the caller's to change)."""
    return {
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": "EvidenceVariable.characteristic"}],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
    }


def r5_combination_extension_definition() -> dict[str, Any]:
    """R4 StructureDefinition of the extension that carries an R5 definitionByCombination as JSON."""
    key = "r5-definition-by-combination"
    return {
        "resourceType": "StructureDefinition",
        "id": key,
        "text": narrative("R5 EvidenceVariable.characteristic.definitionByCombination, as JSON, for R4."),
        "url": R5_COMBINATION_EXTENSION,
        "identifier": [business_identifier(key)],
        "name": "R5DefinitionByCombination",
        "title": "R5 definitionByCombination (JSON)",
        "status": "active",
        "description": "The R5 EvidenceVariable.characteristic.definitionByCombination element of this "
        "characteristic, serialised as FHIR R5 JSON. The standard cross-version extension for "
        "this element cannot be used: its nested characteristic is recursive, which the "
        "cross-version extension definitions cannot express.",
        "fhirVersion": "4.0.1",
        **_characteristic_extension(),
        "differential": {
            "element": [
                {
                    "id": "Extension",
                    "path": "Extension",
                    "short": "R5 definitionByCombination as JSON",
                    "definition": "An R5 definitionByCombination, serialised as FHIR R5 JSON.",
                    "max": "1",
                },
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": R5_COMBINATION_EXTENSION},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1, "type": [{"code": "string"}]},
            ]
        },
    }


def _path(element_id: str) -> str:
    """An element id without its slice names: the element's path."""
    return ".".join(part.split(":")[0] for part in element_id.split("."))


def _element(element_id: str, **content: Any) -> dict[str, Any]:
    return {"id": element_id, "path": _path(element_id), **content}


def _simple_slice(parent: str, name: str, value_type: str, short: str, *, min_: int, max_: str) -> list[dict[str, Any]]:
    """A sub-extension slice with one value of `value_type`."""
    slice_id = f"{parent}.extension:{name}"
    return [
        _element(slice_id, sliceName=name, short=short, min=min_, max=max_),
        _element(f"{slice_id}.extension", max="0"),
        _element(f"{slice_id}.url", fixedUri=name),
        _element(f"{slice_id}.value[x]", min=1, type=[{"code": value_type}]),
    ]


def _slicing(element_id: str) -> dict[str, Any]:
    return _element(element_id, slicing={"discriminator": [{"type": "value", "path": "url"}], "rules": "closed"})


def record_entry_extension_definition(fhir_version: Literal["R4", "R5"]) -> dict[str, Any]:
    """StructureDefinition of the extension that says how a record-entry characteristic reads the record."""
    key = "record-entry-reading"
    partial = "Extension.extension:partialCode"
    elements: list[dict[str, Any]] = [
        _element(
            "Extension",
            short="How a record-entry criterion reads the record",
            definition="For a characteristic whose definitionByTypeAndValue.type is a record-entry category "
            "(diagnosis, procedure, drug, allergy): whether entries no longer active count, and which codings "
            "name the item without a detail the criterion needs.",
            max="1",
        ),
        _slicing("Extension.extension"),
        *_simple_slice(
            "Extension",
            "history",
            "boolean",
            "true: entries no longer active (inactive, resolved, remission) count too",
            min_=0,
            max_="1",
        ),
        _element(partial, sliceName="partialCode", short="A coding that lacks a detail the criterion needs",
                 min=0, max="*"),
        _slicing(f"{partial}.extension"),
        *_simple_slice(partial, "coding", "Coding", "The coding", min_=1, max_="1"),
        *_simple_slice(partial, "missing", "string", "What the coding does not say", min_=1, max_="1"),
        _element(f"{partial}.url", fixedUri="partialCode"),
        _element(f"{partial}.value[x]", max="0"),
        _element("Extension.url", fixedUri=RECORD_ENTRY_EXTENSION),
        _element("Extension.value[x]", max="0"),
    ]
    return {
        "resourceType": "StructureDefinition",
        "id": key,
        "text": narrative(
            "How a record-entry criterion reads the record: history (entries no longer active count too) and "
            "partial codes (a match is unknown, with what the code does not say)."
        ),
        "url": RECORD_ENTRY_EXTENSION,
        "identifier": [business_identifier(key)],
        "name": "RecordEntryReading",
        "title": "Record-entry reading of an eligibility criterion",
        "status": "active",
        "description": "On an EvidenceVariable characteristic whose definitionByTypeAndValue.type is a "
        "record-entry category (SNOMED 439401001 Diagnosis, 71388002 Procedure, 410942007 Drug or medicament, "
        "609328004 Allergic disposition). `history` true: entries that are no longer active (clinicalStatus "
        "inactive, resolved, remission) count as well (\"history of\"); absent or false: only active entries "
        "count. `partialCode` (repeating): a coding that names the item without a detail the criterion needs "
        "(e.g. ICD-10-CM C15.9 has no histology); an entry coded so makes the criterion unknown, and `missing` "
        "says what to confirm. Codes in valueCodeableConcept.coding are the value set; the `;`-separated terms "
        "of valueCodeableConcept.text are names (a term ending in * is a prefix) that make an entry coded "
        "otherwise, or not coded, a possible match to confirm.",
        "fhirVersion": FHIR_VERSIONS[fhir_version],
        **_characteristic_extension(),
        "differential": {"element": elements},
    }


def record_entry_settles_definition(fhir_version: Literal["R4", "R5"]) -> dict[str, Any]:
    """StructureDefinition of the modifier extension that says which way a record-entry characteristic settles."""
    key = "record-entry-settles"
    return {
        "resourceType": "StructureDefinition",
        "id": key,
        "text": narrative(
            "Which way a record-entry criterion settles: on absence only (a match is for a person to confirm) "
            "or on presence only (no match is unknown)."
        ),
        "url": RECORD_ENTRY_SETTLES_EXTENSION,
        "identifier": [business_identifier(key)],
        "name": "RecordEntrySettles",
        "title": "Which way a record-entry criterion settles",
        "status": "active",
        "description": "A modifier extension on an EvidenceVariable characteristic whose "
        "definitionByTypeAndValue.type is a record-entry category. `absence`: no matching entry means the item "
        "is not present (the characteristic is not met); a matching entry does not settle it — it is evidence a "
        "person must weigh (the characteristic is unknown, the entry cited). `presence`: a matching entry meets "
        "the characteristic; no matching entry does not settle it (unknown: the record may hold the item under "
        "other names or codes). `neither`: the characteristic is for a person to decide either way; a matching "
        "entry is cited for them. A reader that does not understand this extension must not evaluate the "
        "characteristic.",
        "fhirVersion": FHIR_VERSIONS[fhir_version],
        **_characteristic_extension(),
        "differential": {
            "element": [
                _element(
                    "Extension",
                    short="absence | presence | neither: which way the characteristic settles",
                    definition="Which result of the record-entry search settles the characteristic; the other "
                    "result leaves it unknown.",
                    max="1",
                    isModifier=True,
                    isModifierReason="It changes what a match (or no match) of the record-entry item means.",
                ),
                _element("Extension.extension", max="0"),
                _element("Extension.url", fixedUri=RECORD_ENTRY_SETTLES_EXTENSION),
                _element("Extension.value[x]", min=1, type=[{"code": "code"}]),
            ]
        },
    }


def project_extension_definitions(fhir_version: Literal["R4", "R5"]) -> list[dict[str, Any]]:
    """The StructureDefinitions a trial Bundle of that version publishes (R4 also has the combination one)."""
    found = [record_entry_extension_definition(fhir_version), record_entry_settles_definition(fhir_version)]
    if fhir_version == "R4":
        found.append(r5_combination_extension_definition())
    return found


__all__ = [
    "R5_COMBINATION_EXTENSION",
    "RECORD_ENTRY_EXTENSION",
    "RECORD_ENTRY_SETTLES_EXTENSION",
    "SETTLES_CODES",
    "derived_code_system",
    "project_extension_definitions",
    "r5_combination_extension_definition",
    "record_entry_extension_definition",
    "record_entry_settles_definition",
]
