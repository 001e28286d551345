"""Conditions, medications, procedures and allergies: present or not, within a time window if asked.

No entry on record means not present (the problem list and medication history are the record of truth) — so
the rule is careful about what "no entry" is. An entry of the right kind counts as:

- **the item**: a coding in `valueCodeableConcept.coding` (the value set), or — for a concept that has no
  coding — a name of its text (each `;`-separated term, a whole word, case-insensitive; `abc*` is a prefix);
- **possibly the item** (`unknown`, the entry cited, "— confirm"): coded otherwise or not coded, but its text or
  a coding's display names the item (with codings, the text terms are the reviewed names of the item); a coding
  listed as a `partialCode` of the project extension `record-entry-reading` (it names the item without a detail
  the criterion needs: "histology not in the code"); a Condition or allergy that is unconfirmed, provisional or
  differential; an entry that cannot be placed in the time window;
- **not the item** otherwise. An entry coded only in code systems none of the EvidenceVariable's items of its
  kind uses, and not named, cannot be read at all: `unrecognized_entries` reports it in the evaluation notes.

Status: a Condition or allergy that is no longer active (inactive, resolved, remission) counts only when the
extension says `history` ("history of HIV"); then, within a window, it counts when it was present during the
window (its onset in it, or still active at its start, or abated after it began; no abatement date: unknown).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from adapter.eligibility.outcome import Evidence, Outcome
from adapter.eligibility.rules.context import RuleContext, days, type_tokens
from adapter.vocabulary import CANONICAL_BASE, RECORD_KIND_BY_TYPE_TOKEN, RecordKind, coding_tokens, split_token

if TYPE_CHECKING:
    from adapter.eligibility.facts import ClinicalFact, PatientFacts
    from adapter.eligibility.options import EngineOptions

# The project extension (defined in adapter.fhir_build.definitions, published with the trials).
RECORD_ENTRY_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/record-entry-reading"
NOT_CURRENT_CONDITION = {"inactive", "resolved", "remission"}
UNCONFIRMED_CONDITION = {"unconfirmed", "provisional", "differential"}
VERIFIED_KINDS = {"conditions", "allergies"}  # the kinds with clinicalStatus and verificationStatus
# Time spans for each anchor: (start, end, how the reason names the anchor).
Spans = list[tuple[datetime, datetime, str]]
Match = Literal["item", "partial", "possible"]


def name_pattern(text: str) -> re.Pattern[str] | None:
    """Each `;`-separated term of a concept's text, as a whole word, case-insensitive; `abc*` is a prefix."""
    terms = [t.strip() for t in text.split(";") if t.strip() and t.strip() != "*"]
    if not terms:
        return None
    alternatives = [re.escape(t[:-1]) + r"\w*" if t.endswith("*") else re.escape(t) for t in terms]
    return re.compile(r"\b(" + "|".join(alternatives) + r")\b", re.IGNORECASE)


def record_kind(definition: Mapping[str, Any]) -> RecordKind | None:
    """The record kind the definition's type names (its first record-category coding)."""
    return next((RECORD_KIND_BY_TYPE_TOKEN[t] for t in type_tokens(definition) if t in RECORD_KIND_BY_TYPE_TOKEN), None)


@dataclass(frozen=True)
class EntryQuery:
    """What a record-entry definition looks for, read from the EvidenceVariable alone."""

    kind: RecordKind
    wanted: frozenset[str]  # system|code of the value set
    partial: Mapping[str, str]  # system|code → what the code does not say
    pattern: re.Pattern[str] | None  # the names of the item
    history: bool
    display: str
    systems: frozenset[str] = field(default_factory=frozenset)  # code systems of the value set and partial codes

    @classmethod
    def of(cls, definition: Mapping[str, Any], kind: RecordKind) -> EntryQuery:
        value = definition.get("valueCodeableConcept") or {}
        wanted = frozenset(coding_tokens(value))
        text = value.get("text") or ""
        history, partial = _reading(definition.get("extension") or ())
        display = (text.split(";")[0].strip() if wanted else text.replace(";", ",")) or "item"
        systems = frozenset(split_token(t)[0] for t in (*wanted, *partial))
        return cls(kind, wanted, partial, name_pattern(text), history, display, systems)

    def match(self, fact: ClinicalFact) -> tuple[Match, str | None] | None:
        """How the entry matches: the item, a partial code (and that code), a possible match by name; or None."""
        if not fact.codes.isdisjoint(self.wanted):
            return "item", None
        partial = next((c for c in sorted(fact.codes) if c in self.partial), None)
        if partial is not None:
            return "partial", partial
        if self.pattern is not None and any(self.pattern.search(n) for n in _names(fact)):
            return ("possible" if self.wanted else "item"), None
        return None


def _reading(extensions: Iterable[Any]) -> tuple[bool, dict[str, str]]:
    """(history, partial codes) from the record-entry-reading extension(s)."""
    history = False
    partial: dict[str, str] = {}
    for ext in extensions:
        if not isinstance(ext, dict) or ext.get("url") != RECORD_ENTRY_EXTENSION:
            continue
        for part in ext.get("extension") or ():
            if part.get("url") == "history":
                history = history or part.get("valueBoolean") is True
            elif part.get("url") == "partialCode":
                sub = {p.get("url"): p for p in part.get("extension") or ()}
                coding = (sub.get("coding") or {}).get("valueCoding") or {}
                if coding.get("code"):
                    tokens = coding_tokens({"coding": [coding]})
                    partial[tokens[0]] = (sub.get("missing") or {}).get("valueString") or "a detail is missing"
    return history, partial


def _names(fact: ClinicalFact) -> tuple[str, ...]:
    """The names an entry goes by (strings only: junk input is no name)."""
    return tuple(n for n in (fact.names or (fact.text,)) if isinstance(n, str) and n)


def _shown(fact: ClinicalFact) -> str:
    return fact.text or (fact.names[0] if fact.names else fact.reference)


@dataclass
class _Found:
    """The entries that count, sorted by how sure they are."""

    certain: list[ClinicalFact] = field(default_factory=list)
    doubts: list[tuple[ClinicalFact, str]] = field(default_factory=list)  # (entry, why it may be the item)
    ignored: list[str] = field(default_factory=list)


def record_entry(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    """The item in `valueCodeableConcept` is on record (see the module docstring for what counts)."""
    kind = record_kind(definition)
    assert kind is not None  # the evaluator routes here only for a record category
    query = ctx.options.memo.get(definition, "entry-query", lambda: EntryQuery.of(definition, kind))
    window, unknown = entry_window(ctx, windows)
    if unknown:
        return unknown
    spans, where = window if window else (None, "")
    found = _Found()
    for fact in getattr(ctx.facts, kind.name):
        _classify(ctx, query, fact, spans, where, found)
    note = f" ({'; '.join(found.ignored)})" if found.ignored else ""
    if found.certain:
        first = found.certain[0]
        evidence = tuple(Evidence(reference=f.reference, value=f.text, date=f.date) for f in found.certain)
        return Outcome("pass", f"{query.display} recorded{where}: {first.text or first.reference}{note}", evidence)
    if found.doubts:
        evidence = tuple(Evidence(reference=f.reference, value=f.text, date=f.date) for f, _ in found.doubts)
        reason = "; ".join(why for _, why in found.doubts)
        return Outcome("unknown", f"{reason}{note}", evidence, (f"confirmation of {query.display}{where}",))
    return Outcome("fail", f"no {query.display} recorded{where}{note}")


def _classify(
    ctx: RuleContext, query: EntryQuery, fact: ClinicalFact, spans: Spans | None, where: str, found: _Found
) -> None:
    """Put one entry where it belongs: the item, a doubt (with the reason), ignored (with the reason), or nowhere."""
    matched = query.match(fact)
    if matched is None:
        return
    how, partial_code = matched
    if not fact.usable:
        found.ignored.append(f"{fact.reference} ignored: {fact.unusable_reason}")
        return
    if fact.date and fact.date.date() > ctx.as_of:
        found.ignored.append(f"{fact.reference} is dated after the evaluation date")
        return
    verified = query.kind.name in VERIFIED_KINDS
    not_current = verified and fact.status in NOT_CURRENT_CONDITION
    if not_current and not query.history:
        found.ignored.append(f"{fact.reference} is {fact.status}")
        return
    placed = "in" if spans is None else _placed(fact, spans, not_current)
    if placed == "out":
        return
    shown = _shown(fact)
    if how == "partial":
        assert partial_code is not None
        code = split_token(partial_code)[1]
        label = shown if shown.startswith(code) else f"{code} {shown}"
        missing = query.partial[partial_code]
        confirm = "" if "confirm" in missing else f" — confirm {query.display}"
        found.doubts.append((fact, f"{fact.reference} '{label}': {missing}{confirm}"))
    elif how == "possible":
        found.doubts.append((fact, f"{fact.reference} '{shown}' (no recognized code) may be {query.display} — confirm"))
    elif verified and fact.verification_status in UNCONFIRMED_CONDITION:
        found.doubts.append(
            (fact, f"{fact.reference} '{shown}' is {fact.verification_status}, not confirmed — confirm {query.display}")
        )
    elif placed == "undated":
        found.doubts.append((fact, f"{fact.reference} ({query.display}) has no date to place{where}"))
    elif placed == "open":
        found.doubts.append(
            (fact, f"{fact.reference} '{shown}' is {fact.status} with no end date: it may have been present{where}")
        )
    else:
        found.certain.append(fact)


def _placed(fact: ClinicalFact, spans: Spans, not_current: bool) -> Literal["in", "out", "undated", "open"]:
    """Where the entry falls against the windows: in one, out of all, without a date, or possibly in (open)."""
    if fact.date is None:
        return "undated"
    if any(start <= fact.date <= end for start, end, _ in spans):
        return "in"
    if fact.resource_type != "Condition":
        return _placed_course(fact, spans)
    # A condition is present from its onset until it abates: it counts when that overlaps a window.
    before = [(start, end) for start, end, _ in spans if fact.date < start]
    if not before:
        return "out"
    if not not_current:
        return "in"  # still active: present throughout the window
    if fact.end is None:
        return "open"
    return "in" if any(fact.end >= start for start, _ in before) else "out"


# Medication statuses that say the patient is still on it (FHIR R4/R5 MedicationStatement and MedicationRequest).
ONGOING_MEDICATION = frozenset({"active", "on-hold"})
_COURSES = frozenset({"MedicationStatement", "MedicationRequest"})


def _placed_course(fact: ClinicalFact, spans: Spans) -> Literal["in", "out", "open"]:
    """A medication or procedure that began before a window: in it when it ran into the window. A course still
    active is in; one with an end date is in when the end reaches the window; a finished statement or request with
    no end date may have run into it (open) — a start date alone must not hide a recent dose."""
    before = [start for start, _, _ in spans if fact.date is not None and fact.date < start]
    if not before:
        return "out"
    if fact.end is not None:
        return "in" if any(fact.end >= start for start in before) else "out"
    if fact.resource_type not in _COURSES:
        return "out"  # an administration or a procedure without a period is the moment it happened
    return "in" if fact.status in ONGOING_MEDICATION else "open"


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


# ------------------------------------------------------------------------- entries no criterion can read


def _record_definitions(characteristics: Iterable[Mapping[str, Any]]) -> Iterable[tuple[dict[str, Any], RecordKind]]:
    """Every record-entry definitionByTypeAndValue of the characteristics (nested ones too), with its kind and
    the characteristic's extensions merged in."""
    for c in characteristics:
        definition = c.get("definitionByTypeAndValue")
        if definition:
            kind = record_kind(definition)
            if kind is not None:
                extensions = [*(definition.get("extension") or ()), *(c.get("extension") or ())]
                yield {**definition, "extension": extensions}, kind
        yield from _record_definitions((c.get("definitionByCombination") or {}).get("characteristic", []))


def _queries(variable: Mapping[str, Any]) -> dict[str, list[EntryQuery]]:
    queries: dict[str, list[EntryQuery]] = {}
    for definition, kind in _record_definitions(variable.get("characteristic", [])):
        queries.setdefault(kind.name, []).append(EntryQuery.of(definition, kind))
    return queries


def unrecognized_entries(variable: Mapping[str, Any], facts: PatientFacts,
                         options: EngineOptions | None = None) -> list[str]:
    """Entries of a kind the EvidenceVariable asks about, coded only in code systems none of its items of that
    kind uses and named by none of them: they cannot be read, so they are reported, never silently absent."""
    queries = (options.memo.get(variable, "entry-queries", lambda: _queries(variable)) if options is not None
               else _queries(variable))
    notes: list[str] = []
    for kind_name, kind_queries in queries.items():
        known = frozenset().union(*(q.systems for q in kind_queries))
        for fact in getattr(facts, kind_name):
            if not fact.usable or not fact.codes or any(q.match(fact) for q in kind_queries):
                continue
            systems = sorted({split_token(c)[0] for c in fact.codes})
            if known.isdisjoint(systems):
                shown = f" ('{fact.text}')" if fact.text else ""
                named = ", ".join(s or "(no code system)" for s in systems)
                notes.append(f"{fact.reference}{shown} coded only in {named}: not recognized")
    return notes
