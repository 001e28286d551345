"""adapter.eligibility.prose: units, durations and reasons as people read them."""

from __future__ import annotations

import pytest

from adapter.eligibility.outcome import Outcome, negate
from adapter.eligibility.prose import (
    FOR_A_PERSON,
    duration,
    fragments,
    quantity_text,
    restated,
    sentence,
    span,
    unique,
    unit_text,
)

pytestmark: list[pytest.MarkDecorator] = []


@pytest.mark.parametrize(("unit", "shown"), [
    ("10*9/L", "10⁹/L"), ("10*3/uL", "10³/µL"), ("10^9/L", "10⁹/L"), ("mm[Hg]", "mmHg"), ("{score}", ""),
    ("{INR}", ""), ("1", ""), (None, ""), ("umol/L", "µmol/L"), ("/uL", "/µL"), ("ug/mL", "µg/mL"),
    ("mL/min/{1.73_m2}", "mL/min/1.73 m²"), ("Cel", "°C"), ("g/dL", "g/dL"), ("U/L", "U/L"), ("%", "%"),
    ("K/uL", "K/µL"), ("10*12/L", "10¹²/L"),
])
def test_units_as_people_write_them(unit, shown):
    assert unit_text(unit) == shown


def test_quantities_and_ages():
    assert quantity_text("61", "a") == "61 years"
    assert quantity_text("1", "a") == "1 year"
    assert quantity_text("3", "mo") == "3 months" and quantity_text("10", "d") == "10 days"
    assert quantity_text("165.33", "10*3/uL") == "165.33 10³/µL"
    assert quantity_text("2", "{score}") == "2"
    assert quantity_text("female", None) == "female"


@pytest.mark.parametrize(("days", "shown"), [
    (0, "0 days"), (1, "1 day"), (45, "45 days"), (56, "56 days"), (57, "8 weeks"), (90, "12 weeks"),
    (91, "3 months"), (183, "6 months"), (729, "24 months"), (730, "2 years"), (3453, "9 years"),
    (3128, "8 years"),
])
def test_durations_in_days_then_weeks_months_years(days, shown):
    assert duration(days) == shown


def test_windows_stay_exact_with_their_rough_size():
    assert span(30) == "30 days" and span(14) == "14 days" and span(1) == "1 day"
    assert span(90) == "90 days (about 13 weeks)"
    assert span(92) == "92 days (about 3 months)"
    assert span(1827) == "1827 days (about 5 years)"


def test_unique_is_case_insensitive_and_keeps_the_first_spelling():
    assert unique(["Serum creatinine (2160-0)", "serum creatinine (2160-0)", "body weight", "Body  weight"]) == (
        "Serum creatinine (2160-0)", "body weight")


def test_fragments_once_and_restatements_dropped_in_order():
    assert fragments(["a", "b", "a", "", "c"]) == ("a", "b", "c")
    assert fragments(["sex female, not male", "sex female", "no QTc result"]) == (
        "sex female, not male", "no QTc result")
    # a fragment that only starts the same way says something else: both stay
    assert fragments(["no X recorded", "no X recorded within 30 days"]) == (
        "no X recorded", "no X recorded within 30 days")


def test_a_sentence_has_no_doubled_punctuation():
    assert sentence(["Active hemorrhage needs clinical review.", "no GI bleeding recorded"]) == (
        "Active hemorrhage needs clinical review; no GI bleeding recorded")
    assert sentence(["no INR result", "Bleeding tendency needs clinical review."]) == (
        "no INR result; Bleeding tendency needs clinical review.")
    assert sentence(["and so on...", "x"]) == "and so on...; x"


def test_restating_the_criterion_text_is_for_a_person():
    text = "Has melena and hematemesis in three months;"
    assert restated("Has melena and hematemesis in three months", text) == FOR_A_PERSON
    assert restated("has melena and hematemesis", text) == FOR_A_PERSON  # the text starts with it
    assert restated(f"not recognized: {text}", text) == f"not recognized: {FOR_A_PERSON}"
    assert restated("Melena or hematemesis not on record needs history review.", text) == (
        "Melena or hematemesis not on record needs history review.")
    assert restated("Has melena", text) == "Has melena"  # too short to say it repeats the text
    assert restated("anything", "") == "anything"


def test_an_outcome_keeps_its_fragments_only_while_its_reason_is_their_sentence():
    joined = Outcome("unknown", "a; b.", parts=("a.", "b."))
    assert joined.fragments == ("a.", "b.")
    assert Outcome("unknown", "a; b", parts=("x",)).fragments == ("a; b",)  # reason replaced: whole
    assert negate(joined, "").fragments == ("a.", "b.")
    assert negate(Outcome("pass", "a; b.", parts=("a.", "b.")), "meets exclusion: ").fragments == (
        "meets exclusion: a; b.",)
