"""adapter.ctgov.eligibility_text: age limits and the inclusion/exclusion split of the criteria text."""

from decimal import Decimal
from pathlib import Path

import pytest

from adapter.ctgov import load_record, parse_age, split_eligibility
from adapter.errors import RecordFormatError

pytestmark = [pytest.mark.realworld]

ROOT = Path(__file__).resolve().parents[2]
# Public real-world data beside the checkout (../shared/realworld); read in place, never copied in.
REALWORLD = ROOT.parent / "shared" / "realworld" / "ctgov"
REALWORLD_MISSING = f"real-world records not available at {REALWORLD}"

REAL_V2 = sorted(REALWORLD.glob("*.json"))
# The records must be there (CI runs with ../shared beside the clone): missing, the tests fail, never skip.
requires_realworld = pytest.mark.realworld


@pytest.fixture(scope="module")
def withdrawn(catalog):
    return catalog.get("NCT03787251").record


@pytest.fixture(scope="module")
def terminated(catalog):
    return catalog.get("NCT03320629").record


# --------------------------------------------------------------------------- eligibility text


def test_split_eligibility_fixture_000(withdrawn):
    inclusion, exclusion = split_eligibility(withdrawn.eligibility_criteria)
    assert inclusion.startswith("* Pathological/histological diagnosis")
    assert "HB≥90 g/L" in inclusion and "HB≥90 g/L" not in exclusion
    assert exclusion.startswith("* Those who have used anti-tumor angiogenesis drugs")
    assert "QT interval >440ms" in exclusion and "QT interval" not in inclusion
    assert "Criteria" not in inclusion + exclusion


def test_split_eligibility_fixture_001(terminated):
    inclusion, exclusion = split_eligibility(terminated.eligibility_criteria)
    assert inclusion.startswith("* 1\\. Age:18 to 70 years old")
    assert "HB≥100g/L" in inclusion
    assert inclusion.endswith("11. Participants were good adherence, cooperate with the follow-up.")
    assert exclusion.startswith("* 1\\. Allergic to apatinib")
    assert "QTc lengthened" in exclusion and "QTc" not in inclusion


@requires_realworld
def test_split_eligibility_key_criteria_headings():
    record = load_record(REALWORLD / "NCT02210780.json")
    assert record.eligibility_criteria is not None
    inclusion, exclusion = split_eligibility(record.eligibility_criteria)
    assert inclusion.startswith("1. Male or female adults ages 18 to 64 years")
    assert exclusion.startswith("1. Prior treatment with dupilumab")
    assert "Key" not in inclusion.splitlines()[-1]


@pytest.mark.parametrize("path", REAL_V2, ids=lambda p: p.name)
def test_split_eligibility_real_records(path):
    text = load_record(path).eligibility_criteria
    assert text is not None
    inclusion, exclusion = split_eligibility(text)
    assert inclusion
    assert "Inclusion Criteria" not in inclusion
    if "Exclusion Criteria:" in text:
        assert exclusion
        assert "Exclusion Criteria:" not in inclusion + exclusion


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Inclusion criteria\n\n* a\n\nExclusion criteria\n\n* b", ("* a", "* b")),
        ("INCLUSION CRITERIA:\n- a\nEXCLUSION CRITERIA:\n- b", ("- a", "- b")),
        ("**Inclusion Criteria:**\n\n* a\n\n**Exclusion Criteria:**\n\n* b", ("* a", "* b")),
        ("## Inclusion criteria (Part A)\n* a\n## Exclusion criteria\n* b", ("* a", "* b")),
        ("Inclusion Criteria: adults\nExclusion Criteria: pregnancy", ("adults", "pregnancy")),
        (
            "* adults\n* meets the inclusion criteria of study X",
            ("* adults\n* meets the inclusion criteria of study X", ""),
        ),
        (
            "Inclusion Criteria:\n* a\nExclusion Criteria:\n* b\nInclusion Criteria (cohort 2):\n* c",
            ("* a\n\n* c", "* b"),
        ),
        ("Exclusion Criteria:\n\n* only b", ("", "* only b")),
        ("", ("", "")),
    ],
)
def test_split_eligibility_heading_variants(text, expected):
    assert split_eligibility(text) == expected


def test_split_eligibility_keeps_nested_indentation():
    text = "Inclusion Criteria:\n\n* organs:\n\n  * Hb ≥ 9\n\nExclusion Criteria:\n\n* none"
    assert split_eligibility(text) == ("* organs:\n\n  * Hb ≥ 9", "* none")


# --------------------------------------------------------------------------- ages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18 Years", (Decimal(18), "a")),
        ("1 Year", (Decimal(1), "a")),
        ("6 Months", (Decimal(6), "mo")),
        ("2 Weeks", (Decimal(2), "wk")),
        ("28 Days", (Decimal(28), "d")),
        ("12 Hours", (Decimal(12), "h")),
        ("30 Minutes", (Decimal(30), "min")),
        ("  75 years ", (Decimal(75), "a")),
        ("N/A", None),
    ],
)
def test_parse_age(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "18", "Years", "eighteen years", "18 Decades", "-1 Years"])
def test_parse_age_refuses_unknown_text(text):
    with pytest.raises(RecordFormatError, match="unrecognised age"):
        parse_age(text)


@pytest.mark.realworld
def test_the_real_world_records_are_there() -> None:
    assert REAL_V2, REALWORLD_MISSING
