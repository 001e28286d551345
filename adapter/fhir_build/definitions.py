"""Conformance resources this project defines, published with the trials so servers and validators know them."""

from __future__ import annotations

from typing import Any

from adapter.fhir_build.common import business_identifier, narrative
from adapter.fhir_build.r4 import R5_COMBINATION_EXTENSION
from adapter.mapping.concepts import ConceptLibrary
from adapter.vocabulary import DERIVED_CODE_SYSTEM


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
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": "EvidenceVariable.characteristic"}],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
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


__all__ = ["derived_code_system", "r5_combination_extension_definition"]
