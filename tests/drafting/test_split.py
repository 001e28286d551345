"""Criteria splitting: headings, bullets, nested and inline-numbered lists, escapes, lead-in lines."""

from __future__ import annotations

import json

import pytest

from adapter.drafting.split import split_criteria
from adapter.mapping.loader import normalize_text
from tests.support.trials import MAPPINGS


def texts(text: str, kind: str | None = None) -> list[str]:
    return [i.text for i in split_criteria(text) if kind is None or i.type == kind]


@pytest.mark.parametrize("heading", ["Inclusion Criteria:", "INCLUSION CRITERIA", "Key Inclusion Criteria:",
                                     "**Inclusion Criteria:**", "## Inclusion criteria"])
def test_heading_variants(heading: str) -> None:
    text = f"{heading}\n\n* Age 18 or over\n\nExclusion Criteria:\n\n* Pregnancy"
    items = split_criteria(text)
    assert [(i.type, i.text) for i in items] == [("inclusion", "Age 18 or over"), ("exclusion", "Pregnancy")]


def test_bullets_nested_and_numbered() -> None:
    text = ("Inclusion Criteria:\n\n1. First item\n2. Second item\n   continued here\n"
            "3. Adequate organ function as defined by:\n\n   * Hb ≥ 9 g/dL\n   - ANC ≥ 1.5 x 10^9/L\n")
    assert texts(text) == ["First item", "Second item continued here", "Hb ≥ 9 g/dL", "ANC ≥ 1.5 x 10^9/L"]
    assert split_criteria(text)[2].context == "Adequate organ function as defined by:"


def test_markdown_escapes_and_comments_are_dropped() -> None:
    text = "Inclusion Criteria:\n\n* TBIL\\<1.5×ULN\n\n<!-- -->\n\n* creatinine \\> 2 mg/dL"
    assert texts(text) == ["TBIL<1.5×ULN", "creatinine > 2 mg/dL"]


def test_inline_numbered_run_together() -> None:
    text = "Exclusion Criteria:\n\n* 1\\. Allergic to x; 2. Uncontrolled hypertension; 3. Pregnant 4. Lactating"
    assert texts(text) == ["Allergic to x", "Uncontrolled hypertension", "Pregnant", "Lactating"]


def test_numbers_inside_a_criterion_are_not_split() -> None:
    text = "Inclusion Criteria:\n\n1. ECOG 0 or 1. Able to swallow\n2. Platelets ≥ 100 x 10^9/L"
    assert texts(text) == ["ECOG 0 or 1. Able to swallow", "Platelets ≥ 100 x 10^9/L"]


def test_seed_record_with_inline_numbering_splits_like_the_hand_mapping() -> None:
    """NCT03320629 runs numbered items together on one line and nests restarted lists."""
    record = json.loads((MAPPINGS / "NCT03320629.json").read_text(encoding="utf-8"))
    eligibility = record["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    found = [normalize_text(t).rstrip(" ;.") for t in texts(eligibility)]
    import yaml

    hand = yaml.safe_load((MAPPINGS / "NCT03320629.yaml").read_text(encoding="utf-8"))
    expected = [normalize_text(c["text"]).rstrip(" ;.") for c in hand["criteria"]]
    assert found == expected
    whole = normalize_text(eligibility)
    assert all(normalize_text(t) in whole for t in texts(eligibility))


def test_a_sentence_ending_with_criteria_is_a_criterion_not_a_heading() -> None:
    text = ("Inclusion Criteria:\n\n* Measurable disease according to the revised WHO criteria.\n"
            "* Adequate organ function as defined by the following criteria:\n  * Hb ≥ 9 g/dL\n")
    assert texts(text) == ["Measurable disease according to the revised WHO criteria.", "Hb ≥ 9 g/dL"]


def test_plain_lines_without_markers_are_one_criterion_each() -> None:
    """The classic API's plain lines (no bullets, not hard-wrapped): each line is a criterion, not one run-on."""
    long = "Treatment with a stable insulin regimen for at least 8 weeks before screening with an insulin pump"
    text = (f"Inclusion Criteria:\n\nAge 18 to 65 years;\n{long} and a CGM system;\nHbA1c ≤ 8.5 %\n"
            "eGFR ≥ 60 mL/min/1.73m²\n\nExclusion Criteria:\n\nBMI < 18.5 kg/m2\n")
    assert texts(text) == ["Age 18 to 65 years", f"{long} and a CGM system", "HbA1c ≤ 8.5 %",
                           "eGFR ≥ 60 mL/min/1.73m²", "BMI < 18.5 kg/m2"]


def test_hard_wrapped_lines_without_markers_still_join() -> None:
    text = ("Inclusion Criteria:\n\nAdequate hepatic function with total bilirubin ≤ 1.5 × ULN\nand ALT ≤ 2.5 × ULN\n")
    assert texts(text) == ["Adequate hepatic function with total bilirubin ≤ 1.5 × ULN and ALT ≤ 2.5 × ULN"]
