"""The report page in a real headless Chromium (Debian's, through Playwright), opened from file:// with every
request routed: anything but the page itself fails the test. Sorting, filtering, the checklist, keyboard use,
no console errors; screenshots land in test-artifacts/ for a person to look at.

Chromium or Playwright missing is a failure with the fix in the message (tests/support/browser.py), never a skip.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from adapter.screening.report_html import render_report
from tests.screening.conftest import SCRIPT_BREAK, sample_report
from tests.support.browser import chromium_context

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

pytestmark: list[pytest.MarkDecorator] = []

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FIRST = "section#trial-NCT03787251"


@dataclass
class Opened:
    page: Page
    url: str
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.blocked == [], f"the page requested something besides itself: {self.blocked}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium_context() as context:
        yield context


@contextmanager
def _open(browser: BrowserContext, path: Path, data: dict[str, Any]) -> Iterator[Opened]:
    path.write_text(render_report(data), encoding="utf-8")
    page = browser.new_page()
    opened = Opened(page, path.as_uri())

    def guard(route: Any) -> None:
        if route.request.url == opened.url:
            route.continue_()
        else:
            opened.blocked.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type in {"error", "warning"} else None)
    page.on("pageerror", lambda e: opened.errors.append(f"uncaught: {e}"))
    page.on("dialog", lambda d: (opened.errors.append(f"a JavaScript dialog opened: {d.message}"), d.dismiss()))
    try:
        page.goto(opened.url)
        yield opened
    finally:
        page.close()


@pytest.fixture
def report(browser: BrowserContext, tmp_path: Path) -> Iterator[Opened]:
    with _open(browser, tmp_path / "report.html", sample_report()) as opened:
        yield opened


def _patients(page: Page) -> list[str]:
    return page.locator(f"{FIRST} table.cand tbody tr td:first-child").all_inner_texts()


def _header(page: Page, name: str) -> Locator:
    return page.locator(f"{FIRST} table.cand thead th").filter(has=page.get_by_role("button", name=name, exact=True))


def test_summary_counts_and_tables_are_shown(report: Opened) -> None:
    page = report.page
    first = page.locator(FIRST)
    assert first.locator(".counts").inner_text().split() == [
        "Potentially", "eligible", "2", "Insufficient", "data", "900", "Ineligible", "332",
    ]
    assert "first 6 of 910 patients" in first.locator(".truncated").inner_text()
    assert "Current use of therapeutic anticoagulation" in first.locator(".tops").inner_text()
    assert _patients(page) == ["Patient/p1", "Patient/p2", "Patient/p10", "Patient/p3", "Patient/p4", "Patient/p5"]
    assert page.locator("section#trial-NCT03320629").get_by_text("No patients were screened").is_visible()
    assert "7 input items were skipped" in page.locator("section.errors").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "screening-report.png", full_page=True)
    report.assert_clean()


def test_clicking_a_header_sorts_both_ways(report: Opened) -> None:
    page = report.page
    fail = _header(page, "Fail")
    fail.get_by_role("button").click()
    assert fail.get_attribute("aria-sort") == "ascending"
    # Numeric, ties in screening order.
    assert _patients(page) == ["Patient/p1", "Patient/p2", "Patient/p10", "Patient/p3", "Patient/p4", "Patient/p5"]
    fail.get_by_role("button").click()
    assert fail.get_attribute("aria-sort") == "descending"
    assert _patients(page)[:2] == ["Patient/p5", "Patient/p4"]

    patient = _header(page, "Patient")
    patient.get_by_role("button").click()
    assert (patient.get_attribute("aria-sort"), fail.get_attribute("aria-sort")) == ("ascending", "none")
    assert _patients(page) == ["Patient/p1", "Patient/p2", "Patient/p3", "Patient/p4", "Patient/p5", "Patient/p10"]
    patient.get_by_role("button").press("Enter")  # keyboard works the same
    assert patient.get_attribute("aria-sort") == "descending"
    assert _patients(page)[:3] == ["Patient/p10", "Patient/p5", "Patient/p4"]
    report.assert_clean()


def test_the_text_filter_and_the_verdict_selector_narrow_the_rows(report: Opened) -> None:
    page = report.page
    first = page.locator(FIRST)
    text = first.get_by_label("Filter by patient")
    verdict = first.get_by_label("Verdict")
    text.fill("hemoglobin")
    assert _patients(page) == ["Patient/p10", "Patient/p3"]
    text.fill("p1")
    assert _patients(page) == ["Patient/p1", "Patient/p10"]
    text.fill("")
    verdict.select_option("potentially-eligible")
    assert _patients(page) == ["Patient/p1", "Patient/p2"]
    verdict.select_option("ineligible")
    text.fill("platelets")
    assert _patients(page) == ["Patient/p5"]
    assert first.locator(".status").inner_text() == "1 of 6 patients match"
    text.fill("nobody")
    assert _patients(page) == []
    report.assert_clean()


def test_clicking_a_patient_opens_the_checklist(report: Opened) -> None:
    page = report.page
    page.locator(f"{FIRST} table.cand tbody tr", has_text="Patient/p2").locator("td").nth(3).click()  # the row
    dialog = page.get_by_role("dialog")
    assert dialog.is_visible()
    assert dialog.get_by_role("heading", level=2).inner_text() == "Patient/p2 — NCT03787251"
    hb = dialog.locator("li.crit", has_text="inc-hemoglobin")
    assert "Hemoglobin ≥ 9 g/dL" in hb.inner_text()  # the criterion's source text
    assert hb.locator(".reason").inner_text() == SCRIPT_BREAK  # patient text stays text
    assert hb.locator(".result").inner_text() == "✓ Pass"
    evidence = hb.locator("table.evidence tbody tr").first.locator("td").all_inner_texts()
    assert evidence == ["Observation/hb-1", "13.2 g/dL", "2026-10-01T08:00:00+00:00", "132 g/L", "most recent of 3"]
    assert dialog.locator("li.crit .result").all_inner_texts().count("✎ Manual review") == 1
    assert dialog.get_by_role("heading", name="Exclusion criteria").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "screening-report-checklist.png")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    # Keyboard only: the patient button takes focus and Enter opens its checklist.
    button = page.locator(f"{FIRST} table.cand").get_by_role("button", name="Patient/p3", exact=True)
    button.focus()
    page.keyboard.press("Enter")
    assert dialog.get_by_role("heading", level=2).inner_text() == "Patient/p3 — NCT03787251"
    results = dialog.locator("li.crit .result").all_inner_texts()
    assert results.count("? Unknown") == 2
    assert "Would be settled by: Platelets (http://loinc.org|777-3)" in dialog.inner_text()
    dialog.get_by_role("button", name="Close checklist").click()
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Patient/p3"  # focus returns to the row
    report.assert_clean()


def test_thousands_of_candidates_stay_usable(browser: BrowserContext, tmp_path: Path) -> None:
    data = sample_report()
    trial = data["trials"][0]
    template = trial["candidates"]
    many = []
    for i in range(3000):
        c = copy.deepcopy(template[i % len(template)])
        c["patient"] = f"Patient/m{i}"
        c["summary"]["pass"] = i % 17
        many.append(c)
    trial["candidates"], trial["candidates_total"] = many, 5000
    with _open(browser, tmp_path / "big.html", data) as opened:
        page = opened.page
        assert len(_patients(page)) == 250  # rendered a page at a time
        assert "3000 patients (showing 250)" in page.locator(f"{FIRST} .status").inner_text()
        _header(page, "Pass").get_by_role("button").click()
        _header(page, "Pass").get_by_role("button").click()
        assert page.locator(f"{FIRST} table.cand tbody tr").first.locator("td").nth(6).inner_text() == "16"
        page.locator(f"{FIRST} button.more").click()
        assert len(_patients(page)) == 500
        page.locator(FIRST).get_by_label("Filter by patient").fill("m2999")
        assert _patients(page) == ["Patient/m2999"]
        opened.assert_clean()


def test_the_guard_sees_a_request_for_anything_else(report: Opened) -> None:
    """The harness itself: a page that tried to load something would fail the tests above."""
    report.page.evaluate("() => { const i = new Image(); i.src = 'http://192.0.2.1/x.png'; document.body.append(i); }")
    report.page.wait_for_timeout(200)
    with pytest.raises(AssertionError):
        report.assert_clean()
