"""The report page as text: the data embedded intact and inert, nothing loaded from anywhere, every trial
summarised even without candidates, and the truncation said out loud."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from adapter.screening.report_html import _for_people, embed_json, render_report
from tests.screening.conftest import SCRIPT_BREAK

pytestmark: list[pytest.MarkDecorator] = []


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
    assert _embedded(page) == _for_people(report_data)  # the data, its evidence units as people write them


def test_evidence_units_on_the_page_are_written_as_people_write_them(report_data: dict[str, Any]) -> None:
    embedded = _embedded(render_report(report_data))
    units = {e["reference"]: e.get("unit") for t in embedded["trials"] for c in t["candidates"]
             for k in c.get("criteria", ()) for e in k.get("evidence", ())}
    assert units["Observation/plt-1"] == "10³/µL"
    sent = {e["reference"]: e.get("unit") for t in report_data["trials"] for c in t["candidates"]
            for k in c.get("criteria", ()) for e in k.get("evidence", ())}
    assert sent["Observation/plt-1"] == "10*3/uL"  # what was screened is left as it is
    aged = _for_people({"trials": [{"candidates": [{"criteria": [{"evidence": [
        {"reference": "Patient/p", "value": 61, "unit": "a"},
        {"reference": "Observation/bp", "value": 141, "unit": "mm[Hg]", "normalized": {"value": 141, "unit": "mm[Hg]"}},
    ]}]}]}]})
    shown = aged["trials"][0]["candidates"][0]["criteria"][0]["evidence"]
    assert [e["unit"] for e in shown] == ["years", "mmHg"] and shown[1]["normalized"]["unit"] == "mmHg"


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
    assert _embedded(page) == _for_people(report_data)
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
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # the page's code may say URL.createObjectURL(
    assert not re.search(r"(?i)@import|url\(", markup), "CSS and SVG must not fetch anything"
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
    assert "No patients were screened" in page and 'class="candidates" data-trial="0"' not in page
    assert "worklist.csv" not in page


def test_a_truncated_table_says_where_the_rest_is(report_data: dict[str, Any]) -> None:
    page = render_report(report_data)
    assert "first 6 of 910 patients" in page and "worklist.csv" in page
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


def test_the_funnel_is_inline_svg_with_the_attrition_numbers(report_data: dict[str, Any]) -> None:
    page = render_report(report_data)
    first = page.split('id="trial-NCT03787251"')[1].split("</section>")[0]
    svg = first.split("<svg")[1].split("</svg>")[0]
    assert 'role="img"' in svg and "Attrition: 1,234 patients screened, 902 not excluded" in svg
    assert "6. exc-anticoagulant" in svg and "−120 → 902" in svg
    assert "Current use of therapeutic anticoagulation" in svg  # the criterion's text as the bar's title
    assert "<tr><td class=num>1</td><td><code>record-deceased</code>" in first  # the table beside it
    assert "xlink" not in svg and "href" not in svg


def test_draft_trials_say_so_and_top_rows_name_their_criterion(report_data: dict[str, Any]) -> None:
    page = render_report(report_data)
    assert page.count('class="draft-note"') == 1 and "treat every result below as provisional" in page
    assert '<tr class="pick" data-trial="0" data-kind="failed" data-criterion="exc-anticoagulant">' in page
    assert '<tr class="pick" data-trial="0" data-kind="unknown" data-criterion="inc-platelets">' in page
