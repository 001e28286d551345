"""Conditions, medications, procedures and allergies: present or not, within a time window if asked.

No entry on record means not present (the problem list and medication history are the record of truth).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapter.eligibility.outcome import Evidence, Outcome
from adapter.eligibility.rules.context import RuleContext, days, type_tokens
from adapter.vocabulary import RECORD_KIND_BY_TYPE_TOKEN, RecordKind, coding_tokens

if TYPE_CHECKING:
    from adapter.eligibility.facts import ClinicalFact

NOT_CURRENT_CONDITION = {"inactive", "resolved", "remission"}
UNCONFIRMED_CONDITION = {"unconfirmed", "provisional", "differential"}
# Time spans for each anchor: (start, end, how the reason names the anchor).
Spans = list[tuple[datetime, datetime, str]]


def name_pattern(text: str) -> re.Pattern[str]:
    """Each `;`-separated term of a concept's text, as a whole word, case-insensitive."""
    terms = [t.strip() for t in text.split(";") if t.strip()]
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)


def record_kind(definition: Mapping[str, Any]) -> RecordKind | None:
    """The record kind the definition's type names (its first record-category coding)."""
    return next((RECORD_KIND_BY_TYPE_TOKEN[t] for t in type_tokens(definition) if t in RECORD_KIND_BY_TYPE_TOKEN), None)


def record_entry(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    """The item in `valueCodeableConcept` is on record (by code, or by name when the concept has no coding)."""
    kind = record_kind(definition)
    assert kind is not None  # the evaluator routes here only for a record category
    value = definition.get("valueCodeableConcept") or {}
    wanted = set(coding_tokens(value))
    label = value.get("text") or "item"
    display = label.split(";")[0] if wanted else label.replace(";", ",")
    pattern = None if wanted else name_pattern(label)
    entries: tuple[ClinicalFact, ...] = getattr(ctx.facts, kind.name)
    matched = [
        f
        for f in entries
        if (wanted and not f.codes.isdisjoint(wanted)) or (pattern is not None and f.text and pattern.search(f.text))
    ]
    current, ignored = _current(ctx, kind, matched)
    window, unknown = entry_window(ctx, windows)
    if unknown:
        return unknown
    where = ""
    if window:
        spans, where = window
        undated = [f for f in current if f.date is None]
        # Each anchor has its own window: an item counts when it falls inside any one of them.
        current = [f for f in current if f.date is not None and any(start <= f.date <= end for start, end, _ in spans)]
        if not current and undated:
            return Outcome(
                "unknown",
                f"{undated[0].reference} ({display}) has no date to place {where}",
                tuple(Evidence(reference=f.reference) for f in undated),
            )
    note = f" ({'; '.join(ignored)})" if ignored else ""
    if current:
        found = tuple(Evidence(reference=f.reference, value=f.text, date=f.date) for f in current)
        return Outcome("pass", f"{display} recorded{where}: {current[0].text or current[0].reference}{note}", found)
    return Outcome("fail", f"no {display} recorded{where}{note}")


def _current(ctx: RuleContext, kind: RecordKind, matched: list[ClinicalFact]) -> tuple[list[ClinicalFact], list[str]]:
    """The entries that count, and why each of the others does not."""
    ignored: list[str] = []
    current: list[ClinicalFact] = []
    conditions = kind.name == "conditions"
    for fact in matched:
        if not fact.usable:
            ignored.append(f"{fact.reference} ignored: {fact.unusable_reason}")
        elif fact.date and fact.date.date() > ctx.as_of:
            ignored.append(f"{fact.reference} is dated after the evaluation date")
        elif conditions and fact.status in NOT_CURRENT_CONDITION:
            ignored.append(f"{fact.reference} is {fact.status}")
        elif conditions and fact.verification_status in UNCONFIRMED_CONDITION:
            ignored.append(f"{fact.reference} is {fact.verification_status}, not confirmed")
        else:
            current.append(fact)
    return current, ignored


def entry_window(ctx: RuleContext, windows: list[Mapping[str, Any]]) -> tuple[tuple[Spans, str] | None, Outcome | None]:
    """The time window for a record entry: relative to other results (eventId) or the evaluation date."""
    spans: Spans = []
    undated: list[str] = []
    for window in windows:
        low = days((window.get("range") or {}).get("low"))
        high = days((window.get("range") or {}).get("high")) or Decimal(0)
        if low is None:
            continue
        anchor_id = window.get("eventId")
        if anchor_id:
            target = ctx.by_link.get(anchor_id)
            if target is None:
                return None, Outcome("manual", f"time window refers to unknown characteristic {anchor_id!r}")
            anchor = ctx.characteristic(target).anchor_date
            if anchor is None:
                undated.append(anchor_id)
                continue
            base, label = anchor, f"{anchor_id} ({anchor.date().isoformat()})"
        else:
            base, label = ctx.end_of_day, "the evaluation date"
        spans.append((base + timedelta(days=float(low)), base + timedelta(days=float(high)), label))
    if not spans:
        if undated:
            return None, Outcome(
                "unknown", f"no dated result for {', '.join(undated)} to place the window", (), tuple(undated)
            )
        return None, None
    span_days = int(abs(days((windows[0].get("range") or {}).get("low")) or Decimal(0)))
    return (spans, f" within {span_days} days before {', '.join(s[2] for s in spans)}"), None
