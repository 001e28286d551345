"""The ClinicalTrials.gov record's own limits as criteria: age, sex, and — for a trial that does not take healthy
volunteers — its conditions. Pure.

Every trial (bundled, site, drafted) enforces them, so a mapping made only of manual criteria does not match
everyone. A gate is left out where the mapping already states the same criterion (an inclusion that is, or is
all-of with, the same age range or sex; any inclusion that requires a condition). The conditions gate settles on
presence only (`record-entry-settles` = presence): a matching entry meets it; no match is `unknown`, since the record
may hold the diagnosis under other names or codes than the ones drafted from the record's condition names.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.ctgov.eligibility_text import parse_age
from adapter.fhir_build.common import coding, quantity
from adapter.fhir_build.definitions import RECORD_ENTRY_EXTENSION, RECORD_ENTRY_SETTLES_EXTENSION
from adapter.mapping.model import AgeDefinition, AllOf, ConditionDefinition, Criterion, Definition, SexDefinition
from adapter.vocabulary import ADMINISTRATIVE_GENDER, AGE, GENDER, RECORD_KIND_BY_MAPPING_KEY

if TYPE_CHECKING:
    from adapter.ctgov.model import TrialRecord
    from adapter.fhir_build.evidence_variable import CharacteristicBuilder
    from adapter.mapping.model import TrialMapping

GATE_IDS = ("ctgov-age", "ctgov-sex", "ctgov-conditions")
_SOURCE = "ClinicalTrials.gov record, eligibilityModule"
_HISTORY = {"url": RECORD_ENTRY_EXTENSION, "extension": [{"url": "history", "valueBoolean": True}]}
_PRESENCE = [{"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": "presence"}]


def record_gates(mapping: TrialMapping, record: TrialRecord, builder: CharacteristicBuilder) -> list[dict[str, Any]]:
    """The record's limits the mapping does not already state, as top-level inclusion characteristics."""
    gates = [_age_gate(mapping, record), _sex_gate(mapping, record), _conditions_gate(mapping, record, builder)]
    return [g for g in gates if g is not None]


def _inclusion_nodes(mapping: TrialMapping) -> list[Definition]:
    """The nodes an inclusion criterion requires outright: itself, or the items of its top-level all-of."""
    nodes: list[Definition] = []
    for criterion in mapping.criteria:
        if criterion.type == "inclusion":
            nodes.append(criterion)
            nodes.extend(criterion.all_of if isinstance(criterion, AllOf) else [])
    return nodes


def _age_gate(mapping: TrialMapping, record: TrialRecord) -> dict[str, Any] | None:
    low = parse_age(record.minimum_age) if record.minimum_age else None
    high = parse_age(record.maximum_age) if record.maximum_age else None
    if low is None and high is None:
        return None
    in_years = all(limit is None or limit[1] == "a" for limit in (low, high))
    if in_years:
        wanted = (None if low is None else int(low[0]), None if high is None else int(high[0]))
        for node in _inclusion_nodes(mapping):
            if isinstance(node, AgeDefinition) and (node.age.low, node.age.high) == wanted:
                return None
    shown = ", ".join(
        f"{label} {text}" for label, text in (("minimum age", record.minimum_age), ("maximum age", record.maximum_age))
        if text and text.strip().upper() not in {"N/A", "NA"}
    )
    items = [_age_item(limit, comparator) for limit, comparator in ((low, ">="), (high, "<=")) if limit is not None]
    gate: dict[str, Any] = {"linkId": "ctgov-age", "description": f"Age limits of the {_SOURCE}: {shown}"}
    if len(items) == 1:
        gate["definitionByTypeAndValue"] = items[0]
    else:
        gate["definitionByCombination"] = {
            "code": "all-of",
            "characteristic": [{"definitionByTypeAndValue": item, "exclude": False} for item in items],
        }
    gate["exclude"] = False
    return gate


def _age_item(limit: tuple[Decimal, str], comparator: str) -> dict[str, Any]:
    value, unit = limit
    return {"type": AGE.concept(), "valueQuantity": quantity(value, unit, comparator)}


def _sex_gate(mapping: TrialMapping, record: TrialRecord) -> dict[str, Any] | None:
    sex = {"FEMALE": "female", "MALE": "male"}.get((record.sex or "").upper())
    if sex is None:
        return None
    if any(isinstance(node, SexDefinition) and node.sex == sex for node in _inclusion_nodes(mapping)):
        return None
    return {
        "linkId": "ctgov-sex",
        "description": f"Sex of the {_SOURCE}: {record.sex}",
        "definitionByTypeAndValue": {
            "type": GENDER.concept(),
            "valueCodeableConcept": {"coding": [coding(ADMINISTRATIVE_GENDER, sex)]},
        },
        "exclude": False,
    }


def _required(node: Definition) -> list[Definition]:
    """The nodes a definition requires outright: itself, or (through all-of) every item; an any-of's items are
    alternatives ("ALT < 5 × ULN with liver metastases"), not requirements."""
    if isinstance(node, AllOf):
        return [n for child in node.all_of for n in _required(child)]
    return [node]


def _requires_condition(criterion: Criterion) -> bool:
    return any(isinstance(node, ConditionDefinition) and not node.absent for node in _required(criterion))


def _named_concept(builder: CharacteristicBuilder, name: str) -> str | None:
    """The library's condition concept whose display, text or a synonym is this name (any case), if one is."""
    wanted = " ".join(name.lower().split())
    for key, concept in builder.concepts.conditions.items():
        names = [concept.display, *concept.text, *concept.synonyms]
        if any(" ".join(n.lower().split()) == wanted for n in names):
            return key
    return None


def _conditions_gate(
    mapping: TrialMapping, record: TrialRecord, builder: CharacteristicBuilder
) -> dict[str, Any] | None:
    """For a trial that does not take healthy volunteers: the record must show one of the trial's conditions."""
    if record.healthy_volunteers is True or not record.conditions:
        return None
    if any(c.type == "inclusion" and _requires_condition(c) for c in mapping.criteria):
        return None
    coded = {c.text: c.concept for c in mapping.conditions if c.concept}
    items = []
    for text in record.conditions:
        concept = coded.get(text) or _named_concept(builder, text)
        if concept is not None:
            item = builder.definition(ConditionDefinition(condition=concept, history=True))
        else:
            kind = RECORD_KIND_BY_MAPPING_KEY["condition"]
            item = {
                "description": text,
                "exclude": False,
                "definitionByTypeAndValue": {"type": kind.type_code.concept(), "valueCodeableConcept": {"text": text}},
                "extension": [_HISTORY],
            }
        item["modifierExtension"] = _PRESENCE
        items.append(item)
    return {
        "linkId": "ctgov-conditions",
        "description": f"Conditions of the ClinicalTrials.gov record (conditionsModule): {'; '.join(record.conditions)}"
        " — the trial does not take healthy volunteers",
        "note": [
            {
                "text": "Read from the record's condition names (and the mapping's coded conditions): no match is "
                "unknown, to confirm the diagnosis — review the names."
            }
        ],
        "definitionByCombination": {"code": "any-of", "characteristic": items},
        "exclude": False,
    }


__all__ = ["GATE_IDS", "record_gates"]
