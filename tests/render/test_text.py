"""adapter.render.text: the checklist for people — verdict line, notes, criteria by kind and result, evidence."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapter.eligibility.outcome import Evidence
from adapter.eligibility.result import CriterionResult
from adapter.render.report import DRAFT_NOTE
from adapter.render.text import report_text
from tests.render.sample import AGE, CONSENT, HB, HIV, PLT, WHEN, drafted, trial_evaluation

pytestmark: list[pytest.MarkDecorator] = []

NOTE = "1 resource belonging to another patient was ignored."
EXPECTED = """\
NCT00000001  patient Patient/p1  as of 2026-11-01
verdict: insufficient-data   (2 pass, 1 fail, 1 unknown, 1 for review)   trial not recruiting (WITHDRAWN)
note: 1 resource belonging to another patient was ignored.

INCLUSION CRITERIA
  [FAIL   ] inc-age: Age 18-75
            age 76 outside 18–75 years
            ↳ Patient/p1 76 years
  [UNKNOWN] inc-platelets: PLT≥80×10^9/L;
            no Platelet count result
  [PASS   ] inc-hemoglobin: HB≥90g/L;
            Hemoglobin 9 g/dL = 90 g/L ≥ 90 g/L
            ↳ Observation/hb 9 g/dL  2026-10-27
  [REVIEW ] inc-consent: Signed consent
            a person decides

EXCLUSION CRITERIA
  [PASS   ] exc-hiv: HIV *positive*
            no HIV infection recorded
            ↳ Condition/c1 HIV <b>  2026-10-27
"""


def test_checklist_orders_fail_unknown_pass_review_within_each_kind():
    result = trial_evaluation(HB, PLT, AGE, CONSENT, HIV, recruiting=False, overall_status="WITHDRAWN", notes=(NOTE,))
    assert report_text(result) == EXPECTED


def test_colour_marks_the_verdict_and_each_result():
    text = report_text(trial_evaluation(HB), colour=True)
    assert "verdict: \x1b[33minsufficient-data\x1b[0m   (1 pass, 0 fail, 0 unknown, 0 for review)\n" in text
    assert "  \x1b[32m[PASS   ]\x1b[0m inc-hemoglobin: HB≥90g/L;\n" in text
    assert "not recruiting" not in text and "EXCLUSION" not in text


def test_a_draft_says_so():
    assert f"\nnote: {DRAFT_NOTE}\n" in report_text(drafted(trial_evaluation(HB)))
    assert "note:" not in report_text(trial_evaluation(HB))


def test_a_draft_says_so_in_its_heading_line():
    heading = report_text(drafted(trial_evaluation(HB))).splitlines()[0]
    assert heading == f"NCT00000001  DRAFT ({DRAFT_NOTE})  patient Patient/p1  as of 2026-11-01"
    assert "DRAFT" not in report_text(trial_evaluation(HB))


def _ineligible():
    return trial_evaluation(HB, PLT, AGE, CONSENT, HIV, verdict="ineligible")


def test_an_ineligible_patient_leads_with_what_failed_and_counts_the_rest():
    text = report_text(_ineligible())
    assert text == (
        "NCT00000001  patient Patient/p1  as of 2026-11-01\n"
        "verdict: ineligible   (2 pass, 1 fail, 1 unknown, 1 for review)\n"
        "\n"
        "INCLUSION CRITERIA THAT FAILED\n"
        "  [FAIL   ] inc-age: Age 18-75\n"
        "            age 76 outside 18–75 years\n"
        "            ↳ Patient/p1 76 years\n"
        "\n"
        "other criteria not shown: 2 pass, 1 unknown, 1 for review (--verbose shows every criterion)\n"
    )


def test_verbose_shows_every_criterion_of_an_ineligible_patient():
    text = report_text(_ineligible(), verbose=True)
    for cid in ("inc-age", "inc-platelets", "inc-hemoglobin", "inc-consent", "exc-hiv"):
        assert f"] {cid}:" in text
    assert "INCLUSION CRITERIA\n" in text and "EXCLUSION CRITERIA\n" in text and "not shown" not in text


def test_evidence_units_as_people_write_them():
    plt = CriterionResult(
        id="inc-platelets", type="inclusion", text="PLT", result="pass", reason="Platelet count 165 10³/µL",
        codes=(), evidence=(Evidence("Observation/plt", Decimal("165"), "10*3/uL", WHEN, Decimal("165"), "10*9/L"),
                            Evidence("Observation/bp", Decimal("141"), "mm[Hg]", WHEN),
                            Evidence("Observation/ecog", Decimal("1"), "{score}", WHEN)))
    text = report_text(trial_evaluation(plt))
    assert "↳ Observation/plt 165 10³/µL  2026-10-27" in text
    assert "↳ Observation/bp 141 mmHg  2026-10-27" in text
    assert "↳ Observation/ecog 1  2026-10-27" in text
    assert "10*3/uL" not in text and "mm[Hg]" not in text and "{score}" not in text
