"""The EvidenceVariable's narrative, for people: each criterion (inclusion, then exclusion) with its reading and the
record's text, escaped, in the XHTML subset FHIR allows (the official validator checks it: tests/fhir_build/
test_validation.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from adapter.fhir_build.evidence_variable import build_evidence_variable
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

XHTML = "{http://www.w3.org/1999/xhtml}"
ALLOWED = {"div", "p", "b", "i", "table", "tr", "th", "td", "ul", "li"}


def _div(nct: str = "NCT03320629", **update: Any) -> str:
    trial = CATALOG.get(nct)
    mapping = trial.mapping.model_copy(update=update) if update else trial.mapping
    return str(build_evidence_variable(mapping, trial.concepts, trial.title, trial.record)["text"]["div"])


def _rows(div: str) -> list[list[str]]:
    root = ET.fromstring(div)
    return [["".join(td.itertext()) for td in tr.iter(f"{XHTML}td")] for tr in root.iter(f"{XHTML}tr")
            if tr.find(f"{XHTML}td") is not None]


def test_the_narrative_is_xhtml_of_allowed_elements() -> None:
    for nct in CATALOG.ids:
        div = _div(nct)
        assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">') and div.endswith("</div>")
        root = ET.fromstring(div)  # well-formed
        assert {element.tag.removeprefix(XHTML) for element in root.iter()} <= ALLOWED
        assert not any(element.attrib for element in root.iter() if element is not root)


def test_every_criterion_with_its_reading_and_the_records_text() -> None:
    trial = CATALOG.get("NCT03320629")
    rows = {row[0]: row for row in _rows(_div())}
    for criterion in trial.mapping.criteria:
        assert rows[criterion.id][2] == criterion.text
    assert rows["inc-hemoglobin"][1] == "Hemoglobin ≥ 100 g/L"
    assert rows["inc-bilirubin"][1] == "Total bilirubin < 1.5 × ULN"
    assert rows["inc-renal-function"][1] == (
        "All of: Serum creatinine ≤ 1 × ULN; Creatinine clearance, Cockcroft–Gault estimate > 50 mL/min")
    assert rows["inc-life-expectancy"][1] == "For a person to decide: Life expectancy is a clinical judgment."


def test_inclusion_then_exclusion() -> None:
    trial = CATALOG.get("NCT03787251")
    div = _div("NCT03787251")
    assert div.index("Inclusion criteria") < div.index("Exclusion criteria")
    ids = [row[0] for row in _rows(div)]
    inclusion = [c.id for c in trial.mapping.criteria if c.type == "inclusion"]
    exclusion = [c.id for c in trial.mapping.criteria if c.type == "exclusion"]
    gates = [c["linkId"] for c in trial.evidence_variable["characteristic"]][: len(ids) - len(inclusion + exclusion)]
    assert ids == [*gates, *inclusion, *exclusion]


def test_record_text_is_escaped() -> None:
    trial = CATALOG.get("NCT03320629")
    first = trial.mapping.criteria[0]
    hostile = first.model_copy(update={"text": 'Age <script>alert("x")</script> & <b>bold</b>'})
    div = _div(criteria=[hostile, *trial.mapping.criteria[1:]])
    assert "<script>" not in div and "&lt;script&gt;" in div and "&amp; &lt;b&gt;" in div
    assert _rows(div)[0][2] == hostile.text  # the text itself, not markup
