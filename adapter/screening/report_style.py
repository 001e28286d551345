"""The screening page's inline stylesheet, as a constant: the page must work from file:// with no network, so
nothing is linked. The CSP in report_html pins it by hash, so edit it here only."""

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
.cand td.tests{font-size:.85rem;color:var(--muted)}.cand td.nowrap{white-space:nowrap}
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
.badge.deceased{color:#fff;background:#3b4048;border-color:#3b4048;margin-left:.3rem}
tr.deceased td{color:var(--muted)}
.draft-note{background:var(--warn-bg);border-left:4px dashed var(--warn);padding:.4rem .7rem}
.excluded-note{color:var(--bad);font-weight:600}
.identity{font-weight:600;margin:.6rem 0 .2rem}
.funnel-box{margin:.6rem 0 1rem}.funnel{max-width:100%;height:auto;display:block}
.attrition-table summary{cursor:pointer;color:var(--accent);font-size:.88rem;margin:.3rem 0}
tr.pick{cursor:pointer}tr.pick:hover{background:#eef4fb}
.chip{margin:0;padding:.25rem .3rem .25rem .7rem;border:1px solid var(--accent);border-radius:99px;
color:var(--accent);font-size:.85rem;font-weight:600}
.chip .clear,.export{padding:.25rem .7rem;border:1px solid #9aa5b1;background:var(--soft);border-radius:4px;
cursor:pointer;font-size:.85rem}
.chip .clear{border-radius:99px}
.export:disabled{opacity:.5;cursor:default}
.chip .clear:focus-visible,.export:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
footer{margin:2rem auto;padding-top:1rem;border-top:1px solid var(--line);color:var(--muted);font-size:.9rem}
@media print{
 body{font-size:11pt}nav,.controls,.more,.skip,.close,.attrition-table{display:none!important}
 section{border:none;padding:0;break-inside:auto}.trial{break-before:page}.tops,.counts{break-inside:avoid}
 .scroll{max-height:none;overflow:visible;border:none}.cand thead th{position:static}
 .linkish{color:inherit;text-decoration:none}.cand th .ind{display:none}
 .verdict,.badge,.result,thead th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""
