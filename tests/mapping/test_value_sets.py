"""The bundled value sets as reviewed data: every code cites a public source, every concept lists its sources,
and every code has the shape its code system gives codes (with the check digit where the system has one)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from adapter.mapping.concepts import Code, Concept
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

KINDS = ("observations", "conditions", "procedures", "medications", "allergies")

# Verhoeff tables (SNOMED CT identifiers end in a Verhoeff check digit; SNOMED CT Technical Implementation Guide).
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def verhoeff_ok(number: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def loinc_ok(code: str) -> bool:
    """LOINC's mod-10 check digit (the digit after the hyphen), as the LOINC User's Guide describes."""
    body, check = code.split("-")
    digits = [int(d) for d in body]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 0:
            doubled = digit * 2
            total += doubled // 10 + doubled % 10
        else:
            total += digit
    return (10 - total % 10) % 10 == int(check)


FORMATS = {
    "http://snomed.info/sct": re.compile(r"^[1-9]\d{5,17}$"),
    "http://loinc.org": re.compile(r"^(\d{1,5}-\d|LA\d{1,5}-\d)$"),
    "http://hl7.org/fhir/sid/icd-10-cm": re.compile(r"^[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$"),
    "http://hl7.org/fhir/sid/icd-10": re.compile(r"^[A-Z]\d{2}(\.\d{1,2})?$"),
    "http://www.cms.gov/Medicare/Coding/ICD10": re.compile(r"^[0-9A-HJ-NP-Z]{7}$"),  # ICD-10-PCS: no I, no O
    "http://www.ama-assn.org/go/cpt": re.compile(r"^\d{4}[0-9FTU]$"),
    "http://www.nlm.nih.gov/research/umls/rxnorm": re.compile(r"^[1-9]\d{0,8}$"),
    "http://www.whocc.no/atc": re.compile(r"^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$"),
}


def all_codes() -> Iterator[tuple[str, str, Concept, Code]]:
    for kind in KINDS:
        for name, concept in getattr(CATALOG.concepts, kind).items():
            for code in concept.all_codes():
                yield kind, name, concept, code


CODES = list(all_codes())


def test_there_are_value_sets_in_several_systems() -> None:
    systems = {code.system for *_, code in CODES}
    assert {"http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm", "http://www.nlm.nih.gov/research/umls/rxnorm",
            "http://loinc.org"} <= systems


@pytest.mark.parametrize("kind", KINDS)
def test_every_concept_with_codes_lists_its_sources(kind: str) -> None:
    missing = [name for name, c in getattr(CATALOG.concepts, kind).items() if c.all_codes() and not c.sources]
    assert not missing


def test_every_code_cites_a_known_source() -> None:
    unsourced = [(kind, name, code.code) for kind, name, _, code in CODES if not code.source]
    assert not unsourced
    assert all(code.source in CATALOG.concepts.sources for *_, code in CODES)
    assert all(source.url or source.note for source in CATALOG.concepts.sources.values())


def test_every_code_has_its_systems_shape_and_check_digit() -> None:
    wrong = []
    for kind, name, _, code in CODES:
        pattern = FORMATS.get(code.system)
        if pattern is None:
            wrong.append((kind, name, code.system, code.code, "system without a known code format"))
        elif not pattern.match(code.code):
            wrong.append((kind, name, code.system, code.code, "shape"))
        elif code.system == "http://snomed.info/sct" and not verhoeff_ok(code.code):
            wrong.append((kind, name, code.system, code.code, "Verhoeff check digit"))
        elif code.system == "http://loinc.org" and not code.code.startswith("LA") and not loinc_ok(code.code):
            wrong.append((kind, name, code.system, code.code, "mod-10 check digit"))
    assert not wrong, wrong[:10]


def test_the_checks_themselves_catch_mistakes() -> None:
    assert verhoeff_ok("86406008") and not verhoeff_ok("86406009")  # HIV infection, one digit off
    assert loinc_ok("718-7") and not loinc_ok("718-6")
    assert not FORMATS["http://hl7.org/fhir/sid/icd-10-cm"].match("C15-9")
    assert not FORMATS["http://www.cms.gov/Medicare/Coding/ICD10"].match("30233O1")


def test_partial_codes_say_what_they_lack() -> None:
    for kind in KINDS:
        for concept in getattr(CATALOG.concepts, kind).values():
            assert all(p.missing.strip() for p in concept.partial_codes)
    escc = CATALOG.concepts.conditions["escc"]
    assert any(p.code == "C15.9" for p in escc.partial_codes)
