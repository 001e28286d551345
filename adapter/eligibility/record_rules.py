"""Conditions, medications, procedures and allergies: present or not, within a time window if asked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from adapter.eligibility.base import RuleContext, days, tokens
from adapter.eligibility.facts import ClinicalFact
from adapter.eligibility.outcome import Evidence, Outcome

NOT_CURRENT_CONDITION = {"inactive", "resolved", "remission"}
UNCONFIRMED_CONDITION = {"unconfirmed", "provisional", "differential"}


def name_pattern(text: str) -> re.Pattern[str]:
    """Each `;`-separated term of a concept's text, as a whole word, case-insensitive."""
    terms = [t.strip() for t in text.split(";") if t.strip()]
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)


class RecordEntryRules(RuleContext):
    def _record_entry(self, kind: str, value: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
        wanted = set(tokens(value))
        label = value.get("text") or "item"
        display = label.split(";")[0] if wanted else label.replace(";", ",")
        pattern = None if wanted else name_pattern(label)
        facts: tuple[ClinicalFact, ...] = getattr(self.facts, kind)
        matched = [
            f
            for f in facts
            if (wanted and not f.codes.isdisjoint(wanted))
            or (pattern is not None and f.text and pattern.search(f.text))
        ]
        ignored: list[str] = []
        current: list[ClinicalFact] = []
        for fact in matched:
            if not fact.usable:
                ignored.append(f"{fact.reference} ignored: {fact.unusable_reason}")
            elif fact.date and fact.date.date() > self.as_of:
                ignored.append(f"{fact.reference} is dated after the evaluation date")
            elif kind == "conditions" and fact.status in NOT_CURRENT_CONDITION:
                ignored.append(f"{fact.reference} is {fact.status}")
            elif kind == "conditions" and fact.verification_status in UNCONFIRMED_CONDITION:
                ignored.append(f"{fact.reference} is {fact.verification_status}, not confirmed")
            else:
                current.append(fact)
        window, unknown = self._entry_window(windows)
        if unknown:
            return unknown
        if window:
            spans, where = window
            undated = [f for f in current if f.date is None]
            # Each anchor has its own window: an item counts when it falls inside any one of them.
            current = [
                f for f in current if f.date is not None and any(start <= f.date <= end for start, end, _ in spans)
            ]
            if not current and undated:
                return Outcome(
                    "unknown",
                    f"{undated[0].reference} ({display}) has no date to place {where}",
                    tuple(Evidence(reference=f.reference) for f in undated),
                )
        else:
            where = ""
        note = f" ({'; '.join(ignored)})" if ignored else ""
        if current:
            evidence = tuple(Evidence(reference=f.reference, value=f.text, date=f.date) for f in current)
            return Outcome(
                "pass", f"{display} recorded{where}: {current[0].text or current[0].reference}{note}", evidence
            )
        return Outcome("fail", f"no {display} recorded{where}{note}")

    def _entry_window(
        self, windows: list[Mapping[str, Any]]
    ) -> tuple[tuple[list[tuple[datetime, datetime, str]], str] | None, Outcome | None]:
        """The time window for a record entry: relative to other results (eventId) or the evaluation date."""
        spans: list[tuple[datetime, datetime, str]] = []
        undated: list[str] = []
        for window in windows:
            low = days((window.get("range") or {}).get("low"))
            high = days((window.get("range") or {}).get("high")) or Decimal(0)
            if low is None:
                continue
            anchor_id = window.get("eventId")
            if anchor_id:
                target = self.by_link.get(anchor_id)
                if target is None:
                    return None, Outcome("manual", f"time window refers to unknown characteristic {anchor_id!r}")
                anchor = self.characteristic(target).anchor_date
                if anchor is None:
                    undated.append(anchor_id)
                    continue
                base, label = anchor, f"{anchor_id} ({anchor.date().isoformat()})"
            else:
                base, label = self.end_of_day, "the evaluation date"
            spans.append((base + timedelta(days=float(low)), base + timedelta(days=float(high)), label))
        if not spans:
            if undated:
                return None, Outcome(
                    "unknown", f"no dated result for {', '.join(undated)} to place the window", (), tuple(undated)
                )
            return None, None
        span_days = int(abs(days((windows[0].get("range") or {}).get("low")) or 0))
        return (spans, f" within {span_days} days before {', '.join(s[2] for s in spans)}"), None
