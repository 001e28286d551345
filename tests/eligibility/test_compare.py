"""adapter.eligibility.compare: censored results (`<50`, `>500`) judged against thresholds and ranges."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapter.eligibility.compare import Interval, judge, show, show_quantity

D = Decimal


def result(value: str, comparator: str | None = None) -> Interval:
    return Interval.censored(D(value), comparator)


def at_least(value: str) -> Interval:
    return Interval.satisfying(">=", D(value))


# (reported result, criterion comparator, threshold, expected: True pass / False fail / None cannot tell)
CASES = [
    # exact values
    (("80", None), ">=", "80", True),
    (("79.9", None), ">=", "80", False),
    (("80", None), ">", "80", False),
    (("80.01", None), ">", "80", True),
    (("100", None), "<", "100", False),
    (("99.99", None), "<", "100", True),
    (("100", None), "<=", "100", True),
    (("100.01", None), "<=", "100", False),
    # "<50": every value below 50
    (("50", "<"), ">=", "80", False),  # certain fail
    (("50", "<"), ">=", "50", False),  # all values are below 50
    (("50", "<"), ">=", "49", None),  # 49.5 passes, 10 does not
    (("50", "<"), "<", "50", True),
    (("50", "<"), "<=", "50", True),
    (("50", "<"), "<", "49", None),
    (("50", "<"), ">", "49.99", None),
    # "<=50"
    (("50", "<="), ">=", "50", None),  # could be exactly 50
    (("50", "<="), ">", "50", False),
    (("50", "<="), "<=", "50", True),
    (("50", "<="), "<", "50", None),
    # ">500": every value above 500
    (("500", ">"), ">=", "80", True),  # certain pass
    (("500", ">"), ">=", "500", True),
    (("500", ">"), ">", "500", True),
    (("500", ">"), ">=", "600", None),
    (("500", ">"), "<=", "500", False),
    (("500", ">"), "<", "500", False),
    (("500", ">"), "<", "1000", None),
    # ">=500"
    (("500", ">="), ">", "500", None),
    (("500", ">="), ">=", "500", True),
    (("500", ">="), "<", "500", False),
    (("500", ">="), "<=", "500", None),
    # the example of the module docstring
    (("100", "<"), ">=", "80", None),
]


@pytest.mark.parametrize("reported, comparator, threshold, expected", CASES)
def test_judge_against_a_threshold(reported, comparator, threshold, expected):
    assert judge(result(*reported), Interval.satisfying(comparator, D(threshold))) is expected


RANGE_0_1 = Interval(D(0), True, D(1), True)  # ECOG 0–1


@pytest.mark.parametrize(
    "reported, expected",
    [
        (("0", None), True),
        (("1", None), True),
        (("2", None), False),
        (("-1", None), False),
        (("1", "<"), None),  # (-inf, 1): includes 0.5 and -5
        (("1", "<="), None),
        (("1", ">"), False),
        (("0", ">="), None),
        (("1", ">="), None),
    ],
)
def test_judge_against_a_closed_range(reported, expected):
    assert judge(result(*reported), RANGE_0_1) is expected


def test_open_range_ends():
    above_18 = Interval(D(18), True, None, False)
    assert judge(result("18"), above_18) is True
    assert judge(result("17"), above_18) is False
    assert judge(result("17", ">"), above_18) is None
    assert judge(result("18", ">="), above_18) is True
    half_open = Interval(D(0), False, D(1), False)  # (0, 1)
    assert judge(result("0"), half_open) is False
    assert judge(result("1"), half_open) is False
    assert judge(result("0.5"), half_open) is True
    assert judge(result("1", "<"), half_open) is None


def test_intervals():
    assert Interval.point(D(5)) == Interval(D(5), True, D(5), True)
    assert Interval.censored(D(5), "<") == Interval(None, False, D(5), False)
    assert Interval.censored(D(5), ">=") == Interval(D(5), True, None, False)
    assert Interval.censored(D(5), None) == Interval.point(D(5))
    assert Interval.satisfying("<", D(5)) == Interval.censored(D(5), "<")
    assert Interval.satisfying(">=", D(5)).within(Interval.satisfying(">", D(4)))
    assert not Interval.satisfying(">=", D(5)).within(Interval.satisfying(">", D(5)))
    assert Interval.satisfying(">", D(5)).within(Interval.satisfying(">=", D(5)))
    assert not Interval.satisfying("<", D(5)).overlaps(Interval.satisfying(">=", D(5)))
    assert Interval.satisfying("<=", D(5)).overlaps(Interval.satisfying(">=", D(5)))
    assert Interval(None, False, None, False).within(Interval(None, False, None, False))  # everything ⊂ everything


def test_decimal_exactness_at_thresholds():
    # 2.5 × 40 is exactly 100: a result of 100 is not < 100
    assert judge(result("100"), Interval.satisfying("<", D("2.5") * D(40))) is False
    # 1.5 × 1.1 is exactly 1.65 (binary floats would say 1.6500000000000001)
    assert judge(result("1.65"), Interval.satisfying("<=", D("1.5") * D("1.1"))) is True
    assert judge(result("1.65"), Interval.satisfying("<", D("1.5") * D("1.1"))) is False


@pytest.mark.parametrize(
    "value, shown",
    [
        ("90", "90"), ("90.0", "90"), ("1.50", "1.5"), ("16.314", "16.31"), ("0.08842", "0.0884"),
        ("99.882", "99.88"), ("80000", "80000"), ("1E+2", "100"), ("0", "0"), ("-3.25", "-3.25"),
        ("0.5", "0.5"), ("130.491", "130.49"),
    ],
)
def test_show(value, shown):
    assert show(D(value)) == shown


def test_show_quantity():
    assert show_quantity(D("90"), "g/L") == "90 g/L"
    assert show_quantity(D("50"), "10*9/L", "<") == "<50 10*9/L"
    assert show_quantity(D("500"), "10*9/L", ">=") == "≥500 10*9/L"
    assert show_quantity(D("1"), "{score}") == "1"
    assert show_quantity(D("1"), "1") == "1"
    assert show_quantity(D("7"), None) == "7"
