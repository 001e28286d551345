"""Where a medication course (MedicationRequest, MedicationStatement) falls against a time window.

"active" alone is not "taking now". A course is placed by its dated evidence of use (``ClinicalFact.evidence``:
its own dates, the dispenses and administrations of its drug):

- evidence inside a window → in, the reason naming that date and what it is ("administered", "ordered", ...);
- begun before a window and with an end date → in when the end reaches the window (a period says so);
- begun before, no end date, finished (completed, stopped, ...) → open: it may have run into the window;
- begun before, still active/on-hold, evidence after the window's end → in ("across"): used before and after it,
  the reason saying so (not that a use was recorded in the window);
- begun before, still active/on-hold, newest evidence before the window → stale: unknown, "confirm still taking".

Evidence dated after the evaluation date is not seen (only a prescription's validity end may lie ahead).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from adapter.eligibility.facts.clinical import VALID_UNTIL
from adapter.eligibility.facts.courses import COURSE_TYPES
from adapter.eligibility.facts.model import CourseEvidence

if TYPE_CHECKING:
    from adapter.eligibility.facts import ClinicalFact

# Medication statuses that say the patient is still on it (FHIR R4/R5 MedicationStatement and MedicationRequest).
ONGOING_MEDICATION = frozenset({"active", "on-hold"})
Spans = list[tuple[datetime, datetime, str]]
Place = Literal["in", "out", "undated", "open", "stale", "across"]
Placed = tuple[Place, CourseEvidence | None]  # where, and the evidence that says so (in) or the newest (stale)


def is_course(fact: ClinicalFact) -> bool:
    return fact.resource_type in COURSE_TYPES


def place_course(fact: ClinicalFact, spans: Spans, now: datetime) -> Placed:
    """Where a medication course falls against the windows (see the module docstring)."""
    seen = [e for e in fact.evidence if e.date <= now or e.label == VALID_UNTIL]  # newest first
    inside = next((e for e in seen if any(start <= e.date <= end for start, end, _ in spans)), None)
    if inside is not None:
        return "in", inside
    if fact.date is None:
        return "undated", None
    before = [(start, end) for start, end, _ in spans if fact.date < start]
    if not before:
        return "out", None
    if fact.end is not None:
        return ("in" if any(fact.end >= start for start, _ in before) else "out"), None
    if fact.status not in ONGOING_MEDICATION:
        return "open", None  # finished, no end date: a start date alone must not hide a recent dose
    after = next((e for e in seen if any(e.date > end for _, end in before)), None)
    if after is not None:
        return "across", after  # in use before the window and after it, still active: through it
    return "stale", seen[0] if seen else CourseEvidence(fact.date, "started")


def when(evidence: CourseEvidence) -> str:
    """A date of use as a reason shows it: "recorded 2026-10-27 (administered: MedicationAdministration/a)"."""
    day = evidence.date.date().isoformat()
    if evidence.label == VALID_UNTIL:
        return f"{VALID_UNTIL} {day}"
    source = f"{evidence.label}: {evidence.reference}" if evidence.reference else evidence.label
    return f"recorded {day} ({source})"


def across(fact: ClinicalFact, evidence: CourseEvidence) -> str:
    """An active course counted because it began before the window and shows use (or validity) after it."""
    start = fact.date.date().isoformat() if fact.date else "?"
    return f"{fact.status} since {start} and {when(evidence)}, after the window: the course spans it"


def stale_reason(fact: ClinicalFact, shown: str, evidence: CourseEvidence, where: str) -> str:
    """Why an active course that shows no use in the window is unknown, citing its newest evidence."""
    source = f"{evidence.label}: {evidence.reference}" if evidence.reference else evidence.label
    return (
        f"{fact.reference} '{shown}' is {fact.status} but its newest evidence is "
        f"{evidence.date.date().isoformat()} ({source}), before the window ({where.strip()}) — confirm still taking"
    )


def stale_missing(fact: ClinicalFact, shown: str, where: str) -> str:
    """What would settle a stale course."""
    return (
        f"whether {shown} ({fact.reference}) was still taken{where}: a dispense or administration in that time, "
        "or the date the course ended"
    )
