"""adapter.render.text: the checklist for people — verdict line, notes, criteria by kind and result, evidence."""

from __future__ import annotations

from adapter.render.report import DRAFT_NOTE
from adapter.render.text import report_text
from tests.render.sample import AGE, CONSENT, HB, HIV, PLT, drafted, trial_evaluation

NOTE = "1 resource(s) belonging to another patient were ignored."
EXPECTED = """\
NCT00000001  patient Patient/p1  as of 2026-11-01
verdict: insufficient-data   (2 pass, 1 fail, 1 unknown, 1 for review)   trial not recruiting (WITHDRAWN)
note: 1 resource(s) belonging to another patient were ignored.

INCLUSION CRITERIA
  [FAIL   ] inc-age: Age 18-75
            age 76 outside 18–75 years
            ↳ Patient/p1 76 a
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
