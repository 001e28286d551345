"""Diagnoses beyond the concept library, found in ICD-10-CM itself (the CDC release in `simple-icd-10-cm`).

A criterion's words are looked up in the titles and inclusion terms of ICD-10-CM categories and subcategories; a
match names a category-and-descendants value set. ICD-10-CM is public domain (CDC/NCHS); the package carries the
FY2026 tabular list. No code is written by hand here: every code and title comes from the package, and every
drafted use is marked `needs_review` with the words it matched.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cache
from types import ModuleType

SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
SOURCE_ID = "drafted-cdc-icd10cm"
SOURCE = {
    "title": "ICD-10-CM Tabular List, FY2026 (CDC/NCHS, April 1, 2026 release), as shipped in the PyPI package "
             "simple-icd-10-cm 1.5.0 (data/icd10c-tabular-April-1-2026.xml)",
    "url": "https://pypi.org/project/simple-icd-10-cm/1.5.0/",
    "note": "Drafted by `trial-adapter draft`: a category and all its descendants, with the tabular's titles. "
            "Not reviewed; the CDC original: https://ftp.cdc.gov/pub/Health_Statistics/NCHS/Publications/ICD10CM/2026/",
}
# Chapters left out: symptoms and findings (R), injuries and external causes (S–Y), encounters and status (Z),
# perinatal (P), special purposes (U): findings or circumstances a criterion rarely means as a diagnosis. Pregnancy
# itself is the library's reviewed concept (a library name wins over a title of the same words).
SKIPPED_CHAPTERS = frozenset("RSTVWXYZPU")
# Titles too general to stand for what a criterion means (a word search over 40,000 titles finds them anywhere).
TOO_GENERAL = frozenset({
    "other", "disease", "diseases", "disorder", "disorders", "infection", "neoplasm", "neoplasms", "malignant neoplasm",
    "unspecified", "obesity", "dementia", "anemia", "hypertension", "depression", "allergy", "pain",
})
# Everyday names for which the titles hold no exact phrase: each points at categories whose titles are read from
# the package at use (the pointer is the drafter's reading, flagged needs_review like every ICD-10-CM match).
# Chapter 2's blocks and categories of malignant neoplasms (C00–C96), as the tabular list groups them.
MALIGNANT = ("C00-C14", "C15-C26", "C30-C39", "C40-C41", "C43-C44", "C45-C49", "C50", "C51-C58", "C60-C63", "C64-C68",
             "C69-C72", "C73-C75", "C7A", "C7B", "C76-C80", "C81-C96")
SUBSTANCE = ("F10-F19",)
ALIASES: dict[str, tuple[str, ...]] = {
    "malignancy": MALIGNANT,
    "malignancies": MALIGNANT,
    "malignant disease": MALIGNANT,
    "malignant tumor": MALIGNANT,
    "malignant tumors": MALIGNANT,
    "cancer": MALIGNANT,
    "cancers": MALIGNANT,
    "substance abuse": SUBSTANCE,
    "drug abuse": SUBSTANCE,
    "substance use disorder": SUBSTANCE,
    "alcohol abuse": ("F10.1",),
    "alcoholism": ("F10.2",),
    "liver disease": ("K70-K77",),
    "hepatic disease": ("K70-K77",),
    "kidney disease": ("N00-N08", "N10-N16", "N17-N19"),
    "renal disease": ("N00-N08", "N10-N16", "N17-N19"),
    "chf": ("I50",),
    "qt prolongation": ("I45.81",),
    "long qt syndrome": ("I45.81",),
    "prolonged qt": ("I45.81",),
    "g6pd deficiency": ("D55.0",),
    "porphyria": ("E80.0", "E80.1", "E80.2"),
    "cardiogenic shock": ("R57.0",),
    "spinal cord compression": ("G95.2",),
    "bleeding disorder": ("D65", "D66", "D67", "D68", "D69"),
    "bleeding diathesis": ("D65", "D66", "D67", "D68", "D69"),
    "keloid": ("L91.0",),
    "covid-19": ("U07.1",),
    "covid 19": ("U07.1",),
    "sars-cov-2 infection": ("U07.1",),
    "tb": ("A15", "A17", "A18", "A19"),
    "hepatitis b": ("B16", "B18.0", "B18.1", "B19.1"),
    "hbv": ("B16", "B18.0", "B18.1", "B19.1"),
    "hepatitis c": ("B17.1", "B18.2", "B19.2"),
    "hcv": ("B17.1", "B18.2", "B19.2"),
    "tuberculosis": ("A15", "A17", "A18", "A19"),
    "interstitial lung disease": ("J84",),
    "pneumonitis": ("J84", "J70"),
    "myocardial infarction": ("I21", "I22", "I25.2"),
    "heart failure": ("I50",),
    "congestive heart failure": ("I50",),
    "epilepsy": ("G40",),
    "seizure disorder": ("G40",),
    "type 1 diabetes": ("E10",),
    "type 2 diabetes": ("E11",),
    "multiple sclerosis": ("G35",),
    "myasthenia gravis": ("G70.0",),
    "inflammatory bowel disease": ("K50", "K51"),
    "systemic lupus erythematosus": ("M32",),
    "lupus": ("M32",),
    "rheumatoid arthritis": ("M05", "M06"),
    "psoriasis": ("L40",),
    "sarcoidosis": ("D86",),
    "cirrhosis": ("K74.6", "K70.3"),
    "chronic kidney disease": ("N18",),
    "end stage renal disease": ("N18.6",),
    "angina": ("I20",),
    "atrial fibrillation": ("I48",),
    "pancreatitis": ("K85", "K86.0", "K86.1"),
    "peptic ulcer": ("K27",),
    "dementia": ("F01", "F02", "F03", "G30"),
    "alzheimer's disease": ("G30",),
    "parkinson's disease": ("G20",),
    "schizophrenia": ("F20",),
    "bipolar disorder": ("F31",),
    "asthma": ("J45",),
    "chronic obstructive pulmonary disease": ("J44",),
    "glaucoma": ("H40",),
    "sickle cell disease": ("D57",),
    "hemophilia": ("D66", "D67"),
    "diabetes mellitus": ("E08", "E09", "E10", "E11", "E13"),
    "breast cancer": ("C50",),
    "lung cancer": ("C34",),
    # Histologies ICD-10-CM does not tell apart (C34 holds every lung cancer): named, so that "lung cancer" inside
    # them is not drafted as all of C34; left to a person.
    "non small cell lung cancer": (),
    "nsclc": (),
    "small cell lung cancer": (),
    "sclc": (),
    "squamous cell nsclc": (),
    "prostate cancer": ("C61",),
    "colorectal cancer": ("C18", "C19", "C20"),
    "pancreatic cancer": ("C25",),
    "ovarian cancer": ("C56",),
    "gastric cancer": ("C16",),
    "hepatocellular carcinoma": ("C22.0",),
    "melanoma": ("C43",),
    "acute lymphoblastic leukemia": ("C91.0",),
    "myelodysplastic syndrome": ("D46",),
    "myelodysplastic syndromes": ("D46",),
    "multiple myeloma": ("C90.0",),
    "psychotic disorder": ("F20", "F22", "F23", "F24", "F25", "F28", "F29"),
    "psychosis": ("F20", "F22", "F23", "F24", "F25", "F28", "F29"),
    "eating disorder": ("F50",),
    "substance dependence": ("F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19"),
    "alcohol dependence": ("F10.2",),
    "hyperthyroidism": ("E05",),
    "hypertension": ("I10", "I11", "I12", "I13", "I15", "I16"),
    "bipolar i disorder": ("F31",),
    "psychotic illness": ("F20", "F22", "F23", "F24", "F25", "F28", "F29"),
    "suicide attempt": ("T14.91",),
    "ckd": ("N18",),
    "copd": ("J44",),
    "hypothyroidism": ("E01", "E02", "E03", "E89.0"),
    "angioedema": ("T78.3",),
}


@cache
def _icd() -> ModuleType:
    """The package, loaded on first use (it parses the whole tabular list when imported)."""
    with warnings.catch_warnings():  # its data loading uses importlib.resources' legacy calls
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm  # type: ignore[import-untyped]  # the package ships no type information

    return simple_icd_10_cm


@dataclass(frozen=True)
class IcdMatch:
    start: int
    end: int
    matched: str  # the criterion's words
    codes: tuple[str, ...]  # the categories / subcategories whose descendants form the value set

    @property
    def key(self) -> str:
        name = "-".join(c.lower().replace(".", "").replace("-", "") for c in self.codes)
        return "icd10cm-" + (name if len(name) <= 56 else f"{name[:40]}-and-{len(self.codes)}")

    @property
    def display(self) -> str:
        return "; ".join(f"{c} {_icd().get_description(c)}" for c in self.codes)


def _norm(text: str) -> str:
    text = text.lower().replace("’", "'")
    return " ".join(re.findall(r"[a-z0-9']+", text))


# A one-word title stands for a diagnosis only when the word is built like one ("hyperthyroidism", "psoriasis");
# other single words ("stable", an abbreviation in brackets such as "G6PD") are too loose to draft from.
DISEASE_WORD = re.compile(r"\w+(?:itis|osis|emia|aemia|oma|pathy|plegia|algia|ism|iasis|ectasis|trophy|penia|cytosis|"
                          r"rrhea|rrhoea|uria|philia|plasia|ema|ia)$")


def _variants(title: str) -> set[str]:
    """A title with its bracketed synonyms dropped, and its parenthesised words (nonessential modifiers) dropped
    or kept: "Essential (primary) hypertension" → essential hypertension, essential primary hypertension."""
    found = {_norm(b) for b in re.findall(r"\[([^\]]*)\]", title)  # "Thyrotoxicosis [hyperthyroidism]"
             if not re.search(r"\d|\b[A-Z]{2,}\b", b)}  # not an abbreviation ("[G6PD]", "[HIV]")
    title = re.sub(r"\[[^\]]*\]", " ", title)
    title = re.sub(r",?\s*(?:unspecified|NOS)$", "", title.strip())  # "Hypothyroidism, unspecified", "Eczema NOS"
    return found | {_norm(re.sub(r"\([^)]*\)", " ", title)), _norm(title.replace("(", " ").replace(")", " "))}


@cache
def _index() -> dict[str, str]:
    """Normalised title or inclusion term → the highest (shortest) code that carries it."""
    icd = _icd()
    index: dict[str, str] = {}
    for code in icd.get_all_codes(True):
        if code[0] in SKIPPED_CHAPTERS or not icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code):
            continue
        category_title = icd.get_description(code) if len(code) == 3 else None
        for title in (icd.get_description(code), *icd.get_inclusion_term(code)):
            for phrase in _variants(title):
                if " " not in phrase and title == category_title and phrase not in TOO_GENERAL:
                    pass  # a category titled by one word ("Vitiligo", "Gout") names a diagnosis
                elif " " not in phrase and not DISEASE_WORD.fullmatch(phrase):
                    continue
                if len(phrase) < 4 or phrase in TOO_GENERAL or "unspecified" in phrase.split()[-1:]:
                    continue
                known = index.get(phrase)
                if known is None or (len(code), code) < (len(known), known):
                    index[phrase] = code
    for phrase, codes in ALIASES.items():
        assert all(icd.is_valid_item(c) for c in codes), phrase
    return index


MAX_WORDS = 8


def find(text: str) -> list[IcdMatch]:
    """The longest ICD-10-CM titles (or aliases) named in `text`, left to right, not overlapping."""
    index = _index()
    words = [(m.start(), m.end(), _norm(m.group())) for m in re.finditer(r"[A-Za-z0-9'’]+", text)]
    found: list[IcdMatch] = []
    i = 0
    while i < len(words):
        for n in range(min(MAX_WORDS, len(words) - i), 0, -1):
            phrase = " ".join(w for _, _, w in words[i:i + n])
            codes = _lookup(phrase, index)
            if codes is not None:
                start, end = words[i][0], words[i + n - 1][1]
                if codes:  # an empty alias: a known name with no category that fits
                    found.append(IcdMatch(start, end, text[start:end], codes))
                i += n
                break
        else:
            i += 1
    return found


@cache
def _aliases() -> dict[str, tuple[str, ...]]:
    return {_norm(name): codes for name, codes in ALIASES.items()}


def _lookup(phrase: str, index: dict[str, str]) -> tuple[str, ...] | None:
    """The codes a phrase names, trying its singular too ("seizure disorders")."""
    for candidate in (phrase, phrase[:-1] if phrase.endswith("s") and not phrase.endswith("ss") else None):
        if candidate is None:
            continue
        aliases = _aliases()
        if candidate in aliases:
            return aliases[candidate]
        if candidate in index:
            return (index[candidate],)
    return None


def value_set(codes: tuple[str, ...]) -> list[tuple[str, str]]:
    """Each code with all its descendants, as (code, title) — the category-and-descendants value set."""
    icd = _icd()
    seen: dict[str, str] = {}
    for code in codes:
        for item in (code, *icd.get_descendants(code)):
            if "-" not in item:  # a block ("C00-C14") groups codes but is not one
                seen.setdefault(item, icd.get_description(item))
    return list(seen.items())


__all__ = ["SOURCE", "SOURCE_ID", "SYSTEM", "IcdMatch", "find", "value_set"]
