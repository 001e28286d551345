"""CDS Hooks discovery: the one `patient-view` service and the prefetch templates that ask for what the engine reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from adapter.patients import PATIENT_KEY  # one declaration: the core reads the prefetch too
from adapter.service.models import CdsService, Discovery
from adapter.vocabulary import RECORD_PREFETCH

if TYPE_CHECKING:
    from adapter.catalog import Trial

SERVICE_ID = "trial-eligibility"
HOOK = "patient-view"
PATIENT = "{{context.patientId}}"
OBSERVATIONS_KEY = "observations"
PAGE_SIZE = 200


def prefetch_templates(trials: Iterable[Trial]) -> dict[str, str]:
    """What the engine reads, as prefetch templates (also the keys a complete prefetch holds).

    Narrowed with what CDS Hooks 2.0 prefetch templates allow (`{{context.patientId}}`, token parameters with
    equality, `_count`, `_sort`): Observations by the codes the trials read, newest first; every search asks for
    pages of PAGE_SIZE (servers default to 20 or so), so a long history rarely pages. A date floor relative to
    today is not a 2.0 prefetch token, and record entries are not narrowed by code (an entry coded otherwise but
    named like the item must be seen: it makes a criterion unknown, not absent). A prefetch that still pages is
    completed on `fhirServer` (adapter.service.patient_data)."""
    from adapter.evaluation import observation_codes

    codes = ",".join(observation_codes(trials))
    templates = {
        PATIENT_KEY: f"Patient/{PATIENT}",
        OBSERVATIONS_KEY: f"Observation?patient={PATIENT}&code={codes}&_sort=-date&_count={PAGE_SIZE}",
    }
    templates.update({key: f"{rtype}?patient={PATIENT}&_count={PAGE_SIZE}" for key, rtype in RECORD_PREFETCH.items()})
    return templates


def discovery_document(templates: dict[str, str]) -> Discovery:
    return Discovery(services=[CdsService(
        hook=HOOK,
        id=SERVICE_ID,
        title="Clinical trial eligibility",
        description=("Checks the patient's FHIR data against the eligibility criteria of the clinical trials this "
                     "service knows, criterion by criterion, and shows a card for each trial the patient could "
                     "qualify for, with the tests that would settle what the data cannot."),
        prefetch=dict(templates),
        usageRequirements="Send a JWT signed by a registered client key (ES384/RS384), aud = this service's URL.",
    )])
