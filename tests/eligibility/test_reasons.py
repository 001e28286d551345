"""Reasons written for a person: fragments said once across nesting levels, one sentence per criterion, a manual
reason that does not repeat the criterion's text, durations in words, and what would settle an open criterion
named by the tests' displays, once — never by a criterion's or a node's id."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.eligibility.engine import evaluate
from adapter.vocabulary import ADMINISTRATIVE_GENDER, GENDER
from tests.eligibility.rules.helpers import (
    GENERIC_AS_OF,
    GP_LABS,
    HBA1C,
    NO_LDL,
    SURGERY,
    T629,
    by_value,
    combo,
    entry_of,
    generic_patient,
    lab,
    lab_type,
    qty,
    run,
)
from tests.eligibility.rules.test_real_world_coding import coded, report, with_entries

pytestmark: list[pytest.MarkDecorator] = []

SNOMED = "http://snomed.info/sct"


def a1c_at_least(value: float) -> dict[str, Any]:
    return by_value(lab_type(HBA1C, "HbA1c"), valueQuantity=qty(value, "%", ">="))  # 7.2: pass


def sex(code: str) -> dict[str, Any]:
    return by_value(GENDER.concept(), valueCodeableConcept={"coding": [{"system": ADMINISTRATIVE_GENDER,
                                                                         "code": code}]})


def manual(text: str) -> dict[str, Any]:
    return {"description": "sub-item", "note": [{"text": text}]}


def criterion_of(*characteristics: dict[str, Any], facts: Any = None) -> Any:
    variable = {"resourceType": "EvidenceVariable",
                "characteristic": [{"linkId": f"c{i}", **c} for i, c in enumerate(characteristics)]}
    return evaluate(variable, facts or generic_patient(*GP_LABS), GENERIC_AS_OF).criteria[0]


def test_a_fragment_repeated_at_another_nesting_level_is_said_once():
    # the shape of "ALT and AST < 2.5 × ULN, or < 5 × ULN with liver metastases": the same unknown twice, nested
    (result, why), = run(combo("all-of", combo("any-of", a1c_at_least(9), NO_LDL),
                               combo("any-of", a1c_at_least(10), NO_LDL)))
    assert result == "unknown"
    assert why == "HbA1c 7.2 % < 9 %; no LDL result; HbA1c 7.2 % < 10 %"


def test_a_fragment_another_one_restates_is_dropped():
    # a QTc-like limit per sex: the female branch's "sex female" is said by the male branch's "sex female, not male"
    (result, why), = run(combo("any-of", combo("all-of", sex("male"), NO_LDL), combo("all-of", sex("female"),
                                                                                      NO_LDL)))
    assert result == "unknown"
    assert why == "sex female, not male; no LDL result"


def test_one_sentence_without_doubled_punctuation():
    (result, why), = run(combo("all-of", manual("Active hemorrhage needs clinical review."), NO_LDL))
    assert result == "unknown" and why == "Active hemorrhage needs clinical review; no LDL result"
    assert ".;" not in why


def test_a_manual_reason_repeating_the_criterion_text_is_for_a_person():
    text = "Has melena and hematemesis in three months;"
    copied = {"description": text, "note": [{"text": "Has melena and hematemesis in three months"}]}
    drafted = {"description": text, "note": [{"text": f"not recognized: {text}"}]}
    beginning = {"description": text, "note": [{"text": "Has melena and hematemesis"}]}
    own = {"description": text, "note": [{"text": "Needs history review."}]}
    assert run(copied, drafted, beginning, own) == [
        ("manual", "for a person to decide"), ("manual", "not recognized: for a person to decide"),
        ("manual", "for a person to decide"), ("manual", "Needs history review.")]


def test_a_stale_result_says_how_old_in_words():
    facts = generic_patient(lab("old", HBA1C, 7.2, "%", when="2017-01-10T09:00:00Z"))
    (result, why), = run(a1c_at_least(6), facts=facts)
    assert result == "unknown"
    assert "is 9 years old — results within 30 days are required" in why and "days old" not in why


def test_a_window_placed_by_a_result_without_a_date_names_the_test_not_its_id():
    hb = {"linkId": "hb", **by_value(lab_type("718-7", "Hemoglobin"), valueQuantity=qty(9, "g/dL", ">="))}
    no_surgery = {**entry_of("procedure", SURGERY, "Surgery"), "exclude": True, "timeFromEvent": [
        {"eventId": "hb", "range": {"low": {"value": -14, "code": "d"}, "high": {"value": 0, "code": "d"}}}]}
    c = criterion_of(combo("all-of", hb, no_surgery))
    assert c.result == "unknown"
    assert c.reason == "no Hemoglobin result; no dated Hemoglobin result to place the window"
    assert c.missing == ("Hemoglobin (718-7)",)  # the anchor's own test, once; not "hb"


def test_what_would_settle_it_is_named_once_whatever_the_case():
    creatinine = by_value(lab_type("2160-0", "Serum creatinine"), valueQuantity=qty(1.5, "mg/dL", "<="))
    lower = by_value(lab_type("2160-0", "serum creatinine"), valueQuantity=qty(2, "mg/dL", "<="))
    c = criterion_of(combo("all-of", creatinine, lower))
    assert c.result == "unknown" and c.missing == ("Serum creatinine (2160-0)",)


def test_entries_no_criterion_reads_are_one_note_per_kind_and_system_every_reference_kept():
    allergies = [{"resourceType": "AllergyIntolerance", "id": f"a{i}", "patient": {"reference": "Patient/x"},
                  "code": coded(SNOMED, f"9100{i}", text=f"Allergy {i}")} for i in range(7)]
    bundle = with_entries()
    bundle["entry"] += [{"resource": {**a, "patient": {"reference": "Patient/p-eligible-us-units"}}}
                        for a in allergies]
    rep = report(bundle, T629)
    notes = [n for n in rep["notes"] if "allerg" in n]
    assert notes == ["7 allergies coded only in SNOMED CT are not read by this trial's allergy criteria "
                     "(AllergyIntolerance/a0 'Allergy 0', /a1 'Allergy 1', /a2 'Allergy 2', /a3 'Allergy 3', "
                     "/a4 'Allergy 4', …: the first 5 of 7 listed; all in the report's unrecognized_entries)."]
    assert rep["unrecognized_entries"] == [{"kind": "allergies", "systems": [SNOMED],
                                            "references": [f"AllergyIntolerance/a{i}" for i in range(7)]}]
    assert not any("not recognized" in n for n in rep["notes"])
