"""Trial criteria (mapping) → R5 EvidenceVariable. Pure.

Conventions the eligibility engine reads back (documented in README, "Criteria in FHIR"):
- one top-level characteristic per criterion; linkId = criterion id, description = the record's text,
  exclude = true for exclusions (the definition says what excludes);
- a data element is `definitionByTypeAndValue`: `type` is the observation code (LOINC) or, for record
  entries, the SNOMED category (Diagnosis, Procedure, Drug or medicament, Allergic disposition) with the item
  in `valueCodeableConcept`; age (SNOMED 424144002) and gender (263495000) likewise;
- `offset` = characteristic-offset#UNL: the value is a multiple of the result's upper reference limit;
- `timeFromEvent` without an event (or with eventCodeableConcept text only) is relative to the evaluation
  date: the look-back window for a result; with `eventId` it is relative to the result used by that
  characteristic (e.g. no transfusion in the 14 days before the blood count);
- a record entry's `valueCodeableConcept.coding` is the value set; its `text` holds the concept's names as
  `;`-separated terms (display, then reviewed synonyms; `abc*` = prefix): with codings they name an entry that
  *may* be the item (coded otherwise or not at all: `unknown`), without codings they are the match itself;
- the project extension `record-entry-reading` on the characteristic carries `history` (entries no longer
  active count too) and `partialCode` (codings that name the item without a detail the criterion needs);
- a characteristic with no definition needs a person; its `note` says why. A manual item with `evidence` becomes
  an any-of of that manual characteristic and the record entries that bear on it, each carrying the modifier
  extension `record-entry-settles` = `absence`: a matching entry makes the item unknown (cited), none leaves it
  manual; `context` items carry `neither`: cited when present, the item stays manual;
- the ClinicalTrials.gov record's own limits (age, sex, conditions) are criteria too (`record_gates`).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from adapter.fhir_build.common import (
    ULN_MULTIPLE_UNIT,
    business_identifier,
    canonical_url,
    codeable_concept,
    coding,
    days,
    number,
    quantity,
    resource_key,
    value_range,
)
from adapter.fhir_build.definitions import RECORD_ENTRY_EXTENSION, RECORD_ENTRY_SETTLES_EXTENSION
from adapter.fhir_build.record_gates import record_gates
from adapter.mapping.concepts import Concept, ConceptLibrary
from adapter.mapping.model import (
    AgeDefinition,
    AllergyDefinition,
    AllOf,
    AnyOf,
    ConditionDefinition,
    Criterion,
    Definition,
    DerivedDefinition,
    Manual,
    ObservationDefinition,
    RecordEntry,
    SexDefinition,
    TrialMapping,
)
from adapter.vocabulary import (
    ADMINISTRATIVE_GENDER,
    AGE,
    CHARACTERISTIC_OFFSET,
    DERIVED_CODE_SYSTEM,
    GENDER,
    RECORD_KIND_BY_MAPPING_KEY,
    UCUM,
)

if TYPE_CHECKING:
    from adapter.ctgov.model import TrialRecord

OFFSET_ULN = {"coding": [coding(CHARACTERISTIC_OFFSET, "UNL", "Upper Normal Limit")]}
EVALUATION_DATE = {"text": "eligibility evaluation date"}
COMPARATOR_TEXT = {"<": "<", "<=": "≤", ">=": "≥", ">": ">"}


class CharacteristicBuilder:
    def __init__(self, mapping: TrialMapping, concepts: ConceptLibrary) -> None:
        self.mapping = mapping
        self.concepts = concepts

    def criterion(self, criterion: Criterion) -> dict[str, Any]:
        characteristic = self.definition(criterion, top_level=True)
        characteristic["exclude"] = criterion.type == "exclusion"
        return characteristic

    def definition(self, node: Definition, *, top_level: bool = False) -> dict[str, Any]:
        characteristic: dict[str, Any] = {}
        if node.id:
            characteristic["linkId"] = node.id
        characteristic["description"] = node.text if top_level else (node.text or self.summary(node))
        notes = [n for n in (node.note, node.manual if isinstance(node, Manual) else None) if n]
        if notes:
            characteristic["note"] = [{"text": n} for n in notes]
        absent = isinstance(node, RecordEntry) and node.absent
        if not top_level:
            characteristic["exclude"] = absent
        elif absent:
            # A top-level "absent" item is expressed as an inner characteristic so that `exclude` on the
            # criterion keeps meaning "this is an exclusion criterion".
            inner = self.definition(node.model_copy(update={"id": None, "text": None, "note": None}))
            characteristic["definitionByCombination"] = {"code": "all-of", "characteristic": [inner]}
            return characteristic
        if isinstance(node, AllOf | AnyOf):
            children = [self.definition(child) for child in node.children]
            code = "all-of" if isinstance(node, AllOf) else "any-of"
            characteristic["definitionByCombination"] = {"code": code, "characteristic": children}
        elif isinstance(node, Manual) and (node.evidence or node.context):
            characteristic["definitionByCombination"] = self.manual_with_evidence(node)
        elif not isinstance(node, Manual):
            characteristic["definitionByTypeAndValue"] = self.type_and_value(node)
            reading = self.record_entry_reading(node)
            if reading:
                characteristic["extension"] = [reading]
            window = self.time_from_event(node)
            if window:
                characteristic["timeFromEvent"] = window
        return characteristic

    def manual_with_evidence(self, node: Manual) -> dict[str, Any]:
        """A manual item and the record entries that bear on it: any-of (a match → unknown, none → manual)."""
        manual = {"description": str(node.manual), "note": [{"text": str(node.manual)}], "exclude": False}
        flags = []
        for items, settles in ((node.evidence, "absence"), (node.context, "neither")):
            for item in items or []:
                flag = self.definition(item)
                flag["modifierExtension"] = [{"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": settles}]
                flags.append(flag)
        return {"code": "any-of", "characteristic": [manual, *flags]}

    def type_and_value(self, node: Definition) -> dict[str, Any]:
        if isinstance(node, AgeDefinition):
            return {"type": AGE.concept(), "valueRange": value_range(node.age.low, node.age.high, "a")}
        if isinstance(node, SexDefinition):
            sex = {"coding": [coding(ADMINISTRATIVE_GENDER, str(node.sex))]}
            return {"type": GENDER.concept(), "valueCodeableConcept": sex}
        if isinstance(node, RecordEntry):
            # The mapping key ("condition") names the criterion field; the kind's name ("conditions") the table.
            record_kind = RECORD_KIND_BY_MAPPING_KEY[node.kind]
            concept = self.concepts.lookup(record_kind.name, node.concept)
            value: dict[str, Any] = codeable_concept(concept)
            value["text"] = names(concept)
            return {"type": record_kind.type_code.concept(), "valueCodeableConcept": value}
        assert isinstance(node, ObservationDefinition | DerivedDefinition)  # combinations and manual have none
        if isinstance(node, DerivedDefinition):
            derived = self.concepts.derived[str(node.derived)]
            type_ = {
                "coding": [coding(DERIVED_CODE_SYSTEM, str(node.derived), derived.display)],
                "text": derived.display,
            }
        else:
            type_ = codeable_concept(self.concepts.observations[str(node.observation)])
        result: dict[str, Any] = {"type": type_}
        if node.range is not None:
            result["valueRange"] = value_range(node.range.low, node.range.high, node.range.unit)
        elif node.times_uln is not None:
            result["valueQuantity"] = {
                "comparator": node.comparator,
                "value": number(node.times_uln),
                "unit": "× ULN",
                "system": UCUM,
                "code": ULN_MULTIPLE_UNIT,
            }
            result["offset"] = OFFSET_ULN
        else:
            assert node.value is not None and node.unit is not None
            result["valueQuantity"] = quantity(node.value, node.unit, node.comparator)
        return result

    def record_entry_reading(self, node: Definition) -> dict[str, Any] | None:
        """The record-entry-reading extension of a record-entry node: history and partial codes, if any."""
        if not isinstance(node, RecordEntry):
            return None
        concept = self.concepts.lookup(RECORD_KIND_BY_MAPPING_KEY[node.kind].name, node.concept)
        parts: list[dict[str, Any]] = []
        if isinstance(node, ConditionDefinition) and node.history:
            parts.append({"url": "history", "valueBoolean": True})
        for partial in concept.partial_codes:
            parts.append(
                {
                    "url": "partialCode",
                    "extension": [
                        {"url": "coding", "valueCoding": coding(partial.system, partial.code, partial.display)},
                        {"url": "missing", "valueString": partial.missing},
                    ],
                }
            )
        return {"url": RECORD_ENTRY_EXTENSION, "extension": parts} if parts else None

    def time_from_event(self, node: Definition) -> list[dict[str, Any]]:
        if isinstance(node, ObservationDefinition | DerivedDefinition):
            lookback = node.lookback_days or self.mapping.defaults.lookback_days
            return [
                {
                    "description": f"Most recent result within {lookback} days before the evaluation date",
                    "eventCodeableConcept": EVALUATION_DATE,
                    "range": {"low": days(-lookback), "high": days(0)},
                }
            ]
        if not isinstance(node, RecordEntry) or isinstance(node, AllergyDefinition):
            return []
        if node.within_days is not None and not node.before:
            return [
                {
                    "description": f"Within {node.within_days} days before the evaluation date",
                    "eventCodeableConcept": EVALUATION_DATE,
                    "range": {"low": days(-node.within_days), "high": days(0)},
                }
            ]
        if node.within_days is not None:
            return [
                {
                    "description": f"Within {node.within_days} days before the result of {anchor}",
                    "eventId": anchor,
                    "range": {"low": days(-node.within_days), "high": days(0)},
                }
                for anchor in node.before or []
            ]
        return []

    def summary(self, node: Definition) -> str:
        """A short reading of a nested item, used where the record has no text of its own."""
        if isinstance(node, AllOf | AnyOf):
            return "All of:" if isinstance(node, AllOf) else "Any of:"
        if isinstance(node, Manual):
            return str(node.manual)
        if isinstance(node, AgeDefinition):
            return f"Age {node.age.low}–{node.age.high} years"
        if isinstance(node, SexDefinition):
            return f"Sex {node.sex}"
        if isinstance(node, RecordEntry):
            display = self.concepts.lookup(RECORD_KIND_BY_MAPPING_KEY[node.kind].name, node.concept).display
            within, before = (None, None) if isinstance(node, AllergyDefinition) else (node.within_days, node.before)
            anchor = "the blood count" if before else "the evaluation date"
            window = f" within {within} days before {anchor}" if within else ""
            history = "History of " if isinstance(node, ConditionDefinition) and node.history else ""
            return f"{'No ' if node.absent else ''}{history}{display}{window}"
        display = (
            self.concepts.derived[node.derived].display
            if isinstance(node, DerivedDefinition)
            else self.concepts.observations[node.observation].display
        )
        if node.range is not None:
            return f"{display} {node.range.low}–{node.range.high}"
        comparator = COMPARATOR_TEXT[str(node.comparator)]
        if node.times_uln is not None:
            return f"{display} {comparator} {node.times_uln} × ULN"
        return f"{display} {comparator} {node.value} {node.unit}"


    def reading(self, node: Definition) -> str:
        """A whole criterion in words, for people (the narrative): combinations spelt out item by item."""
        if isinstance(node, AllOf | AnyOf):
            parts = [f"({self.reading(i)})" if isinstance(i, AllOf | AnyOf) else self.reading(i)
                     for i in node.children]
            return f"{'All' if isinstance(node, AllOf) else 'Any'} of: {'; '.join(parts)}"
        if isinstance(node, Manual):
            return f"For a person to decide: {node.manual}"
        if isinstance(node, AgeDefinition) and (node.age.low is None or node.age.high is None):
            return f"Age ≥ {node.age.low} years" if node.age.high is None else f"Age ≤ {node.age.high} years"
        if (isinstance(node, ObservationDefinition | DerivedDefinition) and node.range is not None
                and node.range.unit not in ("1", None)):
            unit = node.range.unit
            return self.summary(node) + ("" if unit.startswith("{") else f" {unit}")  # {score}: a count, no unit
        return self.summary(node)


def criteria_narrative(mapping: TrialMapping, title: str, builder: CharacteristicBuilder,
                       gates: list[dict[str, Any]]) -> dict[str, str]:
    """The EvidenceVariable's narrative: per criterion (inclusion, then exclusion) its id, its reading and the
    record's own text, escaped, in the XHTML subset FHIR narratives allow (p, b, i, table, tr, th, td)."""

    def row(*cells: str) -> str:
        return "<tr>" + "".join(f"<td>{escape(cell, quote=False)}</td>" for cell in cells) + "</tr>"

    sections = []
    for kind in ("inclusion", "exclusion"):
        rows = [row(str(g.get("linkId", "")), str(g.get("description", "")), "(the record's own limit)")
                for g in gates] if kind == "inclusion" else []
        rows += [row(c.id, builder.reading(c), c.text) for c in mapping.criteria if c.type == kind]
        if rows:
            head = "<tr><th>Criterion</th><th>Reading</th><th>Text of the record</th></tr>"
            sections.append(f"<p><b>{kind.capitalize()} criteria</b></p><table>{head}{''.join(rows)}</table>")
    intro = f"<p>Eligibility criteria of <b>{escape(mapping.trial)}</b>: {escape(title, quote=False)}</p>"
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{intro}{"".join(sections)}</div>'}


def names(concept: Concept) -> str:
    """The concept's names as `;`-separated terms: with codes, its display first, then text and synonyms (names
    of an entry that may be the item); without, its text and synonyms (the names that match)."""
    terms = [concept.display] if concept.codes else []
    terms += [*concept.text, *concept.synonyms]
    return "; ".join(dict.fromkeys(t.strip() for t in terms if t.strip()))


def build_evidence_variable(
    mapping: TrialMapping, concepts: ConceptLibrary, title: str, record: TrialRecord | None = None
) -> dict[str, Any]:
    """The trial's criteria; with its ClinicalTrials.gov record, the record's own limits first (`record_gates`)."""
    key = resource_key(mapping.trial, "eligibility")
    builder = CharacteristicBuilder(mapping, concepts)
    gates = record_gates(mapping, record, builder) if record is not None else []
    return {
        "resourceType": "EvidenceVariable",
        "text": criteria_narrative(mapping, title, builder, gates),
        "url": canonical_url("EvidenceVariable", key),
        "identifier": [business_identifier(key)],
        "name": f"{mapping.trial}Eligibility",
        "title": f"Eligibility criteria of {mapping.trial}",
        "status": "active",
        "description": f"Inclusion and exclusion criteria of {mapping.trial} ({title}), transcribed from "
        "ClinicalTrials.gov; computable where data can settle them.",
        "actual": False,
        "characteristic": [
            *gates,
            *(builder.criterion(c) for c in mapping.criteria),
        ],
    }
