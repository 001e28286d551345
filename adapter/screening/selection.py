"""Which lines of an export the selected trials can read — decided on the raw text, before Python parses a line.

Resource types no trial reads (Encounter, Claim, ExplanationOfBenefit, Immunization, DiagnosticReport, CarePlan, …)
are already skipped by the routing (`routing.READ_TYPES`). Among the types the trials read, Observations are
most of a real export (Synthea: ~70% of the lines) and most of them are results no criterion looks at. An
Observation line is kept when its raw text holds, as a JSON string, one of the codes the trials read — a
superset of what `extract_facts` + the plans use, since an ObservationFact is found by `system|code` of its own
code or of a component's — or when it holds a JSON escape (`\\u…`, `\\/`) that could spell such a code.

Never dropped: the Patient, every record entry (Condition, medications, Procedure, AllergyIntolerance: their
text may name a concept), Medications, unreadable-line markers. The count of a patient's lines (for the
resource cap and the error lines) includes the dropped ones, and a patient whose Patient line is missing keeps
every line (the "unknown patient" error counts them) — so results and errors are what they were without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapter.catalog import Trial

# Off: every routed line reaches the patient (the equality tests compare both ways).
DROP_UNREAD = True


@dataclass(frozen=True, slots=True)
class Selection:
    """The Observation codes (the `code` of `system|code`) whose lines are kept; None keeps every line."""

    observation_codes: frozenset[str] | None

    def observation_pattern(self) -> str | None:
        """A regular expression (RE2 and Java syntax alike) a kept Observation line matches; None = keep all."""
        if self.observation_codes is None or not all(_PLAIN.fullmatch(c) for c in self.observation_codes):
            return None  # a code with a space or a non-ASCII letter: keep every line rather than guess
        quoted = "|".join(_escape(code) for code in sorted(self.observation_codes))
        escapes = r"\\u|\\/"  # a code could be spelled with JSON escapes: keep such lines, rare as they are
        return f'"(?:{quoted})"|{escapes}' if quoted else escapes

    def keeps_observation(self, raw: bytes | str) -> bool:
        """The Python twin of `observation_pattern` (for the tests and the Python reader)."""
        pattern = self.observation_pattern()
        if pattern is None:
            return True
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return re.search(pattern, text) is not None


KEEP_ALL = Selection(None)


def selection_for(trials: Iterable[Trial]) -> Selection:
    """What `trials` can read: the result codes of their plans (`evaluation.observation_codes`), widened with
    every code their EvidenceVariables name (so a code the plan reads in a way `observation_codes` does not
    list is still kept)."""
    if not DROP_UNREAD:
        return KEEP_ALL
    from adapter.evaluation import observation_codes

    trials = list(trials)
    codes = {token.rsplit("|", 1)[-1] for token in observation_codes(trials)}
    for trial in trials:
        codes.update(_codes_in(trial.evidence_variable))
    return Selection(frozenset(c for c in codes if c))


def _codes_in(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        code = value.get("code")
        if isinstance(code, str):
            yield code
        for item in value.values():
            if isinstance(item, Mapping | list):
                yield from _codes_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _codes_in(item)


_PLAIN = re.compile(r"[!-~]+")  # printable ASCII without the space


def _escape(code: str) -> str:
    # Letters and digits as they are, ASCII punctuation backslash-escaped: valid in RE2, Java and Python alike.
    return "".join(c if c.isalnum() else "\\" + c for c in code)
