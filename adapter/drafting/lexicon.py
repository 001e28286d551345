"""What the drafter recognises, read from the concept library: each concept's reviewed `drafting:` block (its
names as patterns and the units a bound on it may carry) is one data element, and so is each `drafting_only` entry
(recognised, but drafted `manual`: the library has no reviewed codes for it). One vocabulary with the engine.

Kept here is drafting grammar only: which element names are scores read by their own rules, the words for age, and
the conditions that allow another limit ("5 × ULN with liver metastases").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapter.mapping.concepts import ConceptLibrary, Drafting


@dataclass(frozen=True)
class Element:
    what: str  # the library's name: an observation concept, or a drafting_only entry
    label: str  # words for a person
    pattern: re.Pattern[str]
    units: frozenset[str]  # UCUM units that fit ("ULN": a multiple of the upper limit of normal; "": none written)
    concepts: tuple[str, ...] = ()  # the library observation concept; empty: no reviewed codes, drafted manual


# Scores read by their own rules (ECOG as the allowed scores, Karnofsky as a percentage without a unit).
SCORES = frozenset({"ecog", "karnofsky"})
# One name for several elements, each bound ("transaminases ≤ 2.5 × ULN": AST and ALT): the library lists the
# name under each; where it matches all of them, every one is read.
BOTH = frozenset({frozenset({"alt", "ast"})})
# The drafter's name for the measured creatinine clearance: also read as the Cockcroft–Gault estimate.
CLEARANCE = "creatinine-clearance-measured"

# Measures charted in one unit only: a bound written without one ("Respiratory rate < 20", "O2 saturation ≤94",
# "BMI > 40", "CD4+ count > 400" in cells/uL) is read in it, flagged for review.
IMPLIED_UNITS = {"spo2": "%", "respiratory-rate": "/min", "heart-rate": "/min", "bmi": "kg/m2", "cd4": "/uL"}

AGE = re.compile(r"\bage[ds]?\b|years?\s+(?:of\s+age|old)|\byears?\b", re.IGNORECASE)

# What allows another limit ("5 × ULN with liver metastases", "INR 2 to 3 for anticoagulated patients"): key in
# the library, words for a person, the words in text, and the record entry kind (condition or medication).
CONDITIONS = (
    ("liver-metastasis", "liver metastases", re.compile(r"liver\s+metasta|hepatic\s+metasta|liver\s+involvement|"
                                                        r"metastas[ie]s\s+(?:to|in|of)\s+the\s+liver|liver\s+mets",
                                                        re.IGNORECASE), "condition"),
    ("gilbert-syndrome", "Gilbert's syndrome", re.compile(r"gilbert", re.IGNORECASE), "condition"),
    ("bone-metastasis", "bone metastases", re.compile(r"bone\s+metasta|bone\s+involvement|osseous\s+metasta",
                                                      re.IGNORECASE), "condition"),
    ("anticoagulant", "anticoagulant therapy",
     re.compile(r"anti-?coagula(?:nt|ted|tion)|(?:on|receiving|taking)\s+(?:therapeutic\s+)?(?:warfarin|heparin)",
                re.IGNORECASE), "medication"),
)


def _element(what: str, display: str, drafting: Drafting, coded: bool) -> Element:
    units = frozenset(drafting.units) | ({""} if "1" in drafting.units else frozenset())  # a ratio: no unit written
    return Element(what, drafting.label or display, drafting.regex, units, (what,) if coded else ())


def elements(library: ConceptLibrary) -> tuple[Element, ...]:
    """The library's data elements, coded observations first (the order breaks ties between equal matches)."""
    found = [_element(name, c.display, c.drafting, True) for name, c in library.observations.items()
             if c.drafting is not None]
    found += [_element(name, c.display, c.drafting, False) for name, c in library.drafting_only.items()]
    return tuple(found)


__all__ = ["AGE", "BOTH", "CLEARANCE", "CONDITIONS", "IMPLIED_UNITS", "SCORES", "Element", "elements"]
