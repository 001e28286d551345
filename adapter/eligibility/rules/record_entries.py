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
A medication order or statement is placed by its evidence of use, not its status (`rules.courses`): an active
one whose newest evidence is older than the window is unknown, "confirm still taking", that date cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from adapter.eligibility.facts.model import CourseEvidence
from adapter.eligibility.outcome import Detail, Evidence, Outcome
from adapter.eligibility.result import UnrecognizedEntries
from adapter.eligibility.rules.context import RuleContext, type_tokens
from adapter.eligibility.rules.courses import (
    Placed,
    Spans,
    across,
    is_course,
    place_course,
    stale_missing,
    stale_reason,
    when,
)
from adapter.eligibility.rules.entry_windows import Placement, entry_window
from adapter.vocabulary import (
    CANONICAL_BASE,
    RECORD_KIND_BY_NAME,
    RECORD_KIND_BY_TYPE_TOKEN,
    RecordKind,
    coding_tokens,
    split_token,
)

if TYPE_CHECKING:
    from adapter.eligibility.facts import ClinicalFact, PatientFacts
    from adapter.eligibility.options import EngineOptions

# The project extension (defined in adapter.fhir_build.definitions, published with the trials).
RECORD_ENTRY_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/record-entry-reading"
NOT_CURRENT_CONDITION = {"inactive", "resolved", "remission"}
UNCONFIRMED_CONDITION = {"unconfirmed", "provisional", "differential"}
VERIFIED_KINDS = {"conditions", "allergies"}  # the kinds with clinicalStatus and verificationStatus
Match = Literal["item", "partial", "possible"]
_NAME_MEMO_LIMIT = 4096


def name_pattern(text: str) -> re.Pattern[str] | None:
    """Each `;`-separated term of a concept's text, as a whole word, case-insensitive; `abc*` is a prefix."""
    regex = name_regex(text)
    return re.compile(regex, re.IGNORECASE) if regex is not None else None


def name_regex(text: str) -> str | None:
    """The source of `name_pattern(text)` (compiled only when a record's names are matched against it)."""
    terms = [t.strip() for t in text.split(";") if t.strip() and t.strip() != "*"]
    if not terms:
        return None
    alternatives = [re.escape(t[:-1]) + r"\w*" if t.endswith("*") else re.escape(t) for t in terms]
    return r"\b(" + "|".join(alternatives) + r")\b"


def _needles(text: str) -> tuple[tuple[str, bool], ...] | None:
    """Each term of `name_pattern(text)` as (its literal part in lower case, whether it is a prefix `abc*`); None
    unless all are ASCII."""
    terms = [t.strip() for t in text.split(";") if t.strip() and t.strip() != "*"]
    needles = tuple((t[:-1].lower() if t.endswith("*") else t.lower(), t.endswith("*")) for t in terms)
    return needles if all(n.isascii() for n, _ in needles) else None


def record_kind(definition: Mapping[str, Any]) -> RecordKind | None:
    """The record kind the definition's type names (its first record-category coding)."""
    return next((RECORD_KIND_BY_TYPE_TOKEN[t] for t in type_tokens(definition) if t in RECORD_KIND_BY_TYPE_TOKEN), None)


@dataclass(frozen=True)
class EntryQuery:
    """What a record-entry definition looks for, read from the EvidenceVariable alone."""

    kind: RecordKind
    wanted: frozenset[str]  # system|code of the value set
    partial: Mapping[str, str]  # system|code → what the code does not say
    regex: str | None  # the names of the item (`pattern`, compiled on first use)
    history: bool
    display: str
    systems: frozenset[str] = field(default_factory=frozenset)  # code systems of the value set and partial codes
    # The terms, lower case, as (literal part, is a prefix `abc*`), when all ASCII: an ASCII name is matched against
    # the few terms it holds, never the whole pattern (a value set's synonyms: ~10 ms to compile); None: the pattern.
    needles: tuple[tuple[str, bool], ...] | None = None
    _seen: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)  # name → pattern found in it

    @classmethod
    def of(cls, definition: Mapping[str, Any], kind: RecordKind) -> EntryQuery:
        value = definition.get("valueCodeableConcept") or {}
        wanted = frozenset(coding_tokens(value))
        text = value.get("text") or ""
        history, partial = _reading(definition.get("extension") or ())
        display = (text.split(";")[0].strip() if wanted else text.replace(";", ",")) or "item"
        systems = frozenset(split_token(t)[0] for t in (*wanted, *partial))
        return cls(kind, wanted, partial, name_regex(text), history, display, systems, _needles(text))

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.regex, re.IGNORECASE) if self.regex is not None else None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (the compiled-catalog cache) without the compiled pattern: compiled again when first used."""
        return {name: value for name, value in self.__dict__.items() if name != "pattern"}

    def match(self, fact: ClinicalFact) -> tuple[Match, str | None] | None:
        """How the entry matches: the item, a partial code (and that code), a possible match by name; or None."""
        if not fact.codes.isdisjoint(self.wanted):
            return "item", None
        partial = next((c for c in sorted(fact.codes) if c in self.partial), None)
        if partial is not None:
            return "partial", partial
        if self.regex is not None and any(self.names(n) for n in _names(fact)):
            return ("possible" if self.wanted else "item"), None
        return None

    def names(self, name: str) -> bool:
        """Whether the item's names occur in `name`. Remembered per name: records repeat the same displays across
        patients, and a value set's synonyms make a long pattern (bounded, so a hostile record cannot grow it)."""
        hit = self._seen.get(name)
        if hit is None:
            if len(self._seen) >= _NAME_MEMO_LIMIT:
                self._seen.clear()
            needles = self.needles
            if needles is not None and name.isascii():
                # ASCII only: IGNORECASE is plain ASCII case, so a term matches only where the name holds its
                # literal; and `\b(a|b|c)\b` matches where one of `\b(a)\b`, `\b(b)\b`, `\b(c)\b` does.
                lowered = name.lower()
                held = [re.escape(n) + (r"\w*" if prefix else "") for n, prefix in needles if n in lowered]
                hit = bool(held) and re.search(r"\b(" + "|".join(held) + r")\b", name, re.IGNORECASE) is not None
            else:
                pattern = self.pattern
                assert pattern is not None
                hit = pattern.search(name) is not None
            self._seen[name] = hit
        return hit


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

    # (entry, the dated use that placed it, how the reason shows that use)
    certain: list[tuple[ClinicalFact, CourseEvidence | None, str | None]] = field(default_factory=list)
    doubts: list[tuple[ClinicalFact, str]] = field(default_factory=list)  # (entry, why it may be the item)
    ignored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what would settle a doubt, beyond confirming the item


def record_entry(ctx: RuleContext, definition: Mapping[str, Any], windows: list[Mapping[str, Any]]) -> Outcome:
    """The item in `valueCodeableConcept` is on record (see the module docstring for what counts)."""
    kind = record_kind(definition)
    assert kind is not None  # the evaluator routes here only for a record category
    query = ctx.options.memo.get(definition, "entry-query", lambda: EntryQuery.of(definition, kind))
    return entries_outcome(ctx, query, windows, getattr(ctx.facts, kind.name))


def entries_outcome(ctx: RuleContext, query: EntryQuery, windows: list[Mapping[str, Any]],
                    facts: Iterable[ClinicalFact], placed: Placement | None = None) -> Outcome:
    """The query against the entries of its kind, in record order; `facts` may leave out entries the query does
    not match at all (a compiled plan looks them up by code and name), never one it matches. `placed`: the
    windows placed beforehand (`StaticWindow`), else they are read from `windows`."""
    window, unknown = placed if placed is not None else entry_window(ctx, windows)
    if unknown:
        return unknown
    spans, where = window if window else (None, "")
    found = _Found()
    for fact in facts:
        _classify(ctx, query, fact, spans, where, found)
    ignored = found.ignored

    def note() -> str:
        return f" ({'; '.join(ignored)})" if ignored else ""

    if found.certain:
        certain = found.certain
        first, _, shown_use = certain[0]
        dated = f" — {shown_use}" if shown_use else ""
        named = first.text or first.reference
        return Outcome("pass", lambda: f"{query.display} recorded{where}: {named}{dated}{note()}",
                       _evidence(certain), detail=Detail("record-entry", tuple(f.reference for f, _, _ in certain)))
    if found.doubts:
        doubts = found.doubts
        evidence = tuple(Evidence(reference=f.reference, value=f.text, date=f.date) for f, _ in doubts)
        # A stale course is settled by its own missing entry; any other doubt by confirming the item.
        confirm = (f"confirmation of {query.display}{where}",) if len(found.missing) < len(doubts) else ()
        missing = (*found.missing, *confirm)
        return Outcome("unknown", lambda: f"{'; '.join(why for _, why in doubts)}{note()}", evidence, missing,
                       detail=Detail("record-entry", tuple(f.reference for f, _ in doubts)))
    if not ignored:
        return nothing_recorded(query, where)
    return Outcome("fail", lambda: f"no {query.display} recorded{where}{note()}", detail=_NO_ENTRY)


_NO_ENTRY = Detail("record-entry")


def nothing_recorded(query: EntryQuery, where: str) -> Outcome:
    """No entry that is, or may be, the item: not present."""
    return Outcome("fail", lambda: f"no {query.display} recorded{where}", detail=_NO_ENTRY)


def _evidence(certain: list[tuple[ClinicalFact, CourseEvidence | None, str | None]]) -> tuple[Evidence, ...]:
    """The entries that count; a course placed by a dispense or a dose cites that resource too."""
    cited: dict[str, Evidence] = {}
    for fact, used, shown_use in certain:
        cited.setdefault(fact.reference, Evidence(reference=fact.reference, value=fact.text, date=fact.date,
                                                  note=shown_use))
        if used is not None and used.reference:
            cited.setdefault(used.reference, Evidence(reference=used.reference, value=fact.text, date=used.date,
                                                      note=used.label))
    return tuple(cited.values())


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
    placed, used = ("in", None) if spans is None else _placed(ctx, fact, spans, not_current)
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
    elif placed == "stale":
        assert used is not None
        found.doubts.append((fact, stale_reason(fact, shown, used, where)))
        found.missing.append(stale_missing(fact, shown, where))
    else:
        shown_use = None if used is None else across(fact, used) if placed == "across" else when(used)
        found.certain.append((fact, used, shown_use))


def _placed(ctx: RuleContext, fact: ClinicalFact, spans: Spans, not_current: bool) -> Placed:
    """Where the entry falls against the windows: in one, out of all, without a date, possibly in (open), or an
    active course with no use shown in them (stale); with the dated use that says so, for a medication."""
    if is_course(fact):
        return place_course(fact, spans, ctx.end_of_day)
    if fact.date is None:
        return "undated", None
    if any(start <= fact.date <= end for start, end, _ in spans):
        return "in", _dose(fact)
    before = [(start, end) for start, end, _ in spans if fact.date < start]
    if not before:
        return "out", None
    if fact.resource_type != "Condition":
        # An administration or a procedure: the moment it happened, or its period when it reaches the window.
        reaches = fact.end is not None and any(fact.end >= start for start, _ in before)
        return ("in", _dose(fact)) if reaches else ("out", None)
    # A condition is present from its onset until it abates: it counts when that overlaps a window.
    if not not_current:
        return "in", None  # still active: present throughout the window
    if fact.end is None:
        return "open", None
    return ("in" if any(fact.end >= start for start, _ in before) else "out"), None


def _dose(fact: ClinicalFact) -> CourseEvidence | None:
    """An administration's date as the reason shows it; None for other entries (their date is their own)."""
    if fact.resource_type != "MedicationAdministration" or fact.date is None:
        return None
    return CourseEvidence(fact.end or fact.date, "administered")


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
                         options: EngineOptions | None = None) -> list[UnrecognizedEntries]:
    """Entries of a kind the EvidenceVariable asks about, coded only in code systems none of its items of that
    kind uses and named by none of them: they cannot be read, so they are reported — grouped by kind and code
    systems, every reference kept —, never silently absent."""
    queries = (options.memo.get(variable, "entry-queries", lambda: _queries(variable)) if options is not None
               else _queries(variable))
    groups: dict[tuple[str, tuple[str, ...]], list[ClinicalFact]] = {}
    for kind_name, kind_queries in queries.items():
        known = frozenset().union(*(q.systems for q in kind_queries))
        for fact in getattr(facts, kind_name):
            if not fact.usable or not fact.codes or any(q.match(fact) for q in kind_queries):
                continue
            systems = tuple(sorted({split_token(c)[0] for c in fact.codes}))
            if known.isdisjoint(systems):
                groups.setdefault((kind_name, systems), []).append(fact)
    return [
        UnrecognizedEntries(kind=kind_name, singular=RECORD_KIND_BY_NAME[kind_name].mapping_key, systems=systems,
                            references=tuple(f.reference for f in found), texts=tuple(f.text for f in found))
        for (kind_name, systems), found in groups.items()
    ]
