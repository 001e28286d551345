"""The coordinator's parts of the report page, in a real headless Chromium (the harness of
test_report_browser): the attrition funnel, every patient openable — the ineligible with what excluded them —,
"most common" rows that filter the table, the CSV download of the filtered rows (a Blob, no network), draft
trials and deceased patients said as such. Screenshots land in test-artifacts/ (ignored by git); the README's
picture is made here too (UPDATE_SCREENSHOTS=1 writes docs/screening-report.png)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from adapter.screening.report_html import render_report
from tests.screening.conftest import sample_report
from tests.screening.test_report_browser import ARTIFACTS, FIRST, Opened, _open, _patients, browser, report

pytestmark: list[pytest.MarkDecorator] = []

__all__ = ["browser", "report"]  # the fixtures, shared
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screening-report.png"
README_LIMIT = 200_000


def test_the_funnel_shows_each_criterion_in_order(report: Opened) -> None:
    page = report.page
    svg = page.locator(f"{FIRST} svg.funnel")
    assert svg.is_visible()
    assert svg.locator("g.step").count() == 1 + 6  # the screened bar, then each criterion
    labels = svg.locator("g.step > text:first-of-type").all_text_contents()
    assert labels[:3] == ["Screened", "1. record-deceased", "2. inc-age"]
    assert svg.locator("g.step").nth(6).locator("text").nth(1).text_content() == "−120 → 902"
    title = svg.locator("g.step").nth(6).locator("title").text_content() or ""
    assert "Current use of therapeutic anticoagulation" in title
    box = svg.bounding_box()
    assert box is not None and box["width"] <= 1200  # fits the page
    page.locator(FIRST).get_by_text("The funnel as a table").click()
    row = page.locator(f"{FIRST} .attrition-table tbody tr").nth(2).locator("td").all_inner_texts()
    assert row == ["3", "inc-hemoglobin Hemoglobin ≥ 9 g/dL", "41", "800", "1,022"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(f"{FIRST} .funnel-box").screenshot(path=ARTIFACTS / "screening-report-funnel.png")
    report.assert_clean()


def test_an_ineligible_deceased_patient_opens_with_what_excluded_them(report: Opened) -> None:
    page = report.page
    row = page.locator(f"{FIRST} table.cand tbody tr", has_text="Patient/p5")
    assert row.get_attribute("class") == "deceased"
    assert row.locator(".badge.deceased").inner_text() == "DECEASED"  # uppercase by the badge style
    row.locator("td").nth(1).click()
    dialog = page.get_by_role("dialog")
    assert dialog.get_by_role("heading", level=2).inner_text() == "Patient/p5 — NCT03787251"
    identity = dialog.locator(".identity").inner_text()
    assert "Charles Babbage" in identity and "MRN MR-0005 (urn:oid:1.2.3.4.5)" in identity
    assert "born 1944-12-26 (age 81)" in identity and "newest data used 2026-10-31" in identity
    assert dialog.locator(".identity .badge.deceased").is_visible()
    assert "only the criteria that excluded this patient" in dialog.locator(".excluded-note").inner_text()
    assert dialog.locator("li.crit .result").all_inner_texts() == ["✗ Fail"] * 3
    dead = dialog.locator("li.crit", has_text="record-deceased")
    assert dead.locator(".reason").inner_text() == "recorded as deceased on 2026-10-31"
    assert dead.locator("table.evidence tbody td").first.inner_text() == "Patient/p5"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "screening-report-ineligible.png")
    page.keyboard.press("Escape")
    report.assert_clean()


def test_a_most_common_row_filters_the_table(report: Opened) -> None:
    page = report.page
    first = page.locator(FIRST)
    first.locator('.tops tr[data-kind="failed"][data-criterion="exc-anticoagulant"]').locator("td").nth(1).click()
    assert _patients(page) == ["Patient/p4", "Patient/p5"]
    chip = first.locator(".chip")
    assert chip.is_visible() and "Failing: exc-anticoagulant" in chip.inner_text()
    assert first.locator(".status").inner_text() == "2 of 6 patients match"
    assert page.evaluate("document.activeElement.textContent") == "Clear"  # focus moved to the filter
    page.keyboard.press("Enter")  # clears it
    assert not chip.is_visible() and len(_patients(page)) == 6
    # Keyboard: the criterion's button in a "most common unknown" row.
    button = first.locator('.tops tr[data-kind="unknown"][data-criterion="inc-platelets"] button')
    button.focus()
    page.keyboard.press("Enter")
    assert _patients(page) == ["Patient/p3", "Patient/p5"]
    first.get_by_label("Filter by patient").fill("babbage")  # the filters combine; names are searchable
    assert _patients(page) == ["Patient/p5"]
    report.assert_clean()


def test_the_filtered_rows_download_as_csv(report: Opened, tmp_path: Path) -> None:
    page = report.page
    first = page.locator(FIRST)
    first.get_by_label("Verdict").select_option("potentially-eligible")
    with page.expect_download() as info:
        first.get_by_role("button", name="Download CSV of these rows").click()
    download = info.value
    assert download.suggested_filename == "patients-NCT03787251-filtered.csv"
    assert download.url.startswith("blob:")
    saved = tmp_path / "rows.csv"
    download.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["patient"] for r in rows] == ["Patient/p1", "Patient/p2"]
    assert list(rows[0])[:6] == ["trial", "patient", "name", "mrn", "age", "sex"]
    assert rows[0]["name"] == "Ada Lovelace" and rows[0]["verdict"] == "potentially-eligible"
    assert rows[1]["name"] == "'=HYPERLINK(\"http://x\",\"y\")"  # a formula stays text in a spreadsheet
    first.get_by_label("Verdict").select_option("")
    first.locator('.tops tr[data-kind="failed"][data-criterion="exc-anticoagulant"] button').click()
    with page.expect_download() as info:
        first.get_by_role("button", name="Download CSV of these rows").click()
    assert info.value.suggested_filename == "patients-NCT03787251-failed-exc-anticoagulant.csv"
    info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [(r["patient"], r["failed_criteria"]) for r in rows] == [
        ("Patient/p4", "exc-anticoagulant"), ("Patient/p5", "record-deceased;inc-hemoglobin;exc-anticoagulant")]
    report.assert_clean()


def test_a_draft_trial_says_so(report: Opened) -> None:
    section = report.page.locator("section#trial-NCT03320629")
    assert section.locator(".badge.draft").is_visible()
    assert "no clinician has reviewed" in section.locator(".draft-note").inner_text()
    report.assert_clean()


def test_the_readme_screenshot(browser: object, tmp_path: Path) -> None:
    """A picture of one trial for the README (fictional patients): the funnel, the most common criteria and the
    first rows, filtered to a failing criterion."""
    data = sample_report()
    data["trials"][0]["candidates"][1]["name"] = "Mary Somerville"  # not the formula the other tests use
    with _open(browser, tmp_path / "report.html", data) as opened:  # type: ignore[arg-type]
        page = opened.page
        page.set_viewport_size({"width": 1100, "height": 900})
        section = page.locator(FIRST)
        box = section.bounding_box()
        assert box is not None
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "screening-report-readme.png"
        page.screenshot(path=shot, full_page=True,
                        clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": min(box["height"], 1500)})
        assert shot.stat().st_size < README_LIMIT
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOT.write_bytes(shot.read_bytes())
        opened.assert_clean()
    assert DOCS_SCREENSHOT.is_file() and DOCS_SCREENSHOT.stat().st_size < README_LIMIT


def test_the_page_still_renders_without_attrition_data(browser: object, tmp_path: Path) -> None:
    """A report from before the funnel (no attrition, no identity) still opens and lists its patients."""
    data = sample_report()
    for trial in data["trials"]:
        trial.pop("attrition"), trial.pop("screened")
    assert "<svg" not in render_report(data)
    with _open(browser, tmp_path / "old.html", data) as opened:  # type: ignore[arg-type]
        assert len(_patients(opened.page)) == 6
        opened.assert_clean()
