"""adapter.eligibility.compare: censored results (`<50`, `>500`) judged against thresholds and ranges."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.eligibility.compare import Interval, judge, show, show_quantity

pytestmark: list[pytest.MarkDecorator] = []

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
    assert show_quantity(D("50"), "10*9/L", "<") == "<50 10⁹/L"
    assert show_quantity(D("500"), "10*9/L", ">=") == "≥500 10⁹/L"
    assert show_quantity(D("1"), "{score}") == "1"
    assert show_quantity(D("1"), "1") == "1"
    assert show_quantity(D("7"), None) == "7"


# -- a shown result never contradicts its shown threshold ----------------------------------------------------


@pytest.mark.parametrize(
    "value, bounds, shown",
    [
        ("1.499", ["1.5"], "1.499"),  # not "1.5 < 1.5"
        ("2.9999", ["3"], "2.9999"),
        ("79.996", ["80"], "79.996"),
        ("100.004", ["100"], "100.004"),
        ("80", ["80"], "80"),  # equal is shown equal
        ("1.5", ["1.5"], "1.5"),
        ("16.314", ["3"], "16.31"),  # far from the threshold: the usual two decimals
        ("0.08842", ["0.0884"], "0.08842"),  # below 1: 3 significant digits, more when they decide
        ("99.004", ["70", "99"], "99.004"),  # a range: both of its ends
        ("100.31", ["100.3075"], "100.31"),  # and the bound shown at the same decimals says 100.308
        ("100.3075", ["100.31"], "100.308"),
        ("7", [None, "10"], "7"),  # an open end
    ],
)
def test_show_against_the_bounds_shows_the_deciding_digits(value, bounds, shown):
    assert show(D(value), [D(b) if b is not None else None for b in bounds]) == shown


def test_show_quantity_against_a_threshold():
    assert show_quantity(D("1.499"), "10*9/L", against=(D("1.5"),)) == "1.499 10⁹/L"
    assert show_quantity(D("1.499"), "10*9/L") == "1.5 10⁹/L"  # without bounds: as before


def _relation(a: Decimal, b: Decimal) -> int:
    return (a > b) - (a < b)


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=-10**6, max_value=10**6, allow_nan=False, allow_infinity=False, places=6),
    st.decimals(min_value=-10**6, max_value=10**6, allow_nan=False, allow_infinity=False, places=4),
)
def test_shown_value_and_threshold_compare_as_the_exact_ones(value, threshold):
    shown_value, shown_threshold = D(show(value, [threshold])), D(show(threshold, [value]))
    assert _relation(shown_value, shown_threshold) == _relation(value, threshold)


ANY_DECIMAL = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(lambda m, e: D(f"{m}E{e}"), st.integers(-10**15, 10**15), st.integers(-999_990, 999_990)),
    st.integers(-(10**40 - 1), 10**40 - 1).map(D),
)


@settings(max_examples=300, deadline=None)
@given(ANY_DECIMAL, st.lists(st.one_of(st.none(), ANY_DECIMAL), max_size=2))
def test_show_never_raises_and_stays_short(value, bounds):
    text = show(value, bounds)
    assert isinstance(text, str) and len(text) < 80


@pytest.mark.parametrize("value, shown", [("1E+28", "1e+28"), ("1E-30", "1e-30"), ("-1E+999999", "-1e+999999"),
                                          ("123456789012345678901234567890.123", "1.235e+29")])
def test_absurd_values_are_shown_in_exponent_form(value, shown):
    assert show(D(value)) == shown


# -- through the engine -----------------------------------------------------------------------------------


def _anc_report(quantity: dict) -> tuple[str, str]:
    from adapter.eligibility.facts import facts_from_bundle
    from adapter.evaluation import evaluate_trial
    from tests.eligibility.rules.helpers import T629, variant
    from tests.support.trials import CATALOG

    bundle = variant("p-eligible-us-units", eligible_us_units_anc=quantity)
    result = evaluate_trial(CATALOG.get(T629), facts_from_bundle(bundle, CATALOG.units), date(2026, 11, 1))
    criterion = next(c for c in result.evaluation.criteria if c.id == "inc-neutrophils")
    return criterion.result, criterion.reason


UCUM = "http://unitsofmeasure.org"


def test_a_converted_value_just_below_the_threshold_reads_below_it():
    # ANC ≥ 3.0 10*9/L; 2999 /uL is 2.999 10*9/L — it used to read "2999 /uL = 3 10*9/L < 3 10*9/L"
    result, reason = _anc_report({"value": 2999, "unit": "/uL", "system": UCUM, "code": "/uL"})
    assert result == "fail"
    assert "2999 /µL = 2.999 10⁹/L < 3 10⁹/L" in reason


@pytest.mark.parametrize("value", [1e28, 1e-30, 123456789012345678901234567890, D("1E+999999"), D("-1E-999999")])
def test_an_absurd_value_that_needs_a_conversion_is_unknown_with_a_reason(value):
    result, reason = _anc_report({"value": value, "unit": "/uL", "system": UCUM, "code": "/uL"})
    assert result == "unknown"
    assert "value out of range for conversion" in reason


ENGINE_UNITS = ["/uL", "10*3/uL", "10*9/L", "/L", "mg/dL", "umol/L", "g/L", "kg", "U/L", "%", "1", "Cel", "Tm3"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.one_of(ANY_DECIMAL, st.floats(allow_nan=False, allow_infinity=False)),
                          st.sampled_from(ENGINE_UNITS)), min_size=4, max_size=4))
def test_the_engine_never_raises_whatever_the_values_and_units(values):
    """ANC (converted), creatinine (derived: Cockcroft–Gault), bilirubin and its ULN (× ULN) with any values."""
    from adapter.eligibility.facts import facts_from_bundle
    from adapter.evaluation import evaluate_trial
    from tests.eligibility.rules.helpers import T629, T787251, resource, variant
    from tests.support.trials import CATALOG

    (anc, anc_unit), (cr, cr_unit), (bili, bili_unit), (uln, uln_unit) = values
    bundle = variant("p-eligible-us-units",
                     eligible_us_units_anc={"value": anc, "unit": anc_unit, "system": UCUM, "code": anc_unit},
                     eligible_us_units_cr={"value": cr, "unit": cr_unit, "system": UCUM, "code": cr_unit},
                     eligible_us_units_bili={"value": bili, "unit": bili_unit, "system": UCUM, "code": bili_unit})
    resource(bundle, "eligible-us-units-bili")["referenceRange"] = [
        {"high": {"value": uln, "unit": uln_unit, "system": UCUM, "code": uln_unit}}]
    facts = facts_from_bundle(bundle, CATALOG.units)
    for nct in (T629, T787251):
        result = evaluate_trial(CATALOG.get(nct), facts, date(2026, 11, 1))
        for criterion in result.evaluation.criteria:
            assert criterion.result in ("pass", "fail", "unknown", "manual")
            assert len(criterion.reason) < 2000
