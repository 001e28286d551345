"""The screening page's inline stylesheet and script, as constants: the page must work from file:// with no
network, so nothing is linked. The CSP in report_html pins both by hash, so edit them here only."""

CSS = """
:root{--fg:#1d232b;--muted:#5b6672;--line:#d5dbe1;--bg:#fff;--soft:#f4f6f8;--accent:#1f5fa8;
--ok:#17663a;--ok-bg:#e3f4ea;--bad:#a3231b;--bad-bg:#fbe6e4;--warn:#7a5300;--warn-bg:#fdf1d6;--man:#4b3d8f;
--man-bg:#ece9f8}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 1.25rem}
header{padding-top:1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.6rem;margin:.3rem 0 .6rem}
h2{font-size:1.3rem;margin:0 0 .3rem}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
h4{font-size:.95rem;margin:.2rem 0 .4rem}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.muted{color:var(--muted);font-weight:normal}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.3rem .6rem;z-index:10}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
dl{margin:0}dd{margin:0}
.run{display:flex;flex-wrap:wrap;gap:.4rem 2rem;padding-bottom:1rem}
.run dt{font-size:.8rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.run dd{font-weight:600;word-break:break-all}
nav ol{margin:1rem 0;padding-left:1.4rem;color:var(--muted)}nav a{color:var(--accent);font-weight:600}
section{margin:1.2rem 0;padding:1rem 1.2rem;border:1px solid var(--line);border-radius:8px}
.errors{background:var(--soft)}
.nct{font-family:ui-monospace,Menlo,Consolas,monospace}.title{margin:.1rem 0 .8rem;font-size:1.05rem}
.badge{display:inline-block;font:600 .72rem/1 system-ui,sans-serif;text-transform:uppercase;letter-spacing:.04em;
padding:.3rem .5rem;border-radius:99px;vertical-align:middle;margin-left:.4rem;border:1px solid}
.badge.recruiting{color:var(--ok);background:var(--ok-bg)}.badge.closed{color:var(--muted);background:var(--soft)}
.badge.draft{color:var(--warn);background:var(--warn-bg);border-style:dashed}
.counts{display:flex;flex-wrap:wrap;gap:.8rem;margin:.4rem 0 1rem}
.count{border:1px solid var(--line);border-radius:6px;padding:.5rem .9rem;min-width:11rem}
.count dd{font-size:1.6rem;font-weight:700}
.verdict{display:inline-block;font-weight:600;font-size:.85rem;padding:.05rem .45rem;border-radius:4px;
border-left:4px solid}
.v-potentially-eligible{color:var(--ok);background:var(--ok-bg)}
.v-insufficient-data{color:var(--warn);background:var(--warn-bg);border-left-style:double}
.v-ineligible{color:var(--bad);background:var(--bad-bg);border-left-style:dotted}
.tops{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}
.ctype{font-size:.75rem;color:var(--muted);text-transform:uppercase}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .55rem;border-bottom:1px solid var(--line)}
thead th{background:var(--soft);font-size:.85rem}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.small{font-size:.88rem}
.truncated{background:var(--warn-bg);border-left:4px solid var(--warn);padding:.4rem .7rem}
.controls{display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;align-items:end;margin:.4rem 0 .6rem}
.controls label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
input,select,button{font:inherit}
input[type=search],select{padding:.3rem .45rem;border:1px solid #9aa5b1;border-radius:4px;min-width:14rem;
color:var(--fg)}
.status{margin:0;font-size:.85rem;color:var(--muted)}
.scroll{max-height:70vh;overflow:auto;border:1px solid var(--line);border-radius:6px}
.cand thead th{position:sticky;top:0;z-index:1;padding:0}
.cand th button{all:unset;box-sizing:border-box;display:block;width:100%;padding:.45rem .55rem;cursor:pointer}
.cand th.num button{text-align:right}
.cand th button:focus-visible,.linkish:focus-visible,.more:focus-visible,
.close:focus-visible{outline:3px solid var(--accent);outline-offset:-3px}
.cand th .ind{color:var(--accent)}
.cand tbody tr{cursor:pointer}.cand tbody tr:hover{background:#eef4fb}
.cand td.tests{font-size:.85rem;color:var(--muted)}
.linkish{all:unset;color:var(--accent);font-weight:600;text-decoration:underline;cursor:pointer;
font-family:ui-monospace,Menlo,monospace}
.more{margin:.6rem 0;padding:.35rem .8rem;border:1px solid var(--accent);color:var(--accent);background:#fff;
border-radius:4px;cursor:pointer}
dialog{width:min(960px,96vw);max-height:92vh;padding:0;border:1px solid var(--line);border-radius:8px;color:var(--fg)}
dialog::backdrop{background:rgba(20,28,38,.45)}
.dlg-head{position:sticky;top:0;background:#fff;display:flex;justify-content:space-between;align-items:center;
padding:.8rem 1.2rem;border-bottom:1px solid var(--line)}
.dlg-body{padding:.4rem 1.2rem 1.2rem}
.close{padding:.35rem .8rem;border:1px solid #9aa5b1;background:var(--soft);border-radius:4px;cursor:pointer}
ol.checklist{list-style:none;margin:0;padding:0}
.crit{border:1px solid var(--line);border-left:6px solid;border-radius:6px;padding:.55rem .8rem;margin:.5rem 0}
.crit p{margin:.2rem 0}.crit .ctext{font-weight:600}.crit .reason{color:#333}
.result{display:inline-block;font-weight:700;font-size:.8rem;padding:.1rem .45rem;border-radius:4px;
margin-right:.5rem;min-width:7.5rem}
.r-pass{border-left-color:var(--ok)}.r-pass .result{color:var(--ok);background:var(--ok-bg)}
.r-fail{border-left-color:var(--bad)}.r-fail .result{color:var(--bad);background:var(--bad-bg)}
.r-unknown{border-left-color:var(--warn);border-left-style:double}
.r-unknown .result{color:var(--warn);background:var(--warn-bg)}
.r-manual{border-left-color:var(--man);border-left-style:dashed}
.r-manual .result{color:var(--man);background:var(--man-bg)}
.evidence{margin:.35rem 0;font-size:.85rem}.evidence th{background:none;font-weight:600;color:var(--muted)}
.missing{font-size:.85rem;color:var(--warn)}
footer{margin:2rem auto;padding-top:1rem;border-top:1px solid var(--line);color:var(--muted);font-size:.9rem}
@media print{
 body{font-size:11pt}nav,.controls,.more,.skip,.close{display:none!important}
 section{border:none;padding:0;break-inside:auto}.trial{break-before:page}.tops,.counts{break-inside:avoid}
 .scroll{max-height:none;overflow:visible;border:none}.cand thead th{position:static}
 .linkish{color:inherit;text-decoration:none}.cand th .ind{display:none}
 .verdict,.badge,.result,thead th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""

JS = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 250; // rows added to the DOM at a time: thousands of candidates stay responsive
  const VERDICTS = {
    "potentially-eligible": "Potentially eligible",
    "insufficient-data": "Insufficient data",
    "ineligible": "Ineligible",
  };
  const RANK = {"potentially-eligible": 0, "insufficient-data": 1, "ineligible": 2};
  // Each result carries a mark and a word, so it never depends on colour alone.
  const RESULTS = {pass: "\u2713 Pass", fail: "\u2717 Fail", unknown: "? Unknown", manual: "\u270E Manual review"};
  const ORDER = {fail: 0, unknown: 1, pass: 2, manual: 3};
  const collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  const dialog = document.getElementById("checklist");
  let opener = null;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const summary = (c, k) => (c.summary && typeof c.summary[k] === "number" ? c.summary[k] : 0);
  const COLUMNS = [
    {key: "patient", label: "Patient", text: true, get: (c) => String(c.patient || "")},
    {key: "verdict", label: "Verdict", get: (c) => (c.verdict in RANK ? RANK[c.verdict] : 9)},
    {key: "pass", label: "Pass", num: true, get: (c) => summary(c, "pass")},
    {key: "fail", label: "Fail", num: true, get: (c) => summary(c, "fail")},
    {key: "unknown", label: "Unknown", num: true, get: (c) => summary(c, "unknown")},
    {key: "manual", label: "Manual", num: true, get: (c) => summary(c, "manual")},
    {key: "missing", label: "Tests that would settle", text: true, get: (c) => (c.missing || []).join("; ")},
  ];

  function verdictBadge(verdict) {
    return el("span", "verdict v-" + verdict, VERDICTS[verdict] || verdict);
  }

  function candidateTable(host, trial) {
    const rows = trial.candidates.map((c, i) => ({c, i, tr: null,
      search: (String(c.patient || "") + " " + (c.missing || []).join(" ")).toLowerCase()}));
    let sortCol = null, dir = 1, limit = PAGE, view = rows;
    const id = "t" + host.dataset.trial;

    const controls = el("div", "controls");
    const textLabel = el("label", null, "Filter by patient or test");
    const text = el("input");
    text.type = "search"; text.id = id + "-q"; text.placeholder = "e.g. Patient/p1 or hemoglobin";
    textLabel.appendChild(text);
    const verdictLabel = el("label", null, "Verdict");
    const select = el("select");
    select.id = id + "-verdict";
    select.appendChild(new Option("All verdicts", ""));
    const present = new Set(trial.candidates.map((c) => c.verdict));
    Object.keys(VERDICTS).filter((v) => present.has(v)).forEach((v) => select.appendChild(new Option(VERDICTS[v], v)));
    verdictLabel.appendChild(select);
    const status = el("p", "status");
    status.setAttribute("aria-live", "polite");
    controls.append(textLabel, verdictLabel, status);

    const table = el("table", "cand");
    table.createCaption().textContent =
      "Candidates for " + trial.nct_id + " (select a patient for the criterion checklist)";
    table.caption.className = "visually-hidden";
    const headRow = table.createTHead().insertRow();
    const heads = COLUMNS.map((col) => {
      const th = el("th", col.num ? "num" : null);
      th.scope = "col";
      th.setAttribute("aria-sort", "none");
      const button = el("button", null, col.label);
      button.type = "button";
      button.dataset.key = col.key;
      const ind = el("span", "ind");
      ind.setAttribute("aria-hidden", "true");
      button.appendChild(ind);
      button.addEventListener("click", () => sortBy(col));
      th.appendChild(button);
      headRow.appendChild(th);
      return {th, ind, col};
    });
    const tbody = table.createTBody();
    const more = el("button", "more");
    more.type = "button";
    more.addEventListener("click", () => { limit += PAGE; render(); });
    const scroll = el("div", "scroll");
    scroll.appendChild(table);
    host.append(controls, scroll, more);

    function buildRow(row) {
      const c = row.c, tr = document.createElement("tr");
      tr.dataset.index = row.i;
      const cell = tr.insertCell(), button = el("button", "linkish", c.patient);
      button.type = "button";
      button.setAttribute("aria-haspopup", "dialog");
      cell.appendChild(button);
      tr.insertCell().appendChild(verdictBadge(c.verdict));
      ["pass", "fail", "unknown", "manual"].forEach((k) => {
        const td = tr.insertCell();
        td.className = "num";
        td.textContent = summary(c, k);
      });
      const tests = tr.insertCell();
      tests.className = "tests";
      tests.textContent = (c.missing || []).join("; ");
      return tr;
    }
    function render() {
      const frag = document.createDocumentFragment();
      view.slice(0, limit).forEach((row) => frag.appendChild(row.tr || (row.tr = buildRow(row))));
      tbody.replaceChildren(frag);
      const shown = Math.min(limit, view.length);
      status.textContent = view.length === rows.length
        ? rows.length + " candidates" : view.length + " of " + rows.length + " candidates match";
      if (shown < view.length) status.textContent += " (showing " + shown + ")";
      more.hidden = shown >= view.length;
      more.textContent = "Show " + Math.min(PAGE, view.length - shown) + " more";
    }
    function apply() {
      const q = text.value.trim().toLowerCase(), v = select.value;
      view = rows.filter((r) => (!v || r.c.verdict === v) && (!q || r.search.includes(q)));
      if (sortCol) {
        const get = sortCol.get, textual = sortCol.text;
        view.sort((a, b) => {
          const x = get(a.c), y = get(b.c);
          const d = textual ? collator.compare(x, y) : x - y;
          return d * dir || a.i - b.i; // stable: ties keep the screening order
        });
      }
      limit = PAGE;
      render();
    }
    function sortBy(col) {
      dir = sortCol === col ? -dir : 1;
      sortCol = col;
      heads.forEach((h) => {
        const on = h.col === col;
        h.th.setAttribute("aria-sort", on ? (dir > 0 ? "ascending" : "descending") : "none");
        h.ind.textContent = on ? (dir > 0 ? " \u25B2" : " \u25BC") : "";
      });
      apply();
    }
    text.addEventListener("input", apply);
    select.addEventListener("change", apply);
    // One listener for every row: a click anywhere on a row, or Enter/Space on its patient button, opens it.
    tbody.addEventListener("click", (event) => {
      const tr = event.target.closest("tr");
      if (tr) openChecklist(trial, trial.candidates[Number(tr.dataset.index)], tr.querySelector("button"));
    });
    apply();
  }

  function evidenceTable(items) {
    const both = (v, u) => (v === undefined || v === null ? "" : String(v) + (u ? " " + u : ""));
    const cols = [
      ["Evidence", (e) => e.reference || "", true],
      ["Value", (e) => both(e.value, e.unit)],
      ["Date", (e) => e.date || ""],
      ["Normalized", (e) => (e.normalized ? both(e.normalized.value, e.normalized.unit) : "")],
      ["Note", (e) => e.note || ""],
    ].filter((col) => col[2] || items.some((e) => col[1](e) !== "")); // no empty columns
    const table = el("table", "evidence");
    const head = table.createTHead().insertRow();
    cols.forEach((col) => { const th = el("th", null, col[0]); th.scope = "col"; head.appendChild(th); });
    const body = table.createTBody();
    items.forEach((e) => {
      const tr = body.insertRow();
      cols.forEach((col, i) => {
        const cell = tr.insertCell();
        if (i === 0) cell.appendChild(el("code", null, col[1](e))); else cell.textContent = col[1](e);
      });
    });
    return table;
  }

  function criterionItem(trial, item) {
    const source = (trial.criteria || {})[item.id] || {};
    const li = el("li", "crit r-" + item.result);
    const head = el("p");
    head.append(el("span", "result", RESULTS[item.result] || item.result), el("code", null, item.id));
    li.append(head, el("p", "ctext", source.text || "(criterion text not in the report)"));
    if (item.reason) li.appendChild(el("p", "reason", item.reason));
    if (item.evidence && item.evidence.length) li.appendChild(evidenceTable(item.evidence));
    if (item.missing && item.missing.length) {
      li.appendChild(el("p", "missing", "Would be settled by: " + item.missing.join("; ")));
    }
    return li;
  }

  function openChecklist(trial, c, from) {
    opener = from;
    document.getElementById("checklist-h").textContent = c.patient + " \u2014 " + trial.nct_id;
    const body = dialog.querySelector(".dlg-body");
    const top = el("p");
    const counts = ["pass", "fail", "unknown", "manual"].map((k) => summary(c, k) + " " + k).join(", ");
    top.append(verdictBadge(c.verdict), document.createTextNode(" " + counts));
    const nodes = [top, el("p", "muted", trial.title)];
    if (c.missing && c.missing.length) {
      nodes.push(el("p", "missing", "Tests that would settle the unknowns: " + c.missing.join("; ")));
    }
    const groups = {};
    (c.criteria || []).forEach((item) => {
      const type = ((trial.criteria || {})[item.id] || {}).type || "other";
      (groups[type] = groups[type] || []).push(item);
    });
    ["inclusion", "exclusion", "other"].filter((t) => groups[t]).forEach((type) => {
      nodes.push(el("h3", null, type.charAt(0).toUpperCase() + type.slice(1) + " criteria"));
      const list = el("ol", "checklist");
      groups[type].sort((a, b) => (ORDER[a.result] ?? 9) - (ORDER[b.result] ?? 9))
        .forEach((item) => list.appendChild(criterionItem(trial, item)));
      nodes.push(list);
    });
    body.replaceChildren(...nodes);
    dialog.showModal();
    dialog.querySelector(".close").focus();
  }

  dialog.querySelector(".close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => { if (opener) opener.focus(); });
  document.querySelectorAll(".candidates[data-trial]")
    .forEach((host) => candidateTable(host, data.trials[Number(host.dataset.trial)]));
})();
"""
