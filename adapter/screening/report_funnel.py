"""A trial's attrition funnel for report.html: inline SVG drawn here (no script, no network, nothing the page's
CSP would have to allow: presentation attributes only), and the same numbers as a table beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

WIDTH = 760
LABEL = 250  # the criterion column
COUNTS = 150  # the numbers column
ROW = 22
BAR = WIDTH - LABEL - COUNTS - 10
KEPT, GONE, TRACK = "#2e7d4f", "#c0392b", "#eef1f4"


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def funnel_svg(index: int, screened: int, rows: Sequence[Mapping[str, Any]],
               criteria: Mapping[str, Mapping[str, Any]]) -> str:
    """The funnel: the patients screened, then per criterion (in the EvidenceVariable's order) who it excluded
    and who remains. Each bar has a <title> with the criterion's text for a pointer, the table for the rest."""
    scale = BAR / screened if screened else 0.0
    height = ROW * (len(rows) + 1) + 6
    parts = [
        f'<svg class="funnel" role="img" aria-labelledby="funnel-{index}-t" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg" font-size="12" '
        'font-family="system-ui, sans-serif">',
        f'<title id="funnel-{index}-t">Attrition: {screened:,} patients screened, '
        f'{rows[-1]["remaining"] if rows else screened:,} not excluded by any criterion</title>',
        _bar(0, "Screened", "", screened, 0, screened, scale, "all patients"),
    ]
    before = screened
    for n, row in enumerate(rows, start=1):
        source = criteria.get(str(row.get("id"))) or {}
        tooltip = f"{row.get('id')}: {source.get('text') or ''}"
        counts = f"{'−' if row['excluded'] else ''}{row['excluded']:,} → {row['remaining']:,}"
        if row.get("unknown"):
            counts += f" ({row['unknown']:,}?)"
        parts.append(_bar(n, f"{row.get('order')}. {row.get('id')}", counts, row["remaining"], row["excluded"],
                          before, scale, tooltip))
        before = row["remaining"]
    parts.append("</svg>")
    return "".join(parts)


def _bar(n: int, label: str, counts: str, kept: int, gone: int, before: int, scale: float, tooltip: str) -> str:
    y = n * ROW + 3
    kept_w, gone_w = kept * scale, gone * scale
    counts = counts or f"{before:,}"
    return (
        f'<g class="step"><title>{_e(tooltip)}</title>'
        f'<text x="0" y="{y + 14}" fill="#1d232b">{_e(_short(label))}</text>'
        f'<rect x="{LABEL}" y="{y + 3}" width="{BAR}" height="{ROW - 6}" fill="{TRACK}"/>'
        f'<rect x="{LABEL}" y="{y + 3}" width="{kept_w:.1f}" height="{ROW - 6}" fill="{KEPT}"/>'
        f'<rect x="{LABEL + kept_w:.1f}" y="{y + 3}" width="{gone_w:.1f}" height="{ROW - 6}" fill="{GONE}"/>'
        f'<text x="{WIDTH - COUNTS + 6}" y="{y + 14}" fill="#1d232b">{_e(counts)}</text></g>'
    )


def attrition_table(rows: Sequence[Mapping[str, Any]], criteria: Mapping[str, Mapping[str, Any]]) -> str:
    body = "".join(
        f"<tr><td class=num>{_e(r.get('order'))}</td><td><code>{_e(r.get('id'))}</code> "
        f"{_e((criteria.get(str(r.get('id'))) or {}).get('text'))}</td><td class=num>{r['excluded']:,}</td>"
        f"<td class=num>{r['unknown']:,}</td><td class=num>{r['remaining']:,}</td></tr>"
        for r in rows
    )
    return (
        '<details class="attrition-table"><summary>The funnel as a table</summary><table class="small">'
        "<thead><tr><th scope=col class=num>#</th><th scope=col>Criterion</th><th scope=col class=num>Excluded</th>"
        "<th scope=col class=num>Unknown</th><th scope=col class=num>Remaining</th></tr></thead>"
        f"<tbody>{body}</tbody></table></details>"
    )


def funnel(index: int, trial: Mapping[str, Any]) -> str:
    """The funnel section of a trial, or nothing for a report without attrition data."""
    rows = trial.get("attrition")
    if not rows:
        return ""
    criteria = trial.get("criteria") or {}
    screened = int(trial.get("screened") or 0)
    return (
        f'<div class="funnel-box"><h3 id="funnel-{index}-h">Attrition <span class="muted">(a patient counts at '
        "the first criterion, in the trial's order, that fails for them; ? = unknown among those remaining)"
        f"</span></h3>{funnel_svg(index, screened, rows, criteria)}{attrition_table(rows, criteria)}</div>"
    )
