"""What a set of compiled trials reads from a patient's record: `extract_facts(..., reads=...)` builds facts only
for that, plus what honesty needs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FactReads:
    """The result codes (system|code) the criteria read — lab and vital types, the inputs of derived measures,
    search panels — and the record kinds ("conditions", "medications", …) they ask about.

    Extraction keeps every Observation that has one of `observation_codes` (on itself or on a component) and
    drops the rest: a result is found only by its codes, so no criterion could read them (an Observation with
    text and no coding is read by none, with or without `reads`). The kept ones are built when first read
    (`lazy_results`): a criterion judges the newest usable result, so older ones mostly never are.

    Record entries are always kept, whatever `record_kinds` says: any entry may name a concept in its text or be
    coded in a system no criterion uses, and the evaluation reports such entries; terminology recognition reads
    them too.
    """

    observation_codes: frozenset[str]
    record_kinds: frozenset[str]
    # `observation_codes` as (system, code) the way a Coding holds them (no system: None or ""): a quick check.
    coding_pairs: frozenset[tuple[str | None, str]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        pairs: set[tuple[str | None, str]] = set()
        for token in self.observation_codes:
            system, _, code = token.partition("|")
            pairs.add((system, code))
            if not system:
                pairs.add((None, code))
        object.__setattr__(self, "coding_pairs", frozenset(pairs))

    def __or__(self, other: FactReads) -> FactReads:
        return FactReads(self.observation_codes | other.observation_codes, self.record_kinds | other.record_kinds)
