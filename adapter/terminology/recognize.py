"""Per patient, before evaluation: record entries coded with a code no value set lists, but which a value-set
code subsumes (`CodeSystem/$subsumes`), get that value-set code added, so the pure engine then matches them.

Only codings in a system some value set of the same kind uses are asked about (a SNOMED server cannot place
a local code), at most `max_codes` distinct patient codes per call and `max_checks` questions in all; every
answer is cached by the client. The recognised entry carries a note naming the server and the code.
A server that fails leaves the facts as they were (apart from what was already recognised) with a note.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from adapter.eligibility.facts.model import ClinicalFact, PatientFacts
from adapter.mapping.concepts import ConceptLibrary
from adapter.terminology.augment import RECORD_KINDS
from adapter.terminology.client import (
    OperationNotSupported,
    TerminologyClient,
    TerminologyRefused,
    TerminologyUnavailable,
)
from adapter.vocabulary import split_token, token

log = logging.getLogger("adapter.terminology")

NOTE_PREFIX = "Terminology server "  # every note this package adds to facts or reports starts so
DEFAULT_MAX_PATIENT_CODES = 20
DEFAULT_MAX_CHECKS = 200


def recognize(
    facts: PatientFacts,
    concepts: ConceptLibrary,
    terminology: TerminologyClient,
    *,
    max_codes: int = DEFAULT_MAX_PATIENT_CODES,
    max_checks: int = DEFAULT_MAX_CHECKS,
    notes: Iterable[str] = (),
) -> PatientFacts:
    """`facts` with subsumed entries also carrying the value-set code; `notes` (e.g. from catalog load) added."""
    value_sets = _value_set_codes(concepts)
    known = {c.token for kind in RECORD_KINDS for concept in getattr(concepts, kind).values()
             for c in concept.all_codes()}
    candidates: dict[tuple[str, str], None] = {}  # (kind, patient token), in record order
    for kind in RECORD_KINDS:
        for fact in getattr(facts, kind):
            for code in sorted(fact.codes):
                if code not in known and split_token(code)[0] in value_sets[kind]:
                    candidates[(kind, code)] = None
    all_notes = list(notes)
    asked = list(candidates)[:max_codes]
    if len(candidates) > len(asked):
        all_notes.append(f"{NOTE_PREFIX}{terminology.base_url}: {len(candidates) - len(asked)} more record code(s) "
                         f"not checked (limit {max_codes} per patient).")
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (kind, patient token) -> [(value-set token, how)]
    checks = 0
    try:
        for kind, patient_token in asked:
            system, code_b = split_token(patient_token)
            if not terminology.holds(system):  # it cannot place a code of a system it does not have
                continue
            for code_a in value_sets[kind][system]:
                if checks >= max_checks:
                    break
                checks += 1
                try:
                    answer = terminology.subsumes(system, code_a, code_b)
                except (OperationNotSupported, TerminologyRefused) as exc:
                    log.debug("$subsumes %s %s %s: %s", system, code_a, code_b, exc)
                    continue
                if answer.outcome in ("subsumes", "equivalent"):
                    how = "$subsumes" if answer.method == "$subsumes" else "$expand is-a"
                    found.setdefault((kind, patient_token), []).append((token(system, code_a), how))
    except TerminologyUnavailable as exc:
        log.warning("terminology server %s not used for this patient's codes: %s", terminology.base_url, exc)
        all_notes.append(_not_used(terminology, exc))
    if not found and not all_notes:
        return facts
    changes = {kind: tuple(_recognized(fact, kind, found, terminology.base_url) for fact in getattr(facts, kind))
               for kind in RECORD_KINDS}
    return replace(facts, notes=(*facts.notes, *all_notes), **changes)  # type: ignore[arg-type]


def _not_used(terminology: TerminologyClient, exc: Exception) -> str:
    return (f"{NOTE_PREFIX}{terminology.base_url} could not be used: record codes outside the value sets were not "
            f"checked against their hierarchies ({exc}).")


def _value_set_codes(concepts: ConceptLibrary) -> dict[str, dict[str, tuple[str, ...]]]:
    """kind -> system -> the value-set codes (full codes, not partial ones) in that system."""
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind in RECORD_KINDS:
        by_system: dict[str, list[str]] = {}
        for concept in getattr(concepts, kind).values():
            for code in concept.codes:
                by_system.setdefault(code.system, []).append(code.code)
        found[kind] = {system: tuple(dict.fromkeys(codes)) for system, codes in by_system.items()}
    return found


def _recognized(fact: ClinicalFact, kind: str, found: dict[tuple[str, str], list[tuple[str, str]]],
                server: str) -> ClinicalFact:
    added = [item for code in sorted(fact.codes) for item in found.get((kind, code), ())]
    if not added:
        return fact
    notes = [f"recognized by {server} {how} {value_set_token}" for value_set_token, how in added]
    return replace(fact, codes=fact.codes | {t for t, _ in added}, notes=(*fact.notes, *dict.fromkeys(notes)))
