"""The screening run as one self-contained HTML page (`report.html`) for a research coordinator.

The static summary (run, errors, per-trial counts, top criteria and the attrition funnel as inline SVG) is
rendered here, HTML-escaped, so it reads and prints without JavaScript. The patient tables and checklists are
built in the browser from the data embedded as JSON, with textContent only: thousands of rows stay cheap and
patient text stays text. A Content-Security-Policy pins the page's own script and style by hash and allows no
network at all. The page identifies patients (names, MRNs, birth dates): it is protected health information.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from adapter.eligibility.prose import unit_words
from adapter.screening.report_assets import JS
from adapter.screening.report_funnel import funnel
from adapter.screening.report_style import CSS

VERDICTS = ("potentially-eligible", "insufficient-data", "ineligible")
VERDICT_LABELS = {
    "potentially-eligible": "Potentially eligible",
    "insufficient-data": "Insufficient data",
    "ineligible": "Ineligible",
}
FOOTER = (
    "This is pre-screening, not an eligibility decision: it says which patients may be worth a closer look. "
    "Criteria marked “manual” need a person to decide, and every candidate must be confirmed by the study team."
)

# JSON inside <script> must never contain "</script>", "<!--" or "]]>"; JavaScript (pre-ES2019) also treats
# U+2028/U+2029 as line ends. Escaping these as \uXXXX keeps the JSON identical once parsed.
_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def embed_json(data: Any) -> str:
    """`data` as JSON text that is safe inside a <script type="application/json"> element."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_JSON_ESCAPES)


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _run_summary(data: Mapping[str, Any]) -> str:
    items = [
        ("Patients screened", _count(data.get("patients", 0))),
        ("Trials", _count(len(data.get("trials") or []))),
        ("Data as of", _e(data.get("as_of"))),
        ("Generated", _e(data.get("generated"))),
        ("Engine", _e(data.get("engine"))),
        ("Source", f"<code>{_e(data.get('source'))}</code>"),
    ]
    rows = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in items)
    return f'<dl class="run">{rows}</dl>'


def _errors(errors: Mapping[str, Any]) -> str:
    count = errors.get("count", 0) or 0
    file = f"<code>{_e(errors.get('file') or 'errors.ndjson')}</code>"
    if not count:
        return (
            '<section class="errors" aria-labelledby="errors-h"><h2 id="errors-h">Errors</h2>'
            f"<p>None ({file} is empty).</p></section>"
        )
    kinds = "".join(
        f"<tr><th scope=row><code>{_e(kind)}</code></th><td class=num>{_count(n)}</td></tr>"
        for kind, n in sorted((errors.get("by_kind") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return (
        '<section class="errors" aria-labelledby="errors-h"><h2 id="errors-h">Errors</h2>'
        f"<p><strong>{_count(count)}</strong> input {'item was' if count == 1 else 'items were'} skipped; "
        f"each one is listed in {file}.</p>"
        f'<table class="small"><caption class="visually-hidden">Errors by kind</caption>'
        "<thead><tr><th scope=col>Kind</th><th scope=col class=num>Count</th></tr></thead>"
        f"<tbody>{kinds}</tbody></table>"
        "</section>"
    )


def _skipped(skipped: Mapping[str, Any]) -> str:
    """Resource types the trials do not read: counted, so that nothing in the export goes unmentioned."""
    if not skipped:
        return ""
    kinds = ", ".join(f"<code>{_e(kind)}</code> {_count(n)}" for kind, n in sorted(skipped.items()))
    return f'<p class="muted">Not read by these trials (counted and skipped): {kinds}.</p>'


def _verdict(verdict: str) -> str:
    return f'<span class="verdict v-{_e(verdict)}">{_e(VERDICT_LABELS.get(verdict, verdict))}</span>'


def _counts(counts: Mapping[str, Any]) -> str:
    cells = "".join(
        f'<div class="count c-{v}"><dt>{_verdict(v)}</dt><dd>{_count(counts.get(v, 0))}</dd></div>' for v in VERDICTS
    )
    return f'<dl class="counts">{cells}</dl>'


def _top(title: str, rows: Sequence[Mapping[str, Any]], criteria: Mapping[str, Any], key: str, kind: str,
         index: int) -> str:
    """A "most common" table; with JavaScript, each row filters the trial's patient table to that criterion."""
    if not rows:
        return f'<div class="top"><h4>{title}</h4><p class="muted">None.</p></div>'
    body = ""
    for row in rows:
        source = criteria.get(str(row.get("id"))) or {}  # the criterion's verbatim text beside its id
        body += (
            f'<tr class="pick" data-trial="{index}" data-kind="{kind}" data-criterion="{_e(row.get("id"))}">'
            f'<td><button type="button" class="linkish" title="Show these patients in the table">'
            f"{_e(row.get('id'))}</button> <span class=ctype>{_e(source.get('type'))}</span><br>"
            f"{_e(source.get('text'))}</td><td class=num>{_count(row.get('count'))}</td></tr>"
        )
    return (
        f'<div class="top"><h4 id="{key}">{title}</h4><table class="small" aria-labelledby="{key}">'
        f"<thead><tr><th scope=col>Criterion</th><th scope=col class=num>Patients</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _trial(index: int, trial: Mapping[str, Any]) -> str:
    nct = _e(trial.get("nct_id"))
    badges = '<span class="badge draft">Draft mapping</span>' if trial.get("draft") else ""
    badges += (
        '<span class="badge recruiting">Recruiting</span>'
        if trial.get("recruiting")
        else '<span class="badge closed">Not recruiting</span>'
    )
    candidates = trial.get("candidates") or []
    total = trial.get("candidates_total", len(candidates)) or 0
    note = ""
    if total > len(candidates):
        note = (
            f'<p class="truncated" role="note">The table shows the first {_count(len(candidates))} of '
            f"{_count(total)} patients in worklist order; the full list is in <code>worklist.csv</code>.</p>"
        )
    criteria = trial.get("criteria") or {}
    table = (
        f'<div class="candidates" data-trial="{index}"></div>'
        if candidates
        else '<p class="muted">No patients were screened for this trial.</p>'
    )
    draft = (
        '<p class="draft-note" role="note"><strong>Draft mapping:</strong> no clinician has reviewed how this '
        "trial's criteria are read; treat every result below as provisional.</p>"
        if trial.get("draft") else ""
    )
    return (
        f'<section class="trial" id="trial-{nct}" aria-labelledby="trial-{nct}-h">'
        f'<h2 id="trial-{nct}-h"><span class="nct">{nct}</span> {badges}</h2>'
        f'<p class="title">{_e(trial.get("title"))}</p>{draft}'
        f"{_counts(trial.get('counts') or {})}"
        f"{funnel(index, trial)}"
        '<div class="tops">'
        + _top("Most common failing criteria", trial.get("top_failing") or [], criteria, f"tf-{index}", "failed",
               index)
        + _top("Most common unknown criteria", trial.get("top_unknown") or [], criteria, f"tu-{index}", "unknown",
               index)
        + "</div>"
        f'<h3>Patients <span class="muted">({_count(total)}: candidates first, then the ineligible with what '
        f"excluded them)</span></h3>{note}{table}"
        "</section>"
    )


def _for_people(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The page's data with evidence units as people write them (10⁹/L, mmHg, an age in years); results.ndjson
    keeps the units as sent and UCUM."""
    def evidence(item: Mapping[str, Any]) -> dict[str, Any]:
        shown = {**item, "unit": unit_words(item.get("unit"), item.get("value"))} if item.get("unit") else dict(item)
        normalized = item.get("normalized")
        if isinstance(normalized, Mapping) and normalized.get("unit"):
            shown["normalized"] = {**normalized, "unit": unit_words(normalized["unit"], normalized.get("value"))}
        return shown

    def candidate(line: Mapping[str, Any]) -> dict[str, Any]:
        if "criteria" not in line:
            return dict(line)
        return {**line, "criteria": [{**c, "evidence": [evidence(e) for e in c["evidence"]]} if c.get("evidence")
                                     else dict(c) for c in line["criteria"]]}

    trials = [{**t, "candidates": [candidate(c) for c in t.get("candidates") or ()]} for t in data.get("trials") or ()]
    return {**data, "trials": trials}


def render_report(data: Mapping[str, Any]) -> str:
    """The whole page: `data` is the screening summary (see the module docstring of adapter.screening)."""
    trials = data.get("trials") or []
    nav = "".join(
        f'<li><a href="#trial-{_e(t.get("nct_id"))}">{_e(t.get("nct_id"))}</a> {_e(t.get("title"))}</li>'
        for t in trials
    )
    csp = (
        f"default-src 'none'; script-src {_csp_hash(JS)}; style-src {_csp_hash(CSS)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>Trial pre-screening — {_e(data.get('as_of'))}</title>"
        f"<style>{CSS}</style></head><body>"
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header><h1>Trial pre-screening</h1>{_run_summary(data)}</header><main id="main">'
        f'<nav aria-label="Trials"><ol>{nav}</ol></nav>'
        f"{_errors(data.get('errors') or {})}{_skipped(data.get('skipped') or {})}"
        + "".join(_trial(i, t) for i, t in enumerate(trials))
        + f'</main><footer><p>{_e(FOOTER)}</p></footer>'
        '<dialog id="checklist" aria-labelledby="checklist-h"><div class="dlg-head"><h2 id="checklist-h"></h2>'
        '<button type="button" class="close" aria-label="Close checklist">Close</button></div>'
        '<div class="dlg-body"></div></dialog>'
        f'<script type="application/json" id="report-data">{embed_json(_for_people(data))}</script>'
        f"<script>{JS}</script></body></html>\n"
    )
