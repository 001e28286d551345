"""adapter.render.cards: CDS Hooks cards from TrialEvaluations — summary, Markdown detail, which trials get one."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.render.cards import DRAFT_DETAIL, SUMMARY_LIMIT, card_detail, card_for, card_summary, cards, md
from tests.render.sample import AGE, CONSENT, HB, HIV, PLT, drafted, trial_evaluation

pytestmark: list[pytest.MarkDecorator] = []

DETAIL = """\
**A \\[trial\\] of \\*things\\*** (NCT00000001, WITHDRAWN, not recruiting)

Evaluated on 2026-11-01: 2 met ✔, 1 not met ✘, 1 need data ?, 1 to review by the team.

### Tests that would settle it
- Platelet count (777-3, 26515-7) — for *inc-platelets*

### Need data
- ? **inc-platelets** (inclusion): PLT≥80×10^9/L; — no Platelet count result

### Not met
- ✘ **inc-age** (inclusion): Age 18-75 — age 76 outside 18–75 years [76 years, born 1950-11-01]

### To review
- review **inc-consent** (inclusion): Signed consent — a person decides

### Met
- ✔ **inc-hemoglobin** (inclusion): HB≥90g/L; — Hemoglobin 9 g/dL = 90 g/L ≥ 90 g/L [9 g/dL (= 90 g/L), 2026-10-27]
- ✔ **exc-hiv** (exclusion): HIV \\*positive\\* — no HIV infection recorded [HIV \\<b\\>, 2026-10-27]"""


def test_markdown_from_records_and_patient_data_is_inert() -> None:
    assert md("**bold** <script>alert(1)</script> [x](javascript:1)") == (
        "\\*\\*bold\\*\\* \\<script\\>alert(1)\\</script\\> \\[x\\]\\(javascript\\:1)")
    assert md("a\n\n# heading") == "a \\# heading"


def test_detail_lists_what_would_settle_it_then_each_group():
    result = trial_evaluation(HB, PLT, AGE, CONSENT, HIV, recruiting=False, overall_status="WITHDRAWN")
    assert card_detail(result) == DETAIL


def test_summary_names_what_is_missing_or_what_to_review():
    assert card_summary(trial_evaluation(HB, PLT)) == "Possible trial: NCT00000001 — 1 criterion needs data"
    eligible = trial_evaluation(HB, CONSENT, CONSENT, verdict="potentially-eligible", recruiting=False,
                                overall_status=None)
    assert card_summary(eligible) == (
        "Possible trial: NCT00000001 — potentially eligible, 2 criteria to review (not recruiting: UNKNOWN)")
    long = card_summary(trial_evaluation(HB, PLT, recruiting=False, overall_status="X" * 200))
    assert len(long) == SUMMARY_LIMIT and long.endswith("…")


def test_card_links_the_study_page():
    card = card_for(trial_evaluation(HB, PLT))
    assert card.indicator == "warning" and card.source.label == "trial-fhir-adapter"
    assert card.source.url == "https://clinicaltrials.gov/study/NCT00000001"
    assert [(link.label, link.url, link.type) for link in card.links] == [
        ("NCT00000001 on ClinicalTrials.gov", "https://clinicaltrials.gov/study/NCT00000001", "absolute")]
    assert card_for(trial_evaluation(HB, verdict="potentially-eligible")).indicator == "info"
    assert card.uuid != card_for(trial_evaluation(HB, PLT)).uuid


def test_cards_skip_ineligible_and_closed_trials_unless_asked():
    open_ = trial_evaluation(HB, PLT, nct_id="NCT00000001")
    closed = trial_evaluation(HB, PLT, nct_id="NCT00000002", recruiting=False, overall_status="COMPLETED")
    ineligible = trial_evaluation(AGE, nct_id="NCT00000003", verdict="ineligible")
    assert [c.links[0].label[:11] for c in cards([open_, closed, ineligible], include_closed=False)] == ["NCT00000001"]
    assert [c.links[0].label[:11] for c in cards(iter([open_, closed, ineligible]), include_closed=True)] == [
        "NCT00000001", "NCT00000002"]


# -- record and patient text cannot make a link, an image or HTML (issue 10, item 12) ---------------------------

HOSTILE = ["www.evil.example/login", "https://x.y", "<http://evil.example/a>", "![img](http://evil.example/p.png)",
           "[click](javascript:alert(1))", "&lt;script&gt; &#x3C;b&#x3E; &amp;", "<b>bold</b>", "mailto:a@evil.com",
           "evil.com/login", "`code`", "# heading", "line\nbreak\r\n\n- item"]


def _tokens(markdown: str) -> list[Any]:
    from markdown_it import MarkdownIt

    flat: list[Any] = []
    for token in MarkdownIt("commonmark").parse(markdown):  # in document order, inline children after their block
        flat.append(token)
        flat.extend(token.children or ())
    return flat


def _assert_inert(markdown: str) -> None:
    kinds = {t.type for t in _tokens(markdown)}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "code_inline"}, kinds
    # GFM and linkify autolink from the source text: no scheme, no `www.`, no bare domain survives
    for needle in ("://", "www.", "evil.example", "evil.com", "]("):
        assert needle not in markdown, needle


@pytest.mark.parametrize("text", HOSTILE)
def test_md_output_is_inert_for_a_markdown_parser(text: str) -> None:
    shown = md(text)
    _assert_inert(shown)
    assert "\n" not in shown
    kinds = {t.type for t in _tokens(shown)}
    assert kinds <= {"paragraph_open", "inline", "text", "paragraph_close"}, kinds  # one plain paragraph
    # and the reader sees exactly the text: no entity decoded, no markup eaten
    seen = "".join(t.content for t in _tokens(shown) if t.type == "text")
    assert seen == " ".join(text.split())


def test_a_unit_text_from_an_observation_cannot_become_a_link_in_a_card() -> None:
    from datetime import date

    from adapter.eligibility.facts import facts_from_bundle
    from adapter.evaluation import evaluate_trial
    from tests.eligibility.rules.helpers import T629, variant
    from tests.support.trials import CATALOG

    bundle = variant("p-eligible-us-units", eligible_us_units_anc={"value": 4.1, "unit": "www.evil.example/login"})
    result = evaluate_trial(CATALOG.get(T629), facts_from_bundle(bundle, CATALOG.units), date(2026, 11, 1))
    neutrophils = next(c for c in result.evaluation.criteria if c.id == "inc-neutrophils")
    assert "www.evil.example/login" in neutrophils.reason + str(neutrophils.evidence)  # the text does reach the card
    detail = card_detail(result)
    assert "www\\.evil\\.example/login" in detail
    _assert_inert(detail)
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(detail)
    assert "<a " not in html and "<img" not in html and "www.evil.example/login" in html  # shown, as text


def test_a_deceased_patient_gets_no_card() -> None:
    from datetime import date

    from adapter.eligibility.facts import facts_from_bundle
    from adapter.evaluation import evaluate_trial
    from tests.eligibility.test_whole_record import with_entries
    from tests.support.trials import CATALOG

    bundle = with_entries(patient={"deceasedBoolean": True})
    results = [evaluate_trial(CATALOG.get(n), facts_from_bundle(bundle, CATALOG.units), date(2026, 11, 1))
               for n in CATALOG.ids]
    assert all(r.verdict == "ineligible" for r in results)
    assert cards(results, include_closed=True) == []
    alive = [evaluate_trial(CATALOG.get(n), facts_from_bundle(with_entries(), CATALOG.units), date(2026, 11, 1))
             for n in CATALOG.ids]
    assert len(cards(alive, include_closed=True)) == len(alive)  # the same patient alive gets one card a trial


def test_evidence_units_and_ages_read_as_people_write_them() -> None:
    from decimal import Decimal

    from adapter.eligibility.outcome import Evidence
    from adapter.eligibility.result import CriterionResult
    from tests.render.sample import AGE, WHEN, trial_evaluation

    plt = CriterionResult(
        id="inc-platelets", type="inclusion", text="PLT", result="pass", reason="Platelet count 165 10³/µL",
        codes=(), evidence=(Evidence("Observation/plt", Decimal("165"), "10*3/uL", WHEN, Decimal("165"), "10*9/L"),))
    detail = card_detail(trial_evaluation(plt, AGE))
    assert "[165 10³/µL (= 165 10⁹/L), 2026-10-27]" in detail
    assert "[76 years, born 1950-11-01]" in detail and "76 a," not in detail


# -- a drafted trial's card says so (issue 21, part 3) --------------------------------------------------------------

def test_a_draft_card_says_draft_first_in_summary_and_detail_and_never_warns() -> None:
    result = drafted(trial_evaluation(HB, PLT))
    assert card_summary(result) == "DRAFT — Possible trial: NCT00000001 — 1 criterion needs data"
    assert card_detail(result) == f"{DRAFT_DETAIL}\n\n{card_detail(trial_evaluation(HB, PLT))}"
    assert "not clinically reviewed" in DRAFT_DETAIL
    card = card_for(result)
    assert card.indicator == "info" and card_for(trial_evaluation(HB, PLT)).indicator == "warning"
    assert not any(r.summary.startswith("DRAFT") for r in cards([trial_evaluation(HB, PLT)], include_closed=True))


def test_a_draft_summary_keeps_its_mark_within_the_limit() -> None:
    long = card_summary(drafted(trial_evaluation(HB, PLT, recruiting=False, overall_status="X" * 200)))
    assert len(long) == SUMMARY_LIMIT < 140 and long.startswith("DRAFT — Possible trial: NCT00000001")
