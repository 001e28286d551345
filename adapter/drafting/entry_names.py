"""The names criteria use for record entries: the library's reviewed synonyms, class words that point at library
concepts, classes and drugs with no reviewed value set (site concepts matched by name, marked so), and diagnoses
from ICD-10-CM (`icd10cm`). Which way a named entry cuts is `entries`' business; this module only finds names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adapter.drafting import icd10cm
from adapter.mapping.concepts import ConceptLibrary

# Class words → library concepts (the library's synonyms list ingredients; these name the class itself).
CLASS_WORDS: tuple[tuple[str, str, str], ...] = (
    ("medications", "anticoagulant", r"anti-?\s?coagula(?:nts?|tion|ted|nt therapy)\b"),
    ("medications", "thrombolytic", r"thrombolytics?\b|thrombolysis\b"),
    ("medications", "anti-vegf", r"anti-?\s?vegf(?:r)?(?:\s*/\s*vegfr)?\b|vegfr?[- ](?:targeted|inhibitors?)\b"),
    ("medications", "anti-angiogenic", r"anti-?\s?angiogen(?:ic|esis)\b|angiogenesis inhibitors?\b"),
    ("medications", "platinum-chemotherapy", r"platinum(?:-based| based)?(?: chemotherapy| doublet| agents?)?\b"),
    ("medications", "taxane", r"taxanes?\b"),
    ("medications", "fluoropyrimidine", r"fluoropyrimidines?\b"),
    ("medications", "cytotoxic-chemotherapy", r"(?:cytotoxic |systemic )?chemotherap(?:y|ies|eutic)\b|chemo\b|"
                                              r"chemo-?radiotherapy\b|chemo-?radiation\b|"
                                              r"cytotoxic (?:agents?|drugs?|therapy)\b"),
    ("medications", "systemic-corticosteroid", r"(?:systemic |oral |intravenous |iv )?(?:cortico)?steroids?\b|"
                                               r"glucocorticoids?\b"),
    ("medications", "immune-checkpoint-inhibitor", r"anti-?\s?(?:pd-?1|pd-?l1|ctla-?4)\b|"
                                                   r"(?:immune )?checkpoint (?:inhibitors?|blockers?|blockade)\b|"
                                                   r"anti-?programmed (?:cell )?death-?(?:1|ligand 1)"),
    ("procedures", "radiotherapy", r"radiotherapy\b|radiation therapy\b|irradiation\b|radiation treatment\b"),
    ("procedures", "organ-transplant", r"(?:(?:solid |allogeneic |autologous |stem[- ]cell |bone marrow |organ |"
                                       r"kidney |renal |liver |heart |lung )+)?transplant(?:s|ation)?\b"),
    ("conditions", "lactation", r"\bnursing\b(?! home)|breast[- ]?feed\w*"),
)
# Classes with no reviewed value set in the library: a site-local concept matched by the names below in the record's
# text only (no code), marked so. The names are ingredient names (INN), which medication entries carry in their text.
TEXT_CLASSES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("medications", "class-immunosuppressants", "Immunosuppressive drugs (immunosuppressants)",
     r"immunosuppress(?:ants?|ive (?:agents?|drugs?|medications?|therapy|treatment))\b",
     ("tacrolimus", "cyclosporine", "ciclosporin", "mycophenolate", "azathioprine", "sirolimus", "everolimus",
      "methotrexate", "cyclophosphamide", "leflunomide", "belatacept", "basiliximab", "antithymocyte")),
    ("medications", "class-antifungals", "Systemic antifungals", r"anti-?fungals?\b",
     ("fluconazole", "itraconazole", "voriconazole", "posaconazole", "isavuconazole", "amphotericin",
      "caspofungin", "micafungin", "anidulafungin", "flucytosine")),
    ("medications", "class-antimalarials", "Antimalarials", r"anti-?malarials?\b",
     ("chloroquine", "hydroxychloroquine", "primaquine", "tafenoquine", "mefloquine", "artemether", "artesunate",
      "lumefantrine", "piperaquine", "dihydroartemisinin", "atovaquone", "proguanil", "quinine")),
    ("medications", "class-immunoglobulins", "Immunoglobulins", r"immunoglobulins?\b|\bivig\b",
     ("immune globulin", "immunoglobulin", "IVIG")),
)
# Library synonyms too broad to stand for a criterion's meaning (the concept is broader or narrower than the word).
SKIP_CONCEPTS = frozenset({"other-malignancy", "organ-transplant-status", "esophageal-neoplasm"})

# "allergy to X": the substance named after the word, up to the next comma, 'or', 'and' or bracket.
ALLERGEN = re.compile(r"\b(?:allerg\w*|hypersensitiv\w*|hypersensib\w*)\s+(?:reactions?\s+)?(?:to|against)\s+"
                      r"(?:any\s+|the\s+|a\s+)?([A-Za-z][\w-]*(?:\s+(?!or\b|and\b)[A-Za-z][\w-]*){0,2})", re.I)
# Drug names by their INN stem (WHO "The use of stems in the selection of International Nonproprietary Names"):
# -mab antibodies, -tinib/-ciclib/-parib kinase and PARP inhibitors, -platin, -taxel, -rubicin, -azole antifungals,
# -mycin, -cillin, -floxacin, -statin, -pril, -sartan, -olol, -parin, -xaban, -gatran, -lidomide, -vir, -formin.
INN_STEM = re.compile(r"\b[A-Za-z]{3,}(?:mab|tinib|ciclib|parib|rafenib|platin|taxel|rubicin|conazole|mycin|cillin|"
                      r"floxacin|statin|pril|sartan|olol|parin|xaban|gatran|lidomide|previr|buvir|asvir|navir|"
                      r"tegravir|formin|gliflozin|gliptin|glutide|[a-z]{4}vir)\b", re.I)
# Everyday drugs criteria name that no class above holds and no stem gives (matched by name only, marked so).
COMMON_DRUGS = ("aspirin", "insulin", "dapsone", "acetaminophen", "paracetamol", "digoxin", "lithium", "amiodarone")
# Words that carry no reading of their own around a record entry ("known history of …", "patients with …").
FILLER = frozenset({
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "by", "for", "from", "with", "as", "is", "are", "be",
    "been", "was", "were", "who", "which", "that", "this", "these", "those", "any", "all", "either", "its", "their",
    "his", "her", "has", "have", "had", "having", "known", "history", "active", "prior", "previous", "previously",
    "past", "ever", "patient", "patients", "subject", "subjects", "participant", "participants", "person", "persons",
    "individuals", "people", "women", "woman", "female", "females", "men", "male", "diagnosed", "diagnosis",
    "documented", "evidence", "presence", "present", "infection", "infections", "infected", "disease", "diseases",
    "disorder", "disorders", "current", "currently", "receiving", "received", "receive", "treatment", "treatments",
    "therapy", "therapies", "use", "used", "using", "treated", "within", "days", "day", "weeks", "week", "months",
    "month", "years", "year", "last", "before", "enrollment", "registration", "randomization", "randomisation",
    "study", "entry", "start", "starting", "first", "dose", "day1", "screening", "time", "must", "not", "no",
    "without", "free", "negative", "positive", "seropositive", "confirmed", "status", "drug", "drugs", "agent",
    "agents", "medication", "medications", "medicine", "including", "include", "such", "e", "g", "eg", "etc", "other",
    "allergic", "allergy", "allergies", "hypersensitivity", "hypersensitive", "reaction", "reactions", "component",
    "components", "excipients", "excipient", "ingredients", "formulation", "participation", "visit", "baseline",
    "initiation", "administration", "investigational", "product", "protocol", "pregnant", "lactating",
    "breastfeeding", "breast", "feeding", "nursing", "pregnancy", "lactation", "mothers", "mother", "women's",
    "period", "non", "consent", "signing", "informed", "test", "testing", "clinically", "evidenced",
    # how a diagnosis was made or a rule is put ("histologically confirmed", "antibody positive", "is not allowed")
    "histologically", "cytologically", "pathologically", "histological", "cytological", "proven", "antibody",
    "reactive", "allowed", "permitted",
})


@dataclass(frozen=True)
class Mention:
    kind: str  # conditions | medications | procedures | allergies (library tables)
    concept: str  # library key, or a drafted site concept's key
    start: int
    end: int
    text: str
    drafted: dict[str, Any] | None = None  # a site-local concept written beside the draft
    review: str | None = None


def _synonym_pattern(word: str) -> re.Pattern[str]:
    prefix = word.endswith("*")
    gap = r"(?:[\s-]+|\s*\([^)]{1,12}\)\s*)"  # "central nervous system (CNS) metastases"
    core = re.escape(word.rstrip("*")).replace(r"\ ", gap).replace(r"\-", r"[\s-]?")
    flags = 0 if (word.rstrip("*").isupper() and len(word) <= 6) else re.I  # "AIDS", not "hearing aids"
    return re.compile(r"(?<![\w])" + core + (r"\w*" if prefix else r"(?:s|es)?(?![\w])"), flags)


class EntryLexicon:
    """The names a criterion can use for record entries, over one concept library and one record's drugs."""

    def __init__(self, library: ConceptLibrary, drug_names: Iterable[str] = ()) -> None:
        self.library = library
        self.patterns: list[tuple[str, str, re.Pattern[str]]] = []
        self.size: dict[str, int] = {}
        for table in ("conditions", "procedures", "allergies"):
            for key, concept in getattr(library, table).items():
                if key in SKIP_CONCEPTS:
                    continue
                for word in concept.synonyms:
                    if table == "procedures" and "transplant" in word:
                        continue  # the class words below read transplants with their kind
                    self.patterns.append((table, key, _synonym_pattern(word)))
                self.size[key] = len(concept.codes) + len(concept.text)
        for table, key, pattern in CLASS_WORDS:
            if key in getattr(library, table):
                self.patterns.append((table, key, re.compile(r"(?<![\w-])(?:" + pattern + ")", re.I)))
        self.text_classes = {key: (display, names) for _table, key, display, _p, names in TEXT_CLASSES}
        for table, key, _display, pattern, _names in TEXT_CLASSES:
            self.patterns.append((table, key, re.compile(r"(?<![\w-])(?:" + pattern + ")", re.I)))
        self.ingredients = _ingredients(library, drug_names)
        for lower, name in self.ingredients.items():
            self.patterns.append(("ingredients", lower, _synonym_pattern(name)))
        self.patterns.append(("ingredients", "", INN_STEM))

    def mentions(self, text: str) -> list[Mention]:
        found: list[Mention] = []
        for table, key, pattern in self.patterns:
            for m in pattern.finditer(text):
                if key in self.text_classes:
                    display, names = self.text_classes[key]
                    found.append(Mention(table, key, m.start(), m.end(), m.group(), drafted={
                        "display": display, "text": list(names), "synonyms": list(names),
                        "note": f"Drafted: no reviewed value set for {display.lower()}; matched by these names in "
                                "record text only."},
                        review=f"'{m.group()}': no reviewed value set, matched by ingredient names only"))
                elif table == "ingredients":
                    found.append(self.ingredient(self.ingredients.get(m.group().lower(), m.group()), m.start(),
                                                 m.end(), text))
                else:
                    found.append(Mention(table, key, m.start(), m.end(), m.group()))
        for match in icd10cm.find(text):
            found.append(Mention("conditions", match.key, match.start, match.end, match.matched,
                                 drafted=_icd_concept(match),
                                 review=f"diagnosis drafted from ICD-10-CM ({match.display}) for the words "
                                        f"'{match.matched}': check the value set"))
        return _longest(found, self.size)

    def ingredient(self, name: str, start: int, end: int, text: str) -> Mention:
        """A named drug as a site concept: the same data whichever criterion or trial names it (several drafts
        in one site folder may define it; the catalog accepts a concept written twice only identically)."""
        lower = name.lower()
        name = lower
        codes: list[dict[str, Any]] = []
        sources: set[str] = set()
        for library_concept in self.library.medications.values():
            for code in library_concept.codes:
                if code.display and re.search(r"\b" + re.escape(lower) + r"\b", code.display.lower()):
                    item = code.model_dump(exclude_none=True)
                    if item not in codes:
                        codes.append(item)
                        sources.update([code.source] if code.source else [])
        key = "drug-" + re.sub(r"[^a-z0-9]+", "-", lower).strip("-")
        concept: dict[str, Any] = {"display": name, "text": [name], "synonyms": [name]}
        if codes:
            concept.update(codes=codes, sources=sorted(sources),
                           note=f"Drafted: the library's reviewed codes whose display names {name}.")
            review = f"{name}: drafted from the library's codes that name it"
        else:
            concept["note"] = f"Drafted: no reviewed code for {name}; matched by name in record text only."
            review = f"{name}: no reviewed code, matched by name only"
        return Mention("medications", key, start, end, text[start:end], drafted=concept, review=review)


def _icd_concept(match: icd10cm.IcdMatch) -> dict[str, Any]:
    codes = [{"system": icd10cm.SYSTEM, "code": code, "display": title, "source": icd10cm.SOURCE_ID}
             for code, title in icd10cm.value_set(match.codes)]
    return {"display": match.display, "codes": codes, "sources": [icd10cm.SOURCE_ID],
            "note": f"Drafted from ICD-10-CM: {', '.join(match.codes)} and descendants. Not reviewed; the words "
                    "each criterion matched are in its needs_review."}


def _longest(mentions: list[Mention], size: dict[str, int]) -> list[Mention]:
    """Overlapping mentions: the longest wins; at equal length a library concept beats a drafted one, and the
    narrower library concept (fewer codes: melena before any GI bleeding) the broader one."""
    ranked = sorted(mentions, key=lambda m: (-(m.end - m.start), m.drafted is not None, size.get(m.concept, 0),
                                             m.start))
    kept: list[Mention] = []
    taken = bytearray(max((m.end for m in mentions), default=0))  # characters already named: linear, not pairwise
    for m in ranked:
        if not any(taken[m.start:m.end]):
            kept.append(m)
            taken[m.start:m.end] = b"\x01" * (m.end - m.start)
    return sorted(kept, key=lambda m: m.start)


def _ingredients(library: ConceptLibrary, drug_names: Iterable[str]) -> dict[str, str]:
    """Drug names criteria may use: the library's ingredient names, the record's own drugs, everyday drugs."""
    ingredients: dict[str, str] = {}
    for concept in library.medications.values():
        for name in concept.text:
            ingredients.setdefault(name.lower(), name)
    for name in drug_names:
        for part in re.split(r"\s*(?:\+|/|,| and )\s*", name):
            part = part.strip()
            if len(part) >= 5 and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]+", part) and part.lower() not in FILLER:
                ingredients.setdefault(part.lower(), part)
    for name in COMMON_DRUGS:
        ingredients.setdefault(name, name)
    return ingredients


def allergen_mention(text: str, mentions: list[Mention]) -> Mention | None:
    """"allergy to X" where X is no name found already: X as a site allergy concept matched by name only."""
    allergen = ALLERGEN.search(text)
    if allergen is None or any(m.start >= allergen.start(1) for m in mentions):
        return None
    words = allergen.group(1).split()
    if any(w.lower() in FILLER or w.lower() in ("study", "similar", "one", "other") for w in words):
        return None
    name = " ".join(words).lower()
    key = "allergy-" + re.sub(r"[^a-z0-9]+", "-", name).strip("-")
    return Mention("allergies", key, allergen.start(1), allergen.end(1), name,
                   drafted={"display": name, "text": [name], "synonyms": [name],
                            "note": f"Drafted: an allergy to {name}, matched by name only."},
                   review=f"allergy to '{name}': no reviewed code, matched by name only")


def drug_names(intervention_names: Iterable[str]) -> list[str]:
    """The record's own drugs ("Drug: Apatinib" → Apatinib): names a criterion may use for them."""
    kinds = ("DRUG", "BIOLOGICAL", "COMBINATION_PRODUCT")
    names = []
    for name in intervention_names:
        kind, _, bare = name.partition(": ")
        if kind.upper().replace(" ", "_") in kinds and "placebo" not in bare.lower():
            names.append(bare)
    return names


__all__ = ["FILLER", "EntryLexicon", "Mention", "allergen_mention", "drug_names"]
