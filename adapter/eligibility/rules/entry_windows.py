"""Where a record entry's time windows lie: relative to the evaluation date, or to the date of the result another
characteristic used (`timeFromEvent.eventId`). `StaticWindow` is the first kind read once, for a compiled plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from adapter.eligibility.outcome import Outcome
from adapter.eligibility.prose import span
from adapter.eligibility.rules.context import RuleContext, days, type_label
from adapter.eligibility.rules.courses import Spans

Placement = tuple[tuple[Spans, str] | None, Outcome | None]  # (the windows and where they are, or why not)


def entry_window(ctx: RuleContext, windows: list[Mapping[str, Any]]) -> tuple[tuple[Spans, str] | None, Outcome | None]:
    """The time window for a record entry: relative to other results (eventId) or the evaluation date."""
    spans: Spans = []
    undated: list[str] = []  # the anchors' names
    settle: list[str] = []  # what would give them a date
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
            anchored = ctx.characteristic(target)
            anchor = anchored.anchor_date
            name = anchor_name(target)
            if anchor is None:
                undated.append(name)
                settle += anchored.missing or (name,)
                continue
            base, label = anchor, f"the {name} result ({anchor.date().isoformat()})"
        else:
            base, label = ctx.end_of_day, "the evaluation date"
        spans.append((base + timedelta(days=float(low)), base + timedelta(days=float(high)), label))
    if not spans:
        if undated:
            names = ", ".join(undated[:-1]) + f" or {undated[-1]}" if len(undated) > 1 else undated[0]
            return None, Outcome("unknown", f"no dated {names} result to place the window", (), tuple(settle))
        return None, None
    span_days = int(abs(days((windows[0].get("range") or {}).get("low")) or Decimal(0)))
    return (spans, f" within {span(span_days)} before {', '.join(s[2] for s in spans)}"), None


def anchor_name(characteristic: Mapping[str, Any]) -> str:
    """How a reason names the result a window is placed by: its type's display ("Hemoglobin"), never its id."""
    definition = characteristic.get("definitionByTypeAndValue")
    if definition:
        return type_label(definition)
    children = (characteristic.get("definitionByCombination") or {}).get("characteristic", [])
    named = [anchor_name(c) for c in children if c.get("definitionByTypeAndValue") or c.get("definitionByCombination")]
    return " / ".join(dict.fromkeys(named)) or "anchoring"


@dataclass(frozen=True, slots=True)
class StaticWindow:
    """Windows placed by the evaluation date alone (no `eventId`), read once: their offsets from the evaluation
    date's last instant, and how a reason says where they are."""

    offsets: tuple[tuple[timedelta, timedelta], ...]
    where: str

    def placed(self, ctx: RuleContext) -> Placement:
        if not self.offsets:
            return None, None
        end = ctx.end_of_day
        return ([(end + low, end + high, "the evaluation date") for low, high in self.offsets], self.where), None

    @classmethod
    def of(cls, windows: list[Mapping[str, Any]]) -> StaticWindow | None:
        """The windows read as `entry_window` reads them; None when one is placed by another characteristic's
        result (or cannot be read: the evaluation then says so, as it would have)."""
        offsets: list[tuple[timedelta, timedelta]] = []
        try:
            for window in windows:
                low = days((window.get("range") or {}).get("low"))
                high = days((window.get("range") or {}).get("high")) or Decimal(0)
                if low is None:
                    continue
                if window.get("eventId"):
                    return None
                offsets.append((timedelta(days=float(low)), timedelta(days=float(high))))
            if not offsets:
                return cls((), "")
            span_days = int(abs(days((windows[0].get("range") or {}).get("low")) or Decimal(0)))
        except (AttributeError, TypeError, ValueError, KeyError, ArithmeticError):
            return None
        labels = ", ".join("the evaluation date" for _ in offsets)
        return cls(tuple(offsets), f" within {span(span_days)} before {labels}")
