"""trial-fhir-adapter: ClinicalTrials.gov records to FHIR, and patient eligibility explained."""

__version__ = "0.1.0"
