"""Patient facts from FHIR R4 or R5 resources, as plain dicts (no pydantic, no copies).

``extract_facts(resources, *, units, patient_id=None, reads=None)`` and ``facts_from_bundle(bundle, units)`` turn a
patient's resources into ``PatientFacts``: demographics, Observations (one ``ObservationFact`` per result and
per component) indexed by every ``system|code`` of their code, and Conditions, medications, Procedures and
AllergyIntolerances as ``ClinicalFact``. Nothing is evaluated here; every fact says whether it is usable and,
if not, why, so that the engine can answer "unknown" with a reason.

Nothing is kept between calls: the units table is passed in, and memos live as long as one extraction.

Where the rules live
    ``extract``       the input (Bundles, lists, entries) and whose data it is
    ``observations``  when a result is usable; dates, values, units, reference ranges, components
    ``clinical``      when a Condition, medication, Procedure or AllergyIntolerance is usable
    ``readers``       how codes, dates (precision, zones), decimals and references are read
    ``reads``         what compiled trials read: the Observations worth a fact
    ``lazy_results``  with ``reads``: results indexed by code and date, built when a criterion reaches them
    ``model``         the facts and their lookups
"""

from adapter.eligibility.facts.extract import extract_facts, facts_from_bundle
from adapter.eligibility.facts.model import ClinicalFact, ObservationFact, PatientFacts, ReferenceRange
from adapter.eligibility.facts.observations import OBSERVATION_USABLE_STATUSES
from adapter.eligibility.facts.reads import FactReads

__all__ = [
    "OBSERVATION_USABLE_STATUSES",
    "ClinicalFact",
    "FactReads",
    "ObservationFact",
    "PatientFacts",
    "ReferenceRange",
    "extract_facts",
    "facts_from_bundle",
]
