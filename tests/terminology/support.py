"""Shared pieces of the terminology tests: the test code systems, a test concept library, a small EvidenceVariable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapter.mapping.concepts import ConceptLibrary
from adapter.vocabulary import SNOMED
from tests.support import fhir

if TYPE_CHECKING:
    from tests.support.hapi import HapiServer

HIERARCHY = "http://example.org/fhir/CodeSystem/test-hierarchy"  # ours: not SNOMED, codes made up
LEGACY = "http://example.org/fhir/CodeSystem/test-legacy"
CONCEPT_MAP = "http://example.org/fhir/ConceptMap/test-legacy-to-hierarchy"
PROCEDURE_TYPE = {"coding": [{"system": SNOMED, "code": "71388002", "display": "Procedure"}], "text": "Procedure"}


def library(*codes: tuple[str, str]) -> ConceptLibrary:
    """A concept library with one procedure concept, `transfusion`, holding `codes` (system, code)."""
    return ConceptLibrary.model_validate({"procedures": {"transfusion": {
        "display": "Transfusion", "codes": [{"system": s, "code": c} for s, c in codes]}}})


def evidence_variable(*codes: tuple[str, str]) -> dict[str, Any]:
    """Two criteria on one value set: an inclusion (had a transfusion) and an exclusion (had a transfusion)."""
    value = {"coding": [{"system": s, "code": c} for s, c in codes], "text": "Transfusion"}
    by_type = {"type": PROCEDURE_TYPE, "valueCodeableConcept": value}
    return {"resourceType": "EvidenceVariable", "status": "active", "characteristic": [
        {"linkId": "had-transfusion", "description": "Had a transfusion", "definitionByTypeAndValue": by_type},
        {"linkId": "no-transfusion", "description": "No transfusion", "exclude": True,
         "definitionByTypeAndValue": by_type}]}


def patient_bundle(system: str, code: str) -> dict[str, Any]:
    given = fhir.procedure("tx-1", fhir.concept(system, code, "red cells given"), when="2026-01-10")
    return fhir.bundle([fhir.patient("p1", birth_date="1960-05-01"), given], full_urls=True)


def code_system(content: str) -> dict[str, Any]:
    """The test hierarchy: transfusion > red cell, platelet > apheresis platelet; dialysis apart."""
    return {
        "resourceType": "CodeSystem", "id": "test-hierarchy", "url": HIERARCHY, "version": "1", "name": "TestHierarchy",
        "status": "active", "content": content, "hierarchyMeaning": "is-a",
        "concept": [
            {"code": "transfusion", "display": "Transfusion", "concept": [
                {"code": "red-cell-transfusion", "display": "Red cell transfusion"},
                {"code": "platelet-transfusion", "display": "Platelet transfusion", "concept": [
                    {"code": "apheresis-platelet-transfusion", "display": "Apheresis platelet transfusion"}]}]},
            {"code": "dialysis", "display": "Dialysis"}]}


def legacy_code_system() -> dict[str, Any]:
    return {"resourceType": "CodeSystem", "id": "test-legacy", "url": LEGACY, "version": "1", "name": "TestLegacy",
            "status": "active", "content": "fragment",
            "concept": [{"code": c, "display": d} for c, d in (
                ("L-TX", "Legacy transfusion"), ("L-RBC", "Legacy red cells"), ("L-BLOOD", "Legacy blood products"),
                ("L-PLT-APH", "Legacy apheresis platelets"))]}


def concept_map() -> dict[str, Any]:
    """test-legacy → test-hierarchy; R4 equivalence is read target to source ("wider": the target is wider)."""
    def element(code: str, *targets: tuple[str, str]) -> dict[str, Any]:
        return {"code": code, "target": [{"code": t, "equivalence": e} for t, e in targets]}

    return {"resourceType": "ConceptMap", "id": "test-legacy-to-hierarchy", "url": CONCEPT_MAP, "status": "active",
            "group": [{"source": LEGACY, "target": HIERARCHY, "element": [
                element("L-TX", ("transfusion", "equivalent"), ("dialysis", "inexact")),
                element("L-RBC", ("red-cell-transfusion", "equal"), ("transfusion", "wider")),
                element("L-BLOOD", ("platelet-transfusion", "narrower"))]}]}


def load_test_terminology(hapi: HapiServer) -> str:
    """`hapi` (R4) with the test CodeSystems and ConceptMap loaded, and the hierarchy expandable; its base URL."""
    import time

    from adapter.terminology import TerminologyCache, TerminologyClient
    from adapter.terminology.client import TerminologyRefused

    with hapi.client() as http:
        for resource in (code_system("fragment"), legacy_code_system(), concept_map()):
            reply = http.put(f"{resource['resourceType']}/{resource['id']}", json=resource)
            assert reply.status_code in (200, 201), reply.text
        # HAPI may index terminology in the background: wait (bounded) until the hierarchy expands.
        deadline = time.monotonic() + 60
        with TerminologyClient(hapi.base_url) as probe:
            while True:
                try:
                    if len(probe.expand_is_a(HIERARCHY, "transfusion").codes) == 4:
                        break
                except TerminologyRefused:
                    pass
                assert time.monotonic() < deadline, "HAPI did not expand the test hierarchy within 60 s"
                probe.cache = TerminologyCache()
                time.sleep(1)
    return hapi.base_url
