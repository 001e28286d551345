"""Mappings: schema, references and agreement with the record — every problem named with file and criterion."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapter.ctgov import load_record
from adapter.errors import MappingError
from adapter.mapping import load_concepts, load_mapping
from adapter.mapping.loader import normalize_text
from tests.support.trials import MAPPINGS

pytestmark: list[pytest.MarkDecorator] = []

RECORDS = MAPPINGS  # each record lies beside its mapping
TRIALS = ["NCT03787251", "NCT03320629"]


@pytest.fixture(scope="module")
def concepts():
    from tests.support.trials import CATALOG

    return CATALOG.concepts  # the whole library: concepts.yaml and concepts-*.yaml together


def _mutated(tmp_path: Path, trial: str, change) -> Path:
    data = yaml.safe_load((MAPPINGS / f"{trial}.yaml").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / f"{trial}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("trial", TRIALS)
def test_mapping_loads_and_agrees_with_its_record(trial, concepts):
    record = load_record(RECORDS / f"{trial}.json")
    mapping = load_mapping(MAPPINGS / f"{trial}.yaml", concepts, record)
    assert mapping.trial == trial
    eligibility = normalize_text(record.eligibility_criteria or "")
    for criterion in mapping.criteria:
        assert normalize_text(criterion.text) in eligibility, criterion.id
        if criterion.kind == "manual":
            assert criterion.manual, f"{criterion.id} is manual without a reason"


@pytest.mark.parametrize("trial", TRIALS)
def test_every_criterion_of_the_record_is_mapped(trial, concepts):
    """Each bullet/numbered item of the record's eligibility text is covered by some criterion's text."""
    record = load_record(RECORDS / f"{trial}.json")
    mapping = load_mapping(MAPPINGS / f"{trial}.yaml", concepts, record)
    covered = " ".join(normalize_text(c.text) for c in mapping.criteria)
    headings = {
        "Inclusion Criteria:",
        "Exclusion Criteria:",
        "The main organs function normally, that is, meet the following criteria:",
        "Blood routine examination:",
        "Biochemical examinations must meet the following criteria:",
        "Patients with any severe and/or uncontrolled diseases, including:",
    }
    import re

    items = [
        normalize_text(re.sub(r"^\s*[*\-]\s*", "", line)) for line in (record.eligibility_criteria or "").splitlines()
    ]
    for item in items:
        if not item or item in headings or item.startswith("<!--") or len(item) < 12:
            continue
        # 629 packs numbered items into long lines: check each numbered piece
        for piece in re.split(r"\s\d{1,2}\.\s|^\d{1,2}\.\s", item):
            piece = piece.strip(" ;")
            if len(piece) < 12 or piece.endswith(":") or piece.startswith("Patients with tendency of gastro"):
                continue
            assert piece[:40] in covered, f"{trial}: not mapped: {piece[:80]!r}"


def test_other_trial_id_is_an_error(tmp_path, concepts):
    path = _mutated(tmp_path, "NCT03787251", lambda d: d.update(trial="NCT03320629"))
    with pytest.raises(MappingError, match="mapping is for NCT03320629 but the record is NCT03787251"):
        load_mapping(path, concepts, load_record(RECORDS / "NCT03787251.json"))


def test_other_age_range_is_an_error(tmp_path, concepts):
    def change(data):
        next(c for c in data["criteria"] if c["id"] == "inc-age")["age"]["high"] = 80

    path = _mutated(tmp_path, "NCT03787251", change)
    with pytest.raises(MappingError, match=r"criterion inc-age: age 18-80 contradicts the record's 18 Years to 75"):
        load_mapping(path, concepts, load_record(RECORDS / "NCT03787251.json"))


def test_text_not_in_the_record_is_an_error(tmp_path, concepts):
    def change(data):
        data["criteria"][0]["text"] = "Something the record never says"

    path = _mutated(tmp_path, "NCT03320629", change)
    with pytest.raises(MappingError, match="criterion inc-age: text is not found verbatim"):
        load_mapping(path, concepts, load_record(RECORDS / "NCT03320629.json"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["criteria"][1].update(comparator="=>"), r"criterion inc-prior-first-line-failure .*comparator"),
        (lambda d: d["criteria"][2].pop("age"), r"criterion inc-age .*needs exactly one of .*\(found: none\)"),
        (lambda d: d["criteria"][6]["all_of"][0].pop("unit"), r"criterion inc-hemoglobin .*value needs a UCUM unit"),
        (
            lambda d: d["criteria"][6]["all_of"][0].update(observation="haemoglobin"),
            r"criterion inc-hemoglobin: unknown observation concept 'haemoglobin'",
        ),
        (lambda d: d["criteria"][2].update(colour="red"), r"criterion inc-age .*Extra inputs are not permitted"),
        (
            lambda d: d["criteria"][6]["all_of"][1].update(before=["nowhere"]),
            r"criterion inc-hemoglobin: before 'nowhere' must name the id of an observation item",
        ),
    ],
)
def test_broken_mapping_is_named_precisely(tmp_path, concepts, change, message):
    path = _mutated(tmp_path, "NCT03787251", change)
    with pytest.raises(MappingError, match=message) as info:
        load_mapping(path, concepts)
    assert str(info.value).startswith(str(path))


def test_invalid_yaml_names_the_line(tmp_path, concepts):
    path = tmp_path / "NCT03787251.yaml"
    path.write_text("trial: NCT03787251\ncriteria: [\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"NCT03787251.yaml: line \d+ not valid YAML"):
        load_mapping(path, concepts)


def test_missing_mapping_file(tmp_path, concepts):
    with pytest.raises(MappingError, match="no such mapping file"):
        load_mapping(tmp_path / "NCT00000000.yaml", concepts)


def test_concepts_need_codes_or_text(tmp_path):
    path = tmp_path / "concepts.yaml"
    path.write_text("observations:\n  x: {display: X}\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"observations\.x: a concept needs codes or text"):
        load_concepts(path)


@pytest.mark.parametrize(("entry", "message"), [
    ("observations:\n  x: {display: X, text: [x], drafting: {patterns: ['(']}}\n", r"pattern '\(' does not compile"),
    ("observations:\n  x: {display: X, text: [x], drafting: {patterns: ['a?']}}\n", "matches the empty text"),
    ("observations:\n  x: {display: X, text: [x], drafting: {patterns: []}}\n", "at least 1 item"),
    ("conditions:\n  x: {display: X, text: [x], drafting: {patterns: [x], units: ['%']}}\n",
     "drafting units are for observations only"),
    ("observations:\n  x: {display: X, text: [x]}\ndrafting_only:\n  x: {display: X, drafting: {patterns: [x]}}\n",
     "drafting_only x: the library has it as a concept"),
])
def test_drafting_blocks_are_checked(tmp_path, entry, message):
    path = tmp_path / "concepts.yaml"
    path.write_text(entry, encoding="utf-8")
    with pytest.raises(MappingError, match=message):
        load_concepts(path)
