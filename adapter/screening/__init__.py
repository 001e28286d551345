"""Population screening: every patient of a Bulk Data export against the trials (`trial-adapter screen`)."""
