"""The evaluation core every door calls: `Eligibility` — a catalog, an optional terminology server, and
`evaluate(patient, trials, as_of)`.

The pipeline is here once: the patient's record → facts (only what the selected trials read, plus every record
entry) → codes a terminology server recognises → each trial's compiled plan → results (with the server's notes).
The CLI, the CDS hook, the REST API, the demo and both screening engines build an `Eligibility` and call it; a
notebook or another service does the same (README, "Use it from Python").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from adapter.patients import PatientRecord

if TYPE_CHECKING:
    from adapter.catalog import Trial, TrialCatalog
    from adapter.eligibility.facts import PatientFacts
    from adapter.eligibility.facts.reads import FactReads
    from adapter.eligibility.outcome import Verdict
    from adapter.evaluation import TrialEvaluation
    from adapter.terminology import Terminology

TrialChoice = Iterable["str | Trial"] | None


@dataclass(frozen=True, slots=True)
class PatientEvaluation:
    """One patient against the chosen trials: a `TrialEvaluation` per trial, in the order asked, and the facts
    they were judged on."""

    patient: str  # "Patient/<id>"
    as_of: date
    facts: PatientFacts
    results: tuple[TrialEvaluation, ...]

    def __iter__(self) -> Iterator[TrialEvaluation]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, nct_id: str) -> TrialEvaluation:
        """The result for one trial by its NCT id; KeyError when it was not evaluated."""
        key = nct_id.strip().upper()
        for result in self.results:
            if result.nct_id == key:
                return result
        raise KeyError(nct_id)

    @property
    def verdicts(self) -> dict[str, Verdict]:
        return {result.nct_id: result.verdict for result in self.results}


class Eligibility:
    """Patients judged against a catalog's trials.

    >>> from datetime import date
    >>> from adapter import Eligibility, load_catalog, read_patient_file
    >>> eligibility = Eligibility(load_catalog())
    >>> result = eligibility.evaluate(read_patient_file("fixtures/patients/p-hiv.json"), as_of=date(2026, 11, 1))
    >>> result["NCT03787251"].verdict
    'ineligible'

    With `terminology`, the catalog's value sets are widened once, here, and each patient's codes the server
    subsumes are recognised; `close()` (or `with`) keeps its cache. No other state: `evaluate` may be called from
    many threads.
    """

    def __init__(self, catalog: TrialCatalog, *, terminology: Terminology | None = None) -> None:
        self.terminology = terminology
        self._reads: dict[tuple[str, ...], FactReads] = {}  # per set of trials: what their plans read
        # At the edge of the pure engine: it sees a widened library, then facts with more codes.
        self.catalog = terminology.augment_catalog(catalog) if terminology is not None else catalog

    def __enter__(self) -> Eligibility:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.terminology is not None:
            self.terminology.close()

    def trials(self, choice: TrialChoice = None, *, recruiting_only: bool = False) -> list[Trial]:
        """The trials asked for (ids or Trial objects; all when None or empty), optionally recruiting ones only.
        UnknownTrialError for an id the catalog lacks."""
        chosen = [] if choice is None else list(choice)
        if chosen and all(not isinstance(item, str) for item in chosen):
            trials: list[Trial] = list(chosen)  # type: ignore[arg-type]  # Trial objects, already loaded
        else:
            trials = self.catalog.select([item if isinstance(item, str) else item.nct_id for item in chosen])
        return [t for t in trials if t.recruiting] if recruiting_only else trials

    def facts(self, patient: PatientRecord | Any, trials: Sequence[Trial]) -> PatientFacts:
        """The patient's facts for these trials, with the codes the terminology server recognises."""
        record = patient if isinstance(patient, PatientRecord) else PatientRecord(patient)
        facts = record.facts(self.catalog.units, self._reads_of(trials))
        if self.terminology is not None:  # before the pure engine: codes its value sets miss but subsume
            facts = self.terminology.recognize(facts, self.catalog.concepts)
        return facts

    def _reads_of(self, trials: Sequence[Trial]) -> FactReads:
        key = tuple(trial.nct_id for trial in trials)
        reads = self._reads.get(key)
        if reads is None:  # a race only computes the same value twice
            from adapter.evaluation import reads_of

            reads = self._reads[key] = reads_of(trials)
        return reads

    def evaluate(self, patient: PatientRecord | Any, trials: TrialChoice = None, as_of: date | None = None,
                 ) -> PatientEvaluation:
        """Judge the patient (a PatientRecord, or FHIR JSON: a Bundle, a resource, a list) against the trials
        (default: every trial of the catalog) as of `as_of` (default: today). PatientDataError when the data is
        not one patient's FHIR."""
        chosen = self.trials(trials)
        when = as_of or date.today()
        facts = self.facts(patient, chosen)
        return PatientEvaluation(facts.patient_ref, when, facts, self.judge(facts, chosen, when))

    def judge(self, facts: PatientFacts, trials: Sequence[Trial], as_of: date) -> tuple[TrialEvaluation, ...]:
        """The trials' plans evaluated on facts already read (`facts`), with the terminology server's notes."""
        from adapter.evaluation import evaluate_trial

        results = [evaluate_trial(trial, facts, as_of) for trial in trials]
        if self.terminology is not None:  # the report says when the server could not be used
            results = [self.terminology.annotate(result, facts) for result in results]
        return tuple(results)
