"""Load mappings/*.yaml and check them: against the schema, the concept library and the trial's own record.

Every problem is a MappingError whose message names the file, the criterion and what is wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapter.ctgov.model import TrialRecord
from adapter.errors import MappingError
from adapter.mapping.concepts import ConceptLibrary
from adapter.mapping.model import AgeDefinition, TrialMapping
from adapter.vocabulary import RECORD_KINDS
from adapter.yamlio import load_yaml

# Mapping key -> concept table: the record kinds (vocabulary) plus observations and derived measures.
CONCEPT_KINDS = {
    "observation": "observations",
    **{kind.mapping_key: kind.name for kind in RECORD_KINDS},
    "derived": "derived",
}
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"{path}: no such mapping file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read ({exc})") from None


def _parse_yaml(text: str, source: str) -> Any:
    # The safe constructor, with alias expansion bounded before anything (the parsed-YAML cache) walks the data.
    return load_yaml(text, source)


def _describe(error: ValidationError, data: Any, path: str) -> str:
    first = error.errors()[0]
    loc = list(first["loc"])
    where = ".".join(str(part) for part in loc)
    if len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int):
        try:
            criterion_id = data["criteria"][loc[1]].get("id", f"#{loc[1] + 1}")
        except (KeyError, IndexError, TypeError, AttributeError):
            criterion_id = f"#{loc[1] + 1}"
        where = f"criterion {criterion_id} ({where})"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{path}: {where}: {message}{more}"


def load_concepts(path: Path) -> ConceptLibrary:
    return concepts_from_text(_read_text(path), str(path))


def concepts_from_text(text: str, source: str) -> ConceptLibrary:
    return concepts_from_data(concept_data(text, source), source)


def parse_yaml(text: str, source: str) -> Any:
    """YAML text to data; a MappingError naming `source` and the line when it is not valid YAML."""
    return _parse_yaml(text, source)


def concept_data(text: str, source: str, parse: Callable[[str, str], Any] = parse_yaml) -> dict[str, Any]:
    """One concept file's YAML, checked only for its outer shape (a file may hold part of the library)."""
    data = parse(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict | list) for v in data.values()):
        raise MappingError(f"{source}: a concept file maps sections (observations, conditions, …) to entries")
    return data


def merge_concept_data(base: dict[str, Any], more: dict[str, Any], source: str, *, override: bool) -> dict[str, Any]:
    """`more` added to `base` section by section. Within one folder a name defined twice is an error
    (`override=False`); a later folder replaces named entries (`override=True`)."""
    merged = dict(base)
    for section, entries in more.items():
        ours = merged.get(section)
        if isinstance(entries, dict):
            ours = dict(ours) if isinstance(ours, dict) else {}
            if not override:  # the same entry written identically in two files (a shared source) is fine
                twice = sorted(k for k in set(ours) & set(entries) if ours[k] != entries[k])
                if twice:
                    raise MappingError(f"{source}: {section}.{twice[0]} is already defined in another concept file")
            ours.update(entries)
        else:
            ours = [*(ours if isinstance(ours, list) else []), *(x for x in entries if x not in (ours or []))]
        merged[section] = ours
    return merged


def concepts_from_data(data: dict[str, Any], source: str) -> ConceptLibrary:
    try:
        return ConceptLibrary.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_describe(exc, data, source)) from None


def load_mapping(path: Path, concepts: ConceptLibrary, record: TrialRecord | None = None) -> TrialMapping:
    """Read, validate and cross-check one trial mapping. `record`, when given, must agree with it."""
    return mapping_from_text(_read_text(path), str(path), concepts, record)


def mapping_from_text(
    text: str, source: str, concepts: ConceptLibrary, record: TrialRecord | None = None,
    parse: Callable[[str, str], Any] = parse_yaml,
) -> TrialMapping:
    """Validate and cross-check one trial mapping's YAML text; `source` names it in messages."""
    data = parse(text, source)
    try:
        mapping = TrialMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_describe(exc, data, source)) from None
    problems = check_references(mapping, concepts)
    if record is not None:
        problems += check_against_record(mapping, record)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MappingError(f"{source}: {problems[0]}{more}")
    return mapping


def check_references(mapping: TrialMapping, concepts: ConceptLibrary) -> list[str]:
    """Concept names, unique ids and `before` anchors."""
    problems: list[str] = []
    anchors: dict[str, str] = {}
    for criterion in mapping.criteria:
        for node in criterion.walk():
            anchor = node.id
            if anchor is not None:
                if anchor in anchors:
                    problems.append(f"criterion {criterion.id}: id {anchor!r} is used twice")
                anchors[anchor] = node.kind
            table = CONCEPT_KINDS.get(node.kind)
            name = getattr(node, node.kind) if table is not None else None
            if table is not None and name not in getattr(concepts, table):
                problems.append(f"criterion {criterion.id}: unknown {node.kind} concept {name!r} (see concepts.yaml)")
    for condition in mapping.conditions:
        if condition.concept is not None and condition.concept not in concepts.conditions:
            problems.append(f"condition {condition.text!r}: unknown condition concept {condition.concept!r}")
    for criterion in mapping.criteria:
        for node in criterion.walk():
            for anchor in getattr(node, "before", None) or []:  # only timed record entries have `before`
                if anchors.get(anchor) != "observation":
                    problems.append(
                        f"criterion {criterion.id}: before {anchor!r} must name the id of an observation item"
                    )
    return problems


def normalize_text(text: str) -> str:
    """Compare texts as a reader would: markdown escapes dropped, Unicode and whitespace folded."""
    text = unicodedata.normalize("NFKC", _MARKDOWN_ESCAPE.sub(r"\1", text))
    return " ".join(text.split())


def check_against_record(mapping: TrialMapping, record: TrialRecord) -> list[str]:
    """A mapping that contradicts its record is an error: other trial, ages, sex, arms, or foreign text."""
    problems: list[str] = []
    if mapping.trial != record.nct_id:
        problems.append(f"mapping is for {mapping.trial} but the record is {record.nct_id}")
        return problems
    population = mapping.population
    for label, ours, theirs in (
        ("minimum_age", population.minimum_age, record.minimum_age),
        ("maximum_age", population.maximum_age, record.maximum_age),
        ("sex", population.sex, record.sex),
    ):
        if ours != theirs:
            problems.append(f"population.{label} is {ours!r} but the record says {theirs!r}")
    record_ages = (_years(record.minimum_age), _years(record.maximum_age))
    for criterion in mapping.criteria:
        for node in criterion.walk():
            if isinstance(node, AgeDefinition) and (node.age.low, node.age.high) != record_ages:
                problems.append(
                    f"criterion {criterion.id}: age {node.age.low}-{node.age.high} contradicts the record's "
                    f"{record.minimum_age} to {record.maximum_age}"
                )
    eligibility = normalize_text(record.eligibility_criteria or "")
    for criterion in mapping.criteria:
        if normalize_text(criterion.text) not in eligibility:
            problems.append(
                f"criterion {criterion.id}: text is not found verbatim in the record's eligibility criteria"
            )
    for condition in mapping.conditions:
        if condition.text not in record.conditions:
            problems.append(f"condition {condition.text!r} is not a condition of the record")
    record_arms = {arm.label for arm in record.arm_groups}
    mapped_arms = {arm.label for arm in mapping.arms}
    for label in sorted(mapped_arms - record_arms):
        problems.append(f"arm {label!r} is not an arm of the record")
    for label in sorted(record_arms - mapped_arms):
        problems.append(f"the record's arm {label!r} has no mapping")
    return problems


def _years(age: str | None) -> int | None:
    if age is None:
        return None
    value, unit = age.split()
    return int(value) if unit.lower().startswith("year") else None
