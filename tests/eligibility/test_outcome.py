"""adapter.eligibility.outcome: four-valued results, how they combine, negation and the verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from adapter.eligibility.outcome import Evidence, Outcome, combine, negate, verdict

pytestmark: list[pytest.MarkDecorator] = []

VALUES = ("pass", "fail", "unknown", "manual")


def outcomes(*results: str) -> list[Outcome]:
    return [Outcome(r, f"child {i}: {r}") for i, r in enumerate(results)]  # type: ignore[arg-type]


def undecided(results: tuple[str, ...]) -> str:
    """What is still open: data could settle it (`unknown`) or only a person (`manual`)."""
    return "unknown" if "unknown" in results else "manual"


# ---------------------------------------------------------------------------------- truth tables

ALL_OF_2 = {
    ("pass", "pass"): "pass", ("pass", "fail"): "fail", ("pass", "unknown"): "unknown",
    ("pass", "manual"): "manual", ("fail", "pass"): "fail", ("fail", "fail"): "fail",
    ("fail", "unknown"): "fail", ("fail", "manual"): "fail", ("unknown", "pass"): "unknown",
    ("unknown", "fail"): "fail", ("unknown", "unknown"): "unknown", ("unknown", "manual"): "unknown",
    ("manual", "pass"): "manual", ("manual", "fail"): "fail", ("manual", "unknown"): "unknown",
    ("manual", "manual"): "manual",
}  # fmt: skip
ANY_OF_2 = {
    ("pass", "pass"): "pass", ("pass", "fail"): "pass", ("pass", "unknown"): "pass", ("pass", "manual"): "pass",
    ("fail", "pass"): "pass", ("fail", "fail"): "fail", ("fail", "unknown"): "unknown",
    ("fail", "manual"): "manual", ("unknown", "pass"): "pass", ("unknown", "fail"): "unknown",
    ("unknown", "unknown"): "unknown", ("unknown", "manual"): "unknown", ("manual", "pass"): "pass",
    ("manual", "fail"): "manual", ("manual", "unknown"): "unknown", ("manual", "manual"): "manual",
}  # fmt: skip


@pytest.mark.parametrize("pair", sorted(ALL_OF_2))
def test_all_of_truth_table(pair):
    assert combine("all-of", outcomes(*pair)) == ALL_OF_2[pair]


@pytest.mark.parametrize("pair", sorted(ANY_OF_2))
def test_any_of_truth_table(pair):
    assert combine("any-of", outcomes(*pair)) == ANY_OF_2[pair]


@pytest.mark.parametrize("results", list(product(VALUES, repeat=3)))
def test_all_of_and_any_of_over_three(results):
    if "fail" in results:
        expected_all = "fail"
    elif all(r == "pass" for r in results):
        expected_all = "pass"
    else:
        expected_all = undecided(results)
    if "pass" in results:
        expected_any = "pass"
    elif all(r == "fail" for r in results):
        expected_any = "fail"
    else:
        expected_any = undecided(results)
    assert combine("all-of", outcomes(*results)) == expected_all
    assert combine("any-of", outcomes(*results)) == expected_any
    # all-of is at-least n, any-of is at-least 1
    assert combine("at-least", outcomes(*results), 3) == expected_all
    assert combine("at-least", outcomes(*results), 1) == expected_any


@pytest.mark.parametrize("results", list(product(VALUES, repeat=3)))
@pytest.mark.parametrize("threshold", [0, 1, 2, 3])
def test_at_least_and_at_most(results, threshold):
    passed = results.count("pass")
    open_ = sum(r in ("unknown", "manual") for r in results)
    # at-least k: certain when k passes are in; impossible when even all open ones passing would not reach k
    if passed >= threshold:
        expected = "pass"
    elif passed + open_ < threshold:
        expected = "fail"
    else:
        expected = undecided(results)
    assert combine("at-least", outcomes(*results), threshold) == expected
    # at-most k: fails once more than k pass; certain when even all open ones passing stay within k
    if passed > threshold:
        expected = "fail"
    elif passed + open_ <= threshold:
        expected = "pass"
    else:
        expected = undecided(results)
    assert combine("at-most", outcomes(*results), threshold) == expected


def test_examples_read_aloud():
    assert combine("at-least", outcomes("pass", "pass", "fail"), 2) == "pass"
    assert combine("at-least", outcomes("pass", "fail", "fail"), 2) == "fail"
    assert combine("at-least", outcomes("pass", "unknown", "fail"), 2) == "unknown"
    assert combine("at-least", outcomes("pass", "manual", "fail"), 2) == "manual"
    assert combine("at-most", outcomes("pass", "pass", "fail"), 1) == "fail"
    assert combine("at-most", outcomes("pass", "fail", "fail"), 1) == "pass"
    assert combine("at-most", outcomes("pass", "unknown", "fail"), 1) == "unknown"


def test_empty_and_malformed_combinations():
    assert combine("all-of", []) == "pass"  # nothing required
    assert combine("any-of", []) == "fail"  # nothing offered
    assert combine("at-least", outcomes("pass")) == "manual"  # no threshold: a person reads it
    assert combine("at-most", outcomes("pass")) == "manual"
    assert combine("statistical", outcomes("pass"), 1) == "manual"  # a code the engine does not know
    assert combine("", outcomes("pass"), 1) == "manual"


# ------------------------------------------------------------------------------------------- negate


@pytest.mark.parametrize(
    "result, negated", [("pass", "fail"), ("fail", "pass"), ("unknown", "unknown"), ("manual", "manual")]
)
def test_negate(result, negated):
    when = datetime(2026, 10, 27, tzinfo=UTC)
    evidence = (Evidence(reference="Observation/x"),)
    original = Outcome(result, "QTc 451 ms > 450 ms", evidence, ("QTc",), when)
    flipped = negate(original, "meets exclusion: ")
    assert flipped.result == negated
    assert flipped.reason == "meets exclusion: QTc 451 ms > 450 ms"
    assert (flipped.evidence, flipped.missing, flipped.anchor_date) == (evidence, ("QTc",), when)
    assert negate(negate(original, ""), "") == original


# ------------------------------------------------------------------------------------------ verdict


@pytest.mark.parametrize(
    "results, expected",
    [
        ([], "potentially-eligible"),
        (["pass"], "potentially-eligible"),
        (["pass", "manual", "manual"], "potentially-eligible"),
        (["manual"], "potentially-eligible"),
        (["pass", "unknown", "manual"], "insufficient-data"),
        (["unknown"], "insufficient-data"),
        (["pass", "fail"], "ineligible"),
        (["unknown", "fail", "manual"], "ineligible"),  # one certain fail decides, whatever is missing
    ],
)
def test_verdict(results, expected):
    assert verdict(results) == expected


def test_outcome_equality_ignores_the_anchor_date():
    a = Outcome("pass", "r", anchor_date=datetime(2026, 1, 1, tzinfo=UTC))
    b = Outcome("pass", "r", anchor_date=None)
    assert a == b
