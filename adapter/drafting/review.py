"""What a reviewer reads before removing `draft: true`: for each criterion, the record's words, each reading the
mapping makes of them with the span of text behind it, and why a person must check it (`needs_review`).

Written from the mapping itself (each definition's own `text` / `note`, the criterion's text and `needs_review`),
so it explains whatever the drafter wrote; at draft time the drafter's recognised thresholds add the span each
number was read from (`draft --explain`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.drafting.quantities import fold
from adapter.mapping.model import RECORD_ENTRY_KINDS, Criterion, Definition, TrialMapping

if TYPE_CHECKING:
    from adapter.drafting.draft import Draft
    from adapter.drafting.recognize import Threshold
    from adapter.mapping.concepts import ConceptLibrary

SPAN_LIMIT = 120  # characters of a span shown; the record's whole text is shown once per criterion
# Where a clause of a criterion ends: a semicolon, a comma not inside a number (100,000), a sentence's end.
_CLAUSE_END = re.compile(r";|,(?!\d{3})|\.(?=\s)")
_SENTENCE_END = re.compile(r";|\.(?=\s)")  # a condition on a bound ("if there is liver metastasis, ALT < 5 ULN")
ENTRY_TABLES = {"condition": "conditions", "procedure": "procedures", "medication": "medications",
                "allergy": "allergies"}  # the concept library's table of each record-entry kind
Spans = Callable[[Criterion, Definition], str | None]  # a leaf's span, quoted, or None


def _number(value: Decimal | int | None) -> str:
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _field(node: Definition, name: str) -> Any:
    """A field of the node's kind, None where its kind has none (each kind is its own model)."""
    return getattr(node, name, None)


def reading(node: Definition) -> str:
    """One leaf as the engine will read it: "observation hemoglobin >= 90 g/L", "condition hiv absent"."""
    kind = node.kind
    if kind == "manual":
        return f"manual (a person decides): {_field(node, 'manual')}"
    if kind == "age":
        age = _field(node, "age")
        return f"age {_number(age.low) or '…'}–{_number(age.high) or '…'} years"
    words = [kind, str(_field(node, kind))]
    bound, times_uln, value = _field(node, "range"), _field(node, "times_uln"), _field(node, "value")
    if bound is not None:
        words.append(f"in {_number(bound.low) or '…'}–{_number(bound.high) or '…'} {bound.unit}")
    elif times_uln is not None:
        words.append(f"{_field(node, 'comparator')} {_number(times_uln)} × ULN")
    elif value is not None:
        words.append(f"{_field(node, 'comparator')} {_number(value)} {_field(node, 'unit')}")
    if _field(node, "history"):
        words.append("(history counts)")
    if _field(node, "within_days") is not None:
        before = _field(node, "before")
        words.append(f"within {_field(node, 'within_days')} days" + (f" before {', '.join(before)}" if before else ""))
    if _field(node, "absent"):
        words.append("absent")
    return " ".join(words)


def explain_criterion(criterion: Criterion, spans: Spans | None = None) -> list[str]:
    """The criterion's block: its id and type, the record's words, its readings as a tree, needs_review."""
    text = " ".join(criterion.text.split())
    lines = [f"{criterion.id} ({criterion.type})", f"  record: {text}"]
    lines += _node_lines(criterion, criterion, spans, "  ")
    if criterion.needs_review:
        lines.append(f"  NEEDS REVIEW: {criterion.needs_review}")
    return lines


def _node_lines(criterion: Criterion, node: Definition, spans: Spans | None, indent: str) -> list[str]:
    if node.kind in ("all_of", "any_of"):
        children: list[Definition] = _field(node, node.kind)
        lines = [f"{indent}{node.kind.replace('_', ' ')}:"]
        for child in children:
            lines += _node_lines(criterion, child, spans, indent + "  ")
        return lines
    shown = reading(node)
    record_text = " ".join(criterion.text.split())
    if node.kind == "manual" and shown.endswith(f": {record_text}"):  # "not recognized: <the whole text>"
        shown = shown.removesuffix(f": {record_text}")
    lines = [f"{indent}- {shown}"]
    if node.kind != "manual":
        own = node.text if node is not criterion else None  # a criterion's own text is the whole record text
        span = _quoted(own) if own else spans(criterion, node) if spans else None
        lines.append(f"{indent}    from: {span or '(no span recorded: compare with the record above)'}")
    if node.note:
        lines.append(f"{indent}    note: {node.note}")
    for label, items in (("cites", _field(node, "evidence")), ("shows", _field(node, "context"))):
        for item in items or ():
            lines.append(f"{indent}    {label}: {reading(item)}")
            span = _quoted(item.text) if item.text else spans(criterion, item) if spans else None
            lines += [f"{indent}      from: {span}"] if span else []
    return lines


def explain_mapping(mapping: TrialMapping, spans: Spans | None = None,
                    only: Iterable[str] | None = None) -> str:
    """Every criterion of `mapping` (or those with ids in `only`), one block each, led by a line on the trial."""
    manual = sum(1 for c in mapping.criteria if c.kind == "manual")
    flagged = sum(1 for c in mapping.criteria if c.needs_review)
    state = "DRAFT mapping, not clinically reviewed" if mapping.draft else "reviewed mapping"
    lines = [f"{mapping.trial}  {state}: {len(mapping.criteria)} criteria, {len(mapping.criteria) - manual} "
             f"computable ({flagged} with needs_review), {manual} manual"]
    wanted = set(only) if only is not None else None
    for criterion in mapping.criteria:
        if wanted is None or criterion.id in wanted:
            lines += ["", *explain_criterion(criterion, spans)]
    return "\n".join(lines) + "\n"


def explain_draft(draft: Draft, mapping: TrialMapping, concepts: ConceptLibrary | None = None) -> str:
    """`draft --explain`: the mapping explained with the span of the record each recognised number came from, and
    for a record entry (condition, drug, …) the first of its concept's names in the criterion (`concepts`)."""
    found = {c.data["id"]: (fold(c.item.text), c.recognition.thresholds) for c in draft.criteria}

    def spans(criterion: Criterion, leaf: Definition) -> str | None:
        text, thresholds = found.get(criterion.id, ("", []))
        threshold = next((t for t in thresholds if _behind(t, leaf)), None)
        if threshold is None:
            return _named(text, leaf, concepts) if concepts is not None else None
        q = threshold.quantity
        if leaf.kind == "condition":  # the condition that allows or lifts the bound, in the bound's sentence
            return _quoted(_clause(text, q.start, q.end, _SENTENCE_END))
        return f"{_quoted(_clause(text, q.start, q.end))} (the number: {_quoted(text[q.start:q.end])})"

    return explain_mapping(mapping, spans)


def _behind(threshold: Threshold, leaf: Definition) -> bool:
    """Whether the recognised `threshold` is what `leaf` was written from."""
    q = threshold.quantity
    if leaf.kind == "age":
        return threshold.kind == "age"
    if leaf.kind == "sex":
        return threshold.sex == _field(leaf, "sex")
    if leaf.kind == "condition":
        return _field(leaf, "condition") in (threshold.when, threshold.exempt)
    if leaf.kind not in ("observation", "derived") or _field(leaf, leaf.kind) not in (threshold.concept,
                                                                                       *threshold.alternatives):
        return False
    bound = _field(leaf, "range")
    if bound is not None:
        return q.comparator is None and (q.low, q.high) == (bound.low, bound.high)
    times_uln = _field(leaf, "times_uln")
    return q.comparator == _field(leaf, "comparator") and q.value == (
        times_uln if times_uln is not None else _field(leaf, "value"))


def _named(text: str, leaf: Definition, concepts: ConceptLibrary) -> str | None:
    """The clause where a record entry's concept is named in `text` (its display, text or synonyms), or None."""
    if leaf.kind not in RECORD_ENTRY_KINDS:
        return None
    concept = getattr(concepts, ENTRY_TABLES[leaf.kind]).get(str(_field(leaf, leaf.kind)))
    if concept is None:
        return None
    names = sorted({n for n in (concept.display, *concept.text, *concept.synonyms) if n.strip()}, key=len, reverse=True)
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in names), re.IGNORECASE) if names else None
    match = pattern.search(text) if pattern else None
    if match is None:
        return None
    return f"{_quoted(_clause(text, match.start(), match.end()))} (the words: {_quoted(match.group())})"


def _clause(text: str, start: int, end: int, ends: re.Pattern[str] = _CLAUSE_END) -> str:
    """The clause of `text` around text[start:end]: from the previous clause end to the next."""
    before = [m.end() for m in ends.finditer(text, 0, start)]
    after = ends.search(text, end)
    return text[before[-1] if before else 0:after.start() if after else len(text)].strip(" ,;:")


def _quoted(text: str) -> str:
    """A span on one line, in quotes, at most SPAN_LIMIT characters."""
    text = " ".join(text.split())
    return f'"{text if len(text) <= SPAN_LIMIT else text[: SPAN_LIMIT - 1] + "…"}"'
