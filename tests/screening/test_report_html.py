"""The report page as text: the data embedded intact and inert, nothing loaded from anywhere, every trial
summarised even without candidates, and the truncation said out loud."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from adapter.screening.report_html import embed_json, render_report
from tests.screening.conftest import SCRIPT_BREAK


def _embedded(page: str) -> Any:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match, "no embedded report data"
    return json.loads(match.group(1))


class _Collect(HTMLParser):
    """Every attribute and the text of every element, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, str, str]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "script":
            self.scripts.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    return parser


def test_the_page_embeds_the_data_exactly(report_data: dict[str, Any]) -> None:
    page = render_report(report_data)
    assert page.startswith("<!DOCTYPE html>")
    assert _embedded(page) == report_data


def test_script_breaking_text_stays_inside_the_json(report_data: dict[str, Any]) -> None:
    report_data["trials"][0]["title"] = SCRIPT_BREAK + " & <b>bold</b>"
    report_data["source"] = "/x\u2028y\u2029z"
    page = render_report(report_data)
    # Exactly two scripts: the inert JSON and the page's own code; the reason never opened a third.
    scripts = _parse(page).scripts
    assert [s.get("type") for s in scripts] == ["application/json", None]
    assert "<script>alert(1)" not in page
    json_text = page.split('id="report-data">')[1].split("</script>")[0]
    assert not set("<>&\u2028\u2029") & set(json_text)
    assert _embedded(page) == report_data
    # Placed in markup (the title), it is escaped text.
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page


def test_embed_json_escapes_what_html_and_js_would_read() -> None:
    assert embed_json({"a": "</script>&\u2028\u2029"}) == '{"a":"\\u003c/script\\u003e\\u0026\\u2028\\u2029"}'


def test_nothing_is_loaded_from_the_network(report_data: dict[str, Any]) -> None:
    page = render_report(report_data)
    parsed = _parse(page)
    for tag, name, value in parsed.attrs:
        if name in {"src", "href", "srcset", "action", "poster", "data"}:
            assert value.startswith("#") or value.startswith("data:"), f"<{tag} {name}={value!r}> loads something"
    assert not re.search(r"(?i)@import|url\(", page), "CSS must not fetch anything"
    assert not any(tag in {"iframe", "img", "link"} and name == "src" for tag, name, _ in parsed.attrs)
    csp = next(v for t, k, v in parsed.attrs if t == "meta" and k == "content" and "default-src" in v)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_summary_counts_errors_and_footer(report_data: dict[str, Any]) -> None:
    page = render_report(report_data)
    text = " ".join(_parse(page).text)
    assert "1,234" in text and "NCT03787251" in text and "NCT03320629" in text
    assert "Apixaban versus aspirin after bioprosthetic valve replacement" in text
    assert "Current use of therapeutic anticoagulation" in text  # a top failing criterion's source text
    assert "Draft mapping" in text and "Not recruiting" in text and "Recruiting" in text
    assert "errors.ndjson" in text and "unreadable-line" in text
    assert "pre-screening, not an eligibility decision" in text and "need a person" in text


def test_a_trial_without_candidates_renders(report_data: dict[str, Any]) -> None:
    report_data["trials"] = [report_data["trials"][1]]
    report_data["errors"] = {"count": 0, "by_kind": {}, "file": "errors.ndjson"}
    page = render_report(report_data)
    assert "No candidates" in page and 'data-trial="0"' not in page
    assert "worklist.csv" not in page


def test_a_truncated_table_says_where_the_rest_is(report_data: dict[str, Any]) -> None:
    page = render_report(report_data)
    assert "first 6 of 910 candidates" in page and "worklist.csv" in page
    report_data["trials"][0]["candidates_total"] = 6
    assert "worklist.csv" not in render_report(report_data)


def test_an_empty_run_renders() -> None:
    page = render_report({"patients": 0, "trials": [], "errors": {}})
    assert "</html>" in page and _embedded(page)["trials"] == []


def test_skipped_resource_types_are_named(report_data: dict) -> None:
    from adapter.screening.report_html import render_report

    html = render_report({**report_data, "skipped": {"Encounter": 3, "Claim": 1200}})
    assert "Not read by these trials" in html
    assert "<code>Claim</code> 1,200" in html and "<code>Encounter</code> 3" in html
