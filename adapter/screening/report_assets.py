"""The screening page's inline script, as a constant: the page must work from file:// with no network, so
nothing is linked. The CSP in report_html pins it by hash, so edit it here only. (The stylesheet: report_style.)

Per trial: a sortable, filterable table of every patient in the report (candidates first, the ineligible after
them with the criteria that excluded them), a criterion filter set from the "most common" tables, a CSV
download of the filtered rows (a Blob: no network), and a checklist dialog per patient."""

JS = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 250; // rows added to the DOM at a time: thousands of patients stay responsive
  const VERDICTS = {
    "potentially-eligible": "Potentially eligible",
    "insufficient-data": "Insufficient data",
    "ineligible": "Ineligible",
  };
  const RANK = {"potentially-eligible": 0, "insufficient-data": 1, "ineligible": 2};
  // Each result carries a mark and a word, so it never depends on colour alone.
  const RESULTS = {pass: "\u2713 Pass", fail: "\u2717 Fail", unknown: "? Unknown", manual: "\u270E Manual review"};
  const ORDER = {fail: 0, unknown: 1, pass: 2, manual: 3};
  const KINDS = {failed: "Failing", unknown: "Unknown"};
  const FORMULA = /^[=+\-@\t\r]/; // a spreadsheet would run such a cell: a leading ' keeps it text
  const collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  const dialog = document.getElementById("checklist");
  const tables = {};
  let opener = null;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const summary = (c, k) => (c.summary && typeof c.summary[k] === "number" ? c.summary[k] : 0);
  const str = (v) => (v === undefined || v === null ? "" : String(v));
  const COLUMNS = [
    {key: "patient", label: "Patient", text: true, get: (c) => str(c.patient)},
    {key: "name", label: "Name", text: true, get: (c) => str(c.name)},
    {key: "mrn", label: "MRN", text: true, get: (c) => str(c.mrn)},
    {key: "age", label: "Age", num: true, get: (c) => (typeof c.age === "number" ? c.age : -1),
      show: (c) => str(c.age)},
    {key: "sex", label: "Sex", text: true, get: (c) => str(c.sex)},
    {key: "verdict", label: "Verdict", get: (c) => (c.verdict in RANK ? RANK[c.verdict] : 9),
      show: (c) => str(c.verdict)},
    {key: "pass", label: "Pass", num: true, get: (c) => summary(c, "pass")},
    {key: "fail", label: "Fail", num: true, get: (c) => summary(c, "fail")},
    {key: "unknown", label: "Unknown", num: true, get: (c) => summary(c, "unknown")},
    {key: "manual", label: "Manual", num: true, get: (c) => summary(c, "manual")},
    {key: "last_data", label: "Last data", text: true, get: (c) => str(c.last_data)},
    {key: "missing", label: "Tests that would settle", text: true, get: (c) => (c.missing || []).join("; ")},
  ];

  function verdictBadge(verdict) {
    return el("span", "verdict v-" + verdict, VERDICTS[verdict] || verdict);
  }
  function deceasedBadge() {
    return el("span", "badge deceased", "Deceased");
  }

  function csvCell(value) {
    let text = str(value);
    if (FORMULA.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function download(name, text) {
    const url = URL.createObjectURL(new Blob(["\uFEFF" + text], {type: "text/csv;charset=utf-8"}));
    const link = el("a");
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function candidateTable(host, trial) {
    const rows = trial.candidates.map((c, i) => ({c, i, tr: null,
      search: [c.patient, c.name, c.mrn].concat(c.missing || []).map(str).join(" ").toLowerCase()}));
    let sortCol = null, dir = 1, limit = PAGE, view = rows, crit = null;
    const id = "t" + host.dataset.trial;

    const controls = el("div", "controls");
    const textLabel = el("label", null, "Filter by patient, name, MRN or test");
    const text = el("input");
    text.type = "search"; text.id = id + "-q"; text.placeholder = "e.g. Patient/p1, a name or hemoglobin";
    textLabel.appendChild(text);
    const verdictLabel = el("label", null, "Verdict");
    const select = el("select");
    select.id = id + "-verdict";
    select.appendChild(new Option("All verdicts", ""));
    const present = new Set(trial.candidates.map((c) => c.verdict));
    Object.keys(VERDICTS).filter((v) => present.has(v)).forEach((v) => select.appendChild(new Option(VERDICTS[v], v)));
    verdictLabel.appendChild(select);
    const chip = el("p", "chip");
    chip.hidden = true;
    const chipText = el("span");
    const clear = el("button", "clear", "Clear");
    clear.type = "button";
    clear.setAttribute("aria-label", "Clear the criterion filter");
    chip.append(chipText, clear);
    const exportButton = el("button", "export", "Download CSV of these rows");
    exportButton.type = "button";
    const status = el("p", "status");
    status.setAttribute("aria-live", "polite");
    controls.append(textLabel, verdictLabel, chip, exportButton, status);

    const table = el("table", "cand");
    table.createCaption().textContent =
      "Patients screened for " + trial.nct_id + " (select a patient for the criterion checklist)";
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
      if (c.deceased) tr.className = "deceased";
      const cell = tr.insertCell(), button = el("button", "linkish", c.patient);
      cell.className = "nowrap";
      button.type = "button";
      button.setAttribute("aria-haspopup", "dialog");
      cell.appendChild(button);
      const name = tr.insertCell();
      name.textContent = str(c.name);
      if (c.deceased) name.append(" ", deceasedBadge());
      const mrn = tr.insertCell();
      mrn.className = "nowrap";
      mrn.textContent = str(c.mrn);
      const age = tr.insertCell();
      age.className = "num";
      age.textContent = str(c.age);
      tr.insertCell().textContent = str(c.sex);
      tr.insertCell().appendChild(verdictBadge(c.verdict));
      ["pass", "fail", "unknown", "manual"].forEach((k) => {
        const td = tr.insertCell();
        td.className = "num";
        td.textContent = summary(c, k);
      });
      const last = tr.insertCell();
      last.className = "nowrap";
      last.textContent = str(c.last_data);
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
        ? rows.length + " patients" : view.length + " of " + rows.length + " patients match";
      if (shown < view.length) status.textContent += " (showing " + shown + ")";
      more.hidden = shown >= view.length;
      more.textContent = "Show " + Math.min(PAGE, view.length - shown) + " more";
      exportButton.disabled = view.length === 0;
    }
    function apply() {
      const q = text.value.trim().toLowerCase(), v = select.value;
      view = rows.filter((r) => (!v || r.c.verdict === v) && (!q || r.search.includes(q)) &&
        (!crit || (r.c[crit.kind] || []).includes(crit.id)));
      if (sortCol) {
        const get = sortCol.get, textual = sortCol.text;
        view.sort((a, b) => {
          const x = get(a.c), y = get(b.c);
          const d = textual ? collator.compare(x, y) : x - y;
          return d * dir || a.i - b.i; // stable: ties keep the worklist order
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
    function setCriterion(kind, criterion) {
      crit = kind ? {kind, id: criterion} : null;
      chip.hidden = !crit;
      chipText.textContent = crit ? (KINDS[kind] || kind) + ": " + criterion + " " : "";
      if (crit) select.value = "";
      apply();
    }
    function exportCsv() {
      const head = ["trial"].concat(COLUMNS.map((col) => col.key), ["failed_criteria", "unknown_criteria"]);
      const lines = [head.join(",")].concat(view.map((r) => [trial.nct_id].concat(
        COLUMNS.map((col) => (col.show || col.get)(r.c)),
        [(r.c.failed || []).join(";"), (r.c.unknown || []).join(";")]).map(csvCell).join(",")));
      const suffix = crit ? "-" + crit.kind + "-" + crit.id : (view.length === rows.length ? "" : "-filtered");
      const name = "patients-" + trial.nct_id + suffix.replace(/[^A-Za-z0-9.-]/g, "_") + ".csv";
      download(name, lines.join("\r\n") + "\r\n");
    }
    text.addEventListener("input", apply);
    select.addEventListener("change", apply);
    clear.addEventListener("click", () => { setCriterion(null); text.focus(); });
    exportButton.addEventListener("click", exportCsv);
    // One listener for every row: a click anywhere on a row, or Enter/Space on its patient button, opens it.
    tbody.addEventListener("click", (event) => {
      const tr = event.target.closest("tr");
      if (tr) openChecklist(trial, trial.candidates[Number(tr.dataset.index)], tr.querySelector("button"));
    });
    apply();
    return {filter(kind, criterion) { setCriterion(kind, criterion); host.scrollIntoView(); clear.focus(); }};
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

  function identityLine(c) {
    const who = el("p", "identity");
    const parts = [
      c.name ? c.name : "(no name on record)",
      c.mrn ? "MRN " + c.mrn + (c.mrn_system ? " (" + c.mrn_system + ")" : "") : "no MRN",
      c.birth_date ? "born " + c.birth_date + (typeof c.age === "number" ? " (age " + c.age + ")" : "") : "",
      c.sex ? "sex " + c.sex : "",
      c.last_data ? "newest data used " + c.last_data : "",
    ].filter(Boolean);
    who.textContent = parts.join(" \u00B7 ");
    if (c.deceased) who.prepend(deceasedBadge(), " ");
    return who;
  }

  function openChecklist(trial, c, from) {
    opener = from;
    document.getElementById("checklist-h").textContent = c.patient + " \u2014 " + trial.nct_id;
    const body = dialog.querySelector(".dlg-body");
    const top = el("p");
    const counts = ["pass", "fail", "unknown", "manual"].map((k) => summary(c, k) + " " + k).join(", ");
    top.append(verdictBadge(c.verdict), document.createTextNode(" " + counts));
    const nodes = [identityLine(c), top, el("p", "muted", trial.title)];
    if (trial.draft) {
      nodes.push(el("p", "draft-note", "Draft mapping: no clinician has reviewed how these criteria are read."));
    }
    if (c.verdict === "ineligible") {
      nodes.push(el("p", "excluded-note", "Ineligible: only the criteria that excluded this patient are listed."));
    }
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
  document.querySelectorAll(".candidates[data-trial]").forEach((host) => {
    tables[host.dataset.trial] = candidateTable(host, data.trials[Number(host.dataset.trial)]);
  });
  // A "most common failing / unknown" row filters its trial's table to the patients it names.
  document.querySelectorAll("tr.pick[data-trial]").forEach((tr) => {
    const table = tables[tr.dataset.trial];
    if (!table) { tr.classList.remove("pick"); return; }
    tr.addEventListener("click", () => table.filter(tr.dataset.kind, tr.dataset.criterion));
  });
})();
"""
