"""Patient eligibility: facts from FHIR data, and their evaluation against trial criteria."""
