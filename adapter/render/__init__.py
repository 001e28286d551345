"""Every rendering of a `TrialEvaluation`: the JSON report contract (`report`), the checklist for people
(`text`), FHIR R5 resources (`fhir`) and CDS Hooks cards (`cards`). The engine knows none of them."""
