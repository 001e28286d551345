"""What the drafter can recognise: the data elements eligibility texts name, their spellings and the units that fit.

`what` is the drafter's own name for a data element. The mapping it drafts names a concept of the library only
when the library has one (`concepts`: candidate names, the first one present wins); otherwise the threshold is
recognised but stays `manual`. No code is defined here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Element:
    what: str  # the drafter's name
    label: str  # words for a person
    pattern: re.Pattern[str]
    units: frozenset[str]  # UCUM units that fit ("ULN": a multiple of the upper limit of normal; "": none)
    concepts: tuple[str, ...] = ()  # library observation concepts, in order of preference
    derived: str | None = None  # or a derived measure of the library


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


COUNTS = frozenset({"10*9/L", "10*3/uL", "/mm3", "/uL", "10*6/L", "10*3/mm3"})
LIVER = frozenset({"ULN", "U/L"})

# Order matters: earlier patterns win where two match the same words (HbA1c before hemoglobin, clearance before
# creatinine).
ELEMENTS: tuple[Element, ...] = (
    Element("hba1c", "HbA1c",
            _p(r"\bhba1c\b|\ba1c\b|glycated\s+h(?:a)?emoglobin|h(?:a)?emoglobin\s+a1c|glycosylated h(?:a)?emoglobin"),
            frozenset({"%", "mmol/mol"}), ("hba1c",)),
    Element("creatinine-clearance", "creatinine clearance",
            _p(r"creatinine\s+clearance|\bcr\s*cl\b|\bclcr\b|\bccr\b|\bcrcl\b"),
            frozenset({"mL/min", "mL/min/{1.73_m2}"}), ("creatinine-clearance-measured",)),
    Element("egfr", "eGFR", _p(r"\be?gfr\b|glomerular\s+filtration\s+rate"),
            frozenset({"mL/min/{1.73_m2}", "mL/min"}), ("egfr",)),
    Element("hemoglobin", "hemoglobin", _p(r"\bh(?:a)?emoglobin\b|\bhgb\b|\bhb\b"),
            frozenset({"g/dL", "g/L", "mmol/L"}), ("hemoglobin",)),
    Element("neutrophils", "absolute neutrophil count",
            _p(r"absolute\s+neutrophils?(?:\s+counts?)?|\banc\b|neutrophils?(?:\s+counts?)?|\bagc\b|"
               r"absolute\s+granulocyte\s+count|granulocytes"),
            COUNTS, ("neutrophils",)),
    Element("platelets", "platelet count", _p(r"platelets?(?:\s+counts?)?|\bplt\b|\bplts\b|\bplatelet\b"),
            COUNTS, ("platelets",)),
    Element("leukocytes", "leukocytes",
            _p(r"white\s+blood\s+cells?(?:\s+counts?)?|\bwbcs?\b|leu[ck]ocytes?(?:\s+counts?)?|white\s+cell\s+count"),
            COUNTS, ("leukocytes", "wbc")),
    Element("lymphocytes", "lymphocytes",
            _p(r"absolute\s+lymphocytes?(?:\s+counts?)?|\balc\b|lymphocytes?(?:\s+counts?)?"),
            COUNTS, ("lymphocytes",)),
    Element("bilirubin-total", "total bilirubin",
            _p(r"(?:total\s+|serum\s+)?bilirubin(?:\s+total)?|\bt\.?\s?bili?\b|\btbil\b|\btbili\b"),
            frozenset({"ULN", "mg/dL", "umol/L"}), ("bilirubin-total",)),
    Element("alt", "ALT", _p(r"alanine\s+(?:amino)?transaminase|alanine\s+aminotransferase|\balt\b|\bsgpt\b|\bgpt\b"),
            LIVER, ("alt",)),
    Element("ast", "AST",
            _p(r"aspartate\s+(?:amino)?transaminase|aspartate\s+aminotransferase|\bast\b|\bsgot\b"),
            LIVER, ("ast",)),
    Element("alkaline-phosphatase", "alkaline phosphatase", _p(r"alkaline\s+phosphatase|\balk\s*phos\b|\balp\b"),
            LIVER, ("alkaline-phosphatase",)),
    Element("albumin", "albumin", _p(r"(?:serum\s+)?albumin\b"), frozenset({"g/dL", "g/L"}), ("albumin",)),
    Element("creatinine", "serum creatinine", _p(r"(?:serum\s+|plasma\s+)?creatinine(?!\s+clearance)|\bs?cr\b"),
            frozenset({"ULN", "mg/dL", "umol/L"}), ("creatinine",)),
    Element("inr", "INR", _p(r"\binr\b|international\s+normali[sz]ed\s+ratio"), frozenset({"ULN", ""}), ("inr",)),
    Element("aptt", "APTT",
            _p(r"\ba?ptt\b|activated\s+partial\s+thromboplastin\s+time|partial\s+thromboplastin\s+time"),
            frozenset({"ULN", "s"}), ("aptt",)),
    Element("prothrombin-time", "prothrombin time", _p(r"prothrombin\s+time|\bpt\b"), frozenset({"ULN", "s"}),
            ("prothrombin-time",)),
    Element("thrombin-time", "thrombin time", _p(r"(?<!pro)thrombin\s+time|\btt\b"), frozenset({"ULN", "s"}),
            ("thrombin-time",)),
    Element("fibrinogen", "fibrinogen", _p(r"fibrinogen|\bfbg\b|\bfib\b"), frozenset({"g/L", "mg/dL"}),
            ("fibrinogen",)),
    Element("fasting-glucose", "fasting glucose",
            _p(r"fasting\s+(?:blood\s+|plasma\s+|serum\s+)?glucose|\bfbg\b|\bfpg\b|fasting\s+blood\s+sugar"),
            frozenset({"mmol/L", "mg/dL"}), ("fasting-glucose",)),
    Element("glucose", "glucose", _p(r"(?:blood\s+|plasma\s+|serum\s+)?glucose"), frozenset({"mmol/L", "mg/dL"}),
            ("glucose",)),
    Element("potassium", "potassium", _p(r"potassium|\bk\+"), frozenset({"mmol/L", "meq/L"}), ("potassium",)),
    Element("magnesium", "magnesium", _p(r"magnesium|\bmg2\+|\bmg\+\+"), frozenset({"mmol/L", "meq/L", "mg/dL"}),
            ("magnesium",)),
    Element("calcium", "calcium", _p(r"(?:corrected\s+|serum\s+)?calcium|\bca2\+|\bca\+\+"),
            frozenset({"mmol/L", "mg/dL", "meq/L"}), ("calcium",)),
    Element("urine-protein-24h", "24 h urine protein",
            _p(r"24[\s-]*h(?:ou)?r?s?\s+(?:total\s+)?urine\s+protein(?:\s+quantitation)?"
               r"|urine\s+protein\s+(?:of\s+)?24[\s-]*h(?:ou)?r?s?"),
            frozenset({"g/(24.h)"}), ("urine-protein-24h",)),
    Element("systolic-bp", "systolic blood pressure",
            _p(r"systolic(?:\s+blood)?(?:\s+pressure)?|\bsbp\b|retraction\s+pressure"), frozenset({"mm[Hg]"}),
            ("systolic-bp",)),
    Element("diastolic-bp", "diastolic blood pressure", _p(r"diastolic(?:\s+blood)?(?:\s+pressure)?|\bdbp\b"),
            frozenset({"mm[Hg]"}), ("diastolic-bp",)),
    Element("qtc", "QTc", _p(r"\bqtc[fb]?\b|corrected\s+qt(?:\s+interval)?|\bqt\s*c\b"), frozenset({"ms"}), ("qtc",)),
    Element("qt", "QT interval", _p(r"\bqt(?:\s+interval)?\b"), frozenset({"ms"}), ()),
    Element("lvef", "LVEF", _p(r"\blvef\b|left\s+ventricular\s+ejection\s+fraction|ejection\s+fraction|\bef\b"),
            frozenset({"%"}), ("lvef",)),
)
BY_WHAT = {e.what: e for e in ELEMENTS}

# Not thresholds of a lab: scores and demographics, read by their own rules.
ECOG = re.compile(r"\becog\b|eastern\s+cooperative\s+oncology\s+group|\bwho\s+performance\s+status|\bzubrod\b",
                  re.IGNORECASE)
KARNOFSKY = re.compile(r"karnofsky|\bkps\b|lansky", re.IGNORECASE)
AGE = re.compile(r"\bage[ds]?\b|years?\s+(?:of\s+age|old)|\byears?\b", re.IGNORECASE)

# Conditions that allow another limit ("5 × ULN with liver metastases").
CONDITIONS = (
    ("liver-metastasis", "liver metastases", re.compile(r"liver\s+metasta|hepatic\s+metasta|liver\s+involvement|"
                                                        r"metastas[ie]s\s+(?:to|in|of)\s+the\s+liver|liver\s+mets",
                                                        re.IGNORECASE)),
    ("gilbert-syndrome", "Gilbert's syndrome", re.compile(r"gilbert", re.IGNORECASE)),
    ("bone-metastasis", "bone metastases", re.compile(r"bone\s+metasta|bone\s+involvement|osseous\s+metasta",
                                                      re.IGNORECASE)),
)

__all__ = ["AGE", "BY_WHAT", "CONDITIONS", "COUNTS", "ECOG", "ELEMENTS", "KARNOFSKY", "Element"]
