"""Drafting a mapping from a ClinicalTrials.gov record: split the criteria, recognise thresholds, write YAML."""
