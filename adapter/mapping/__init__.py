"""Clinician-reviewable trial mappings (mappings/*.yaml): schema, concept library and loader."""

from adapter.mapping.concepts import ConceptLibrary
from adapter.mapping.loader import load_concepts, load_mapping
from adapter.mapping.model import Criterion, Definition, TrialMapping

__all__ = ["ConceptLibrary", "Criterion", "Definition", "TrialMapping", "load_concepts", "load_mapping"]
