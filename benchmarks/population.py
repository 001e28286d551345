"""A synthetic Bulk Data export: a directory of NDJSON files, for the population-screening benchmark.

    .venv/bin/python benchmarks/population.py --patients 10000 --out /tmp/pop [--seed 0] [--files-per-type N]
                                              [--gzip-some]

What it writes looks like a FHIR R4 `$export` (Patient.ndjson, Observation.ndjson, Observation.2.ndjson, …,
Condition, MedicationRequest, Medication, Procedure, AllergyIntolerance): every resource on its own line, linked to
its patient only by `subject: Patient/<id>`, the lines of one patient scattered over all the files of a type and
interleaved with thousands of others (never grouped by patient), large types split into files of ~200k lines.

Shapes, per patient:
* ages 15-95, both sexes (a few without a gender);
* lab draws over up to three years (a long-tailed number of visits: ~70 Observations on average, several hundred
  for the sickest): blood count, chemistry, coagulation, vitals (blood pressure panel, weight), and unrelated labs;
* the same test in mixed units (hemoglobin g/dL, g/L, mmol/L; platelets 10*3/uL, 10*9/L, /uL, K/uL; creatinine
  mg/dL, umol/L; …) and under the alternate LOINC codes the concept library lists; some unitless, entered in
  error, preliminary, without a reference range, or text only;
* Conditions (SNOMED CT and ICD-10-CM from the library: esophageal cancer and ESCC, HIV, DVT, stroke, cirrhosis,
  pregnancy, … and common unrelated ones), MedicationRequests (RxNorm from the library, some by
  `medicationReference` to a shared Medication in Medication.ndjson), Procedures (transfusions), allergies.
About 6 % are patients with ESCC whose record is built to come out potentially eligible or close.

Codes come from mappings/concepts*.yaml, read at generation time. Unrelated ("noise") labs and conditions use only
codes already in this repository (checked at start-up against the test files that use them) or are text only.

Deterministic for a seed (each patient has its own random stream). Written in chunks of patients with bounded
memory, whatever the population size.
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import yaml

try:
    import orjson

    def _dumps(obj: Any) -> bytes:
        # copied to an exact-size bytes: orjson's own result keeps a ~4 KB allocation per line, which held
        # ~600 MB for one chunk of 2,000 patients
        return bytes(memoryview(orjson.dumps(obj)))
except ImportError:  # pragma: no cover - the benchmark virtualenv has orjson
    import json

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "mappings"
AS_OF = date(2026, 11, 1)  # the evaluation date the benchmark screens on: recent labs are within 30 days of it
LINES_PER_FILE = 200_000
CHUNK_PATIENTS = 2_000  # patients generated, interleaved and written together (bounds memory)
TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "Procedure", "AllergyIntolerance", "Medication")
MEAN_LINES = {"Patient": 1, "Observation": 72, "Condition": 3, "MedicationRequest": 4, "Procedure": 1,
              "AllergyIntolerance": 0.2, "Medication": 0}  # fmt: skip

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

# Unrelated labs and conditions no trial reads: (code, display, unit, typical value, sd). Codes only where this
# repository already uses them (the file named), else text only.
NOISE_LABS_CODED = [
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5.9, 0.9),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 27.0, 4.5),
    ("3040-3", "Lipase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 35.0, 12.0),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 190.0, 35.0),
    ("13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "mg/dL", 115.0, 30.0),
]
NOISE_CODES_SEEN_IN = ROOT / "tests" / "eligibility" / "rules" / "helpers.py"
NOISE_LABS_TEXT = [  # text only: no code of these is in the repository
    ("Heart rate", "/min", 76.0, 11.0),
    ("White blood cell count", "10*3/uL", 7.0, 2.0),
    ("Albumin", "g/dL", 4.0, 0.4),
    ("Sodium", "mmol/L", 139.0, 3.0),
    ("Potassium", "mmol/L", 4.2, 0.4),
    ("TSH", "m[IU]/L", 2.0, 1.0),
    ("C reactive protein", "mg/L", 4.0, 6.0),
]
NOISE_CONDITIONS_CODED = [("44054006", "Diabetes mellitus type 2"), ("46635009", "Diabetes mellitus type 1")]
NOISE_CONDITIONS_TEXT = [
    "Essential hypertension", "Hyperlipidemia", "Osteoarthritis of knee", "Gastroesophageal reflux disease",
    "Chronic obstructive pulmonary disease", "Asthma", "Hypothyroidism", "Chronic low back pain",
    "Atrial fibrillation", "Benign prostatic hyperplasia", "Anemia", "Obesity", "Migraine", "Gout",
]  # fmt: skip
NOISE_MEDICATIONS_TEXT = [
    "Metformin 500 MG Oral Tablet", "Lisinopril 10 MG Oral Tablet", "Atorvastatin 20 MG Oral Tablet",
    "Omeprazole 20 MG Delayed Release Oral Capsule", "Amlodipine 5 MG Oral Tablet", "Levothyroxine 0.05 MG Oral Tablet",
    "Salbutamol 100 MCG/ACTUAT Metered Dose Inhaler", "Paracetamol 500 MG Oral Tablet", "Sertraline 50 MG Oral Tablet",
]  # fmt: skip
NOISE_PROCEDURES = [
    {"coding": [{"system": SNOMED, "code": "387713003", "display": "Surgical procedure"}]},
    {"text": "Upper gastrointestinal endoscopy with biopsy"},
    {"text": "CT chest abdomen pelvis with contrast"},
    {"text": "Colonoscopy"},
    {"text": "Esophagectomy (Ivor Lewis)"},
]


# ---------------------------------------------------------------------------------------- the concept library


class Library:
    """The codes of the concept library the generator draws from, read from mappings/concepts*.yaml."""

    def __init__(self, mappings: Path = MAPPINGS) -> None:
        def load(name: str) -> dict[str, Any]:
            return yaml.safe_load((mappings / name).read_text(encoding="utf-8"))

        self.observations: dict[str, list[dict[str, str]]] = {
            key: [_coding(c) for c in concept.get("codes") or ()]
            for key, concept in load("concepts-observations.yaml")["observations"].items()
        }
        self.partial_observations = {
            key: [_coding(c) for c in concept.get("partial_codes") or ()]
            for key, concept in load("concepts-observations.yaml")["observations"].items()
        }
        conditions = load("concepts-conditions.yaml")["conditions"]
        self.conditions = {key: [_coding(c) for c in concept.get("codes") or ()] for key, concept in conditions.items()}
        self.partial_conditions = {
            key: [_coding(c) for c in concept.get("partial_codes") or ()] for key, concept in conditions.items()
        }
        medications = load("concepts-medications.yaml")["medications"]
        self.medications = {
            key: [_coding(c) for c in concept.get("codes") or () if c["system"] == RXNORM]
            for key, concept in medications.items()
        }
        procedures = load("concepts-procedures.yaml")["procedures"]
        self.procedures = {key: [_coding(c) for c in concept.get("codes") or ()] for key, concept in procedures.items()}
        self.formulary = sorted(
            {(c["code"], c.get("display", "")) for codes in self.medications.values() for c in codes}
        )

    def code(self, kind: dict[str, list[dict[str, str]]], concept: str, code: str) -> dict[str, str]:
        """The library's coding for ``code`` (refuses a code the library does not list)."""
        for coding in kind[concept]:
            if coding["code"] == code:
                return coding
        raise KeyError(f"{code} is not in the concept library's {concept}")


def _coding(c: dict[str, Any]) -> dict[str, str]:
    coding = {"system": c["system"], "code": str(c["code"])}
    if c.get("display"):
        coding["display"] = c["display"]
    return coding


def _check_noise_codes() -> None:
    text = NOISE_CODES_SEEN_IN.read_text(encoding="utf-8")
    missing = [code for code, *_ in NOISE_LABS_CODED + NOISE_CONDITIONS_CODED if f'"{code}"' not in text]
    missing += [c["code"] for p in NOISE_PROCEDURES for c in p.get("coding", ()) if f'"{c["code"]}"' not in text]
    if missing:
        raise SystemExit(f"noise codes not found in {NOISE_CODES_SEEN_IN}: {missing}")


# ---------------------------------------------------------------------------------------- one patient


class _Patient:
    """The resources of one patient, as dicts by resource type."""

    def __init__(self, lib: Library, seed: int, index: int) -> None:
        self.lib = lib
        self.rng = random.Random(f"{seed}:{index}")
        self.pid = f"pt{seed:02d}{index:07d}"
        self.ref = {"reference": f"Patient/{self.pid}"}
        self.out: dict[str, list[dict[str, Any]]] = {t: [] for t in TYPES}
        self.counter = 0
        self.lab_style = self.rng.choice(("us", "si", "eu", "mixed"))  # the lab this patient is mostly seen at

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{self.pid}-{prefix}{self.counter}"

    # -------------------------------------------------------------- demographics and the patient's story
    def build(self) -> dict[str, list[dict[str, Any]]]:
        rng = self.rng
        age = rng.randint(15, 95)
        birth = AS_OF - timedelta(days=age * 365 + rng.randint(0, 364))
        sex = rng.choices(("male", "female", None), weights=(49, 49, 2))[0]
        patient: dict[str, Any] = {"resourceType": "Patient", "id": self.pid, "birthDate": birth.isoformat()}
        if sex:
            patient["gender"] = sex
        self.out["Patient"].append(patient)
        roll = rng.random()
        if roll < 0.06:
            self.story = "escc"  # built to be potentially eligible or close
        elif roll < 0.10:
            self.story = "esophageal"  # another esophageal neoplasm, or ESCC coded without histology
        elif roll < 0.22:
            self.story = "sick"  # chronic illness: many labs, anticoagulants, ...
        else:
            self.story = "general"
        self.sex, self.age = sex, age
        self._conditions()
        self._medications()
        self._procedures()
        self._observations()
        if rng.random() < 0.15:
            self._allergy()
        return self.out

    def _condition(self, code: dict[str, Any], onset: date, status: str = "active", **extra: Any) -> None:
        res = {
            "resourceType": "Condition",
            "id": self.next_id("c"),
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
            "code": code,
            "subject": self.ref,
            "onsetDateTime": onset.isoformat(),
            **extra,
        }
        self.out["Condition"].append(res)

    def _days_ago(self, low: int, high: int) -> date:
        return AS_OF - timedelta(days=self.rng.randint(low, high))

    def _conditions(self) -> None:
        rng, lib = self.rng, self.lib
        if self.story == "escc":
            coding = rng.choice(lib.conditions["escc"])
            concept = {"coding": [coding], "text": "Esophageal squamous cell carcinoma"}
            self._condition(concept, self._days_ago(200, 900))
        elif self.story == "esophageal":
            pool = rng.choice((lib.conditions["esophageal-neoplasm"], lib.partial_conditions["escc"]))
            self._condition({"coding": [rng.choice(pool)]}, self._days_ago(100, 1500))
        weights = {  # prevalence per story (rough; higher in the sick, to exercise the exclusions)
            "hiv": 0.01, "immunodeficiency": 0.005, "deep-vein-thrombosis": 0.02, "pulmonary-embolism": 0.008,
            "ischemic-stroke": 0.02, "transient-ischemic-attack": 0.01, "liver-cirrhosis": 0.01,
            "chronic-active-hepatitis": 0.005, "liver-metastasis": 0.01,
        }  # fmt: skip
        factor = {"escc": 1.0, "esophageal": 1.5, "sick": 5.0, "general": 1.0}[self.story]
        self.vte = False
        for concept, p in weights.items():
            if rng.random() < p * factor:
                pool = lib.conditions[concept]
                if lib.partial_conditions.get(concept) and rng.random() < 0.2:
                    pool = lib.partial_conditions[concept]
                status = rng.choices(("active", "resolved", "inactive"), weights=(6, 3, 1))[0]
                self._condition({"coding": [rng.choice(pool)]}, self._days_ago(10, 2500), status)
                self.vte = self.vte or concept in ("deep-vein-thrombosis", "pulmonary-embolism")
        if self.sex == "female" and 16 <= self.age <= 45 and rng.random() < 0.04:
            self._condition({"coding": [rng.choice(lib.conditions["pregnancy"])]}, self._days_ago(10, 200))
        if rng.random() < 0.01:  # named only in text (matched by the library's synonyms)
            self._condition({"text": rng.choice(("HIV infection", "Deep vein thrombosis left leg", "Liver cirrhosis"))},
                            self._days_ago(30, 2000))
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4, 6))):
            if rng.random() < 0.2:
                code, display = rng.choice(NOISE_CONDITIONS_CODED)
                concept_: dict[str, Any] = {"coding": [{"system": SNOMED, "code": code, "display": display}]}
            else:
                concept_ = {"text": rng.choice(NOISE_CONDITIONS_TEXT)}
            self._condition(concept_, self._days_ago(30, 6000), rng.choice(("active", "active", "resolved")))

    def _medication(self, concept: str, authored: date, status: str = "completed") -> None:
        rng = self.rng
        coding = rng.choice(self.lib.medications[concept])
        res: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.next_id("m"),
            "status": status,
            "intent": "order",
            "subject": self.ref,
            "authoredOn": authored.isoformat(),
        }
        if rng.random() < 0.3:  # the shared formulary entry, in Medication.ndjson
            res["medicationReference"] = {"reference": f"Medication/rx{coding['code']}"}
        else:
            text = {"text": coding["display"]} if "display" in coding else {}
            res["medicationCodeableConcept"] = {"coding": [coding], **text}
        self.out["MedicationRequest"].append(res)

    def _medications(self) -> None:
        rng = self.rng
        if self.story in ("escc", "esophageal"):
            start = rng.randint(40, 400)  # first-line chemotherapy, cycles ending 40+ days ago (the 28-day washout)
            if rng.random() < 0.1:
                start = rng.randint(5, 27)  # still on chemotherapy: fails the washout
            for cycle in range(rng.randint(2, 6)):
                day = AS_OF - timedelta(days=start + 21 * cycle)
                self._medication("platinum-chemotherapy", day)
                self._medication(rng.choice(("fluoropyrimidine", "taxane")), day)
            if rng.random() < 0.08:
                self._medication("anti-vegf", self._days_ago(60, 600))
        if self.vte or (self.story == "sick" and rng.random() < 0.15):
            self._medication("anticoagulant", self._days_ago(1, 300), rng.choice(("active", "completed", "stopped")))
        for _ in range(rng.choice((0, 0, 1, 2, 3, 4, 5))):
            self.out["MedicationRequest"].append({
                "resourceType": "MedicationRequest", "id": self.next_id("m"),
                "status": rng.choice(("active", "completed", "stopped", "cancelled")), "intent": "order",
                "subject": self.ref, "authoredOn": self._days_ago(1, 2000).isoformat(),
                "medicationCodeableConcept": {"text": rng.choice(NOISE_MEDICATIONS_TEXT)},
            })  # fmt: skip

    def _procedures(self) -> None:
        rng = self.rng
        if rng.random() < (0.08 if self.story in ("escc", "esophageal", "sick") else 0.01):
            coding = rng.choice(self.lib.procedures["blood-transfusion"])
            code = {"coding": [coding]} if rng.random() < 0.9 else {"text": "Transfusion of 2 units packed red cells"}
            self.out["Procedure"].append({
                "resourceType": "Procedure", "id": self.next_id("x"), "status": "completed", "code": code,
                "subject": self.ref, "performedDateTime": self._days_ago(1, 120).isoformat(),
            })  # fmt: skip
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            self.out["Procedure"].append({
                "resourceType": "Procedure", "id": self.next_id("x"), "status": "completed",
                "code": rng.choice(NOISE_PROCEDURES), "subject": self.ref,
                "performedDateTime": self._days_ago(20, 3000).isoformat(),
            })  # fmt: skip

    def _allergy(self) -> None:
        text = "Apatinib" if self.story == "escc" and self.rng.random() < 0.2 else self.rng.choice(
            ("Penicillin", "Sulfonamide antibiotic", "Peanut", "Latex"))
        self.out["AllergyIntolerance"].append({
            "resourceType": "AllergyIntolerance", "id": self.next_id("a"), "patient": self.ref, "code": {"text": text},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                           "code": "active"}]},
        })  # fmt: skip

    # -------------------------------------------------------------- observations
    def _observations(self) -> None:
        rng = self.rng
        mu = {"escc": 4.2, "esophageal": 4.1, "sick": 4.5, "general": 3.65}[self.story]
        target = min(600, max(3, int(rng.lognormvariate(mu, 0.75))))  # long tail: mean ~70 overall
        recent = self.story == "escc" or rng.random() < 0.3
        # visit dates: newest first; the ESCC patients (and a third of the others) were seen within 30 days
        day = rng.randint(1, 25) if recent else rng.randint(31, 400)
        n = 0
        while n < target:
            when = AS_OF - timedelta(days=day)
            hour = rng.randint(6, 17)
            stamp = f"{when.isoformat()}T{hour:02d}:{rng.randint(0, 59):02d}:00Z"
            n += self._visit(stamp, first=(n == 0))
            day += rng.randint(3, 60) if self.story != "general" else rng.randint(20, 200)

    def _visit(self, stamp: str, first: bool) -> int:
        rng, before = self.rng, len(self.out["Observation"])
        escc = self.story == "escc"
        self._cbc(stamp, escc and first)
        self._chemistry(stamp, escc and first)
        if (escc and first) or rng.random() < 0.25:
            self._coagulation(stamp, escc and first)
        if rng.random() < 0.7 or (escc and first):
            self._vitals(stamp, escc and first)
        if (escc and first) or (self.story in ("escc", "esophageal") and rng.random() < 0.3):
            self._oncology(stamp)
        for _ in range(rng.choice((0, 1, 2, 3))):
            self._noise_lab(stamp)
        return len(self.out["Observation"]) - before

    def _obs(self, code: dict[str, Any], stamp: str, value: float | None, unit: str | None,
             ref_high: float | None = None, ref_low: float | None = None, category: str = "laboratory",
             ucum: str | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
        rng = self.rng
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.next_id("o"),
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
            "code": code,
            "subject": self.ref,
            "effectiveDateTime": stamp,
        }
        quirk = rng.random()
        if quirk < 0.01:
            res["status"] = "entered-in-error"
        elif quirk < 0.03:
            res["status"] = "preliminary"
        elif quirk < 0.04:
            res["status"] = "amended"
        if value is not None:
            if quirk > 0.99:  # unitless
                res["valueQuantity"] = {"value": value}
            else:
                res["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": ucum or unit}
            if ref_high is not None and rng.random() > 0.05:
                rr: dict[str, Any] = {"high": {"value": ref_high, "unit": unit, "system": UCUM, "code": ucum or unit}}
                if ref_low is not None:
                    rr["low"] = {"value": ref_low, "unit": unit, "system": UCUM, "code": ucum or unit}
                res["referenceRange"] = [rr]
        res.update(extra)
        self.out["Observation"].append(res)
        return res

    def _loinc(self, concept: str, index: int | None = None) -> dict[str, Any]:
        codes = self.lib.observations[concept]
        return {"coding": [self.rng.choice(codes) if index is None else codes[index]]}

    def _value(self, mean: float, sd: float, good: bool, low: float | None = None, high: float | None = None,
               digits: int = 1) -> float:  # fmt: skip
        v = self.rng.gauss(mean, sd)
        if good:  # the ESCC story's latest labs: inside the limits the trials read, most of the time
            if low is not None:
                v = max(v, low)
            if high is not None:
                v = min(v, high)
        return round(max(v, mean * 0.1), digits)

    def _unit_style(self) -> str:
        return self.rng.choice(("us", "si", "eu")) if self.lab_style == "mixed" else self.lab_style

    def _cbc(self, stamp: str, good: bool) -> None:
        rng = self.rng
        style = self._unit_style()
        hb = self._value(13.0 if self.sex != "female" else 12.2, 1.8, good and rng.random() < 0.9, low=10.6)  # g/dL
        if style == "us":
            self._obs(self._loinc("hemoglobin", 0), stamp, hb, "g/dL", 17.5, 12.0)
        elif style == "si":
            self._obs(self._loinc("hemoglobin", 0), stamp, round(hb * 10), "g/L", 175, 120)
        else:
            self._obs(self._loinc("hemoglobin", 1), stamp, round(hb * 0.6206, 1), "mmol/L", 10.9, 7.4)
        plt = self._value(250, 70, good and rng.random() < 0.9, low=120, digits=0)  # 10*3/uL
        plt_code = self._loinc("platelets")
        if style == "us":
            unit = rng.choice(("10*3/uL", "K/uL"))
            self._obs(plt_code, stamp, plt, unit, 400, 150, ucum="10*3/uL" if unit == "K/uL" else None)
        elif style == "si":
            self._obs(plt_code, stamp, plt, "10*9/L", 400, 150)
        else:
            self._obs(plt_code, stamp, plt * 1000, "/uL", 400000, 150000)
        anc = self._value(4.2, 1.6, good and rng.random() < 0.9, low=3.2, digits=2)
        anc_code = self._loinc("neutrophils")
        if style == "us":
            self._obs(anc_code, stamp, anc, "10*3/uL", 7.5, 1.8)
        else:
            self._obs(anc_code, stamp, anc, "10*9/L", 7.5, 1.8)
        if rng.random() < 0.8:
            self._obs({"text": "White blood cell count"}, stamp, round(anc / 0.6, 1), "10*3/uL", 11.0, 4.0)

    def _chemistry(self, stamp: str, good: bool) -> None:
        rng = self.rng
        style = self._unit_style()
        male = self.sex == "male"
        uln_cr = 1.3 if male else 1.1
        cr = self._value(0.95 if male else 0.8, 0.25, good and rng.random() < 0.9, high=uln_cr - 0.05, digits=2)
        if style == "us":
            self._obs(self._loinc("creatinine", rng.choice((0, 0, 0, 1))), stamp, cr, "mg/dL", uln_cr, 0.6)
        else:
            unit = rng.choice(("umol/L", "umol/L", "µmol/L"))
            self._obs(self._loinc("creatinine", rng.choice((2, 2, 2, 3))), stamp, round(cr * 88.4), unit,
                      round(uln_cr * 88.4), 53, ucum="umol/L")
        if rng.random() < 0.8:
            bili = self._value(0.7, 0.35, good, high=1.4, digits=2)
            if style == "us":
                self._obs(self._loinc("bilirubin-total", 0), stamp, bili, "mg/dL", 1.2, 0.2)
            else:
                self._obs(self._loinc("bilirubin-total", 1), stamp, round(bili * 17.1), "umol/L", 21, 3)
        if rng.random() < 0.8:
            for concept in ("alt", "ast"):
                unit = "IU/L" if rng.random() < 0.2 else "U/L"
                self._obs(self._loinc(concept), stamp, self._value(26, 14, good, high=60, digits=0), unit, 40, 7,
                          ucum="U/L")
        if rng.random() < 0.5:
            self._obs({"text": "Albumin"}, stamp, self._value(4.0, 0.4, False), "g/dL", 5.0, 3.5)
        if rng.random() < 0.6:
            glucose = self._value(100, 25, good, high=150, digits=0)  # mg/dL
            fasting = rng.random() < 0.6 or good
            if not fasting:
                partial = {"coding": [rng.choice(self.lib.partial_observations["fasting-glucose"])]}
                self._obs(partial, stamp, glucose, "mg/dL", 140, 70)
            elif style == "us":
                self._obs(self._loinc("fasting-glucose", 0), stamp, glucose, "mg/dL", 99, 70)
            else:
                self._obs(self._loinc("fasting-glucose", rng.choice((1, 2))), stamp, round(glucose / 18.02, 1),
                          "mmol/L", 5.5, 3.9)

    def _coagulation(self, stamp: str, good: bool) -> None:
        rng = self.rng
        inr = self._value(1.05, 0.2 if not self.vte else 0.8, good, high=1.25, digits=2)
        inr_unit = rng.choice(("{INR}", "1", None))
        self._obs(self._loinc("inr"), stamp, inr, inr_unit, 1.2, 0.8)
        self._obs(self._loinc("prothrombin-time"), stamp, self._value(12.5, 1.2, good, high=15.0), "s", 14.0, 11.0)
        self._obs(self._loinc("aptt"), stamp, self._value(31, 4, good, high=40), "s", 38.0, 25.0)
        if good or rng.random() < 0.3:
            self._obs(self._loinc("thrombin-time"), stamp, self._value(16, 2, good, high=20), "s", 21.0, 14.0)
            fbg = self._value(3.0, 0.7, good, low=2.1, digits=2)
            if rng.random() < 0.7:
                self._obs(self._loinc("fibrinogen"), stamp, fbg, "g/L", 4.0, 2.0)
            else:
                self._obs(self._loinc("fibrinogen"), stamp, round(fbg * 100), "mg/dL", 400, 200)

    def _vitals(self, stamp: str, good: bool) -> None:
        rng = self.rng
        sys_bp = int(self._value(128, 16, good, high=138, digits=0))
        dia_bp = int(self._value(79, 10, good, high=88, digits=0))
        if rng.random() < 0.85:
            self._obs({"coding": [{"system": LOINC, "code": "85354-9",
                                   "display": "Blood pressure panel with all children optional"}]},
                      stamp, None, None, category="vital-signs", component=[
                          {"code": self._loinc("systolic-bp"),
                           "valueQuantity": {"value": sys_bp, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
                          {"code": self._loinc("diastolic-bp"),
                           "valueQuantity": {"value": dia_bp, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
                      ])  # fmt: skip
        else:
            self._obs(self._loinc("systolic-bp"), stamp, sys_bp, "mm[Hg]", category="vital-signs")
            self._obs(self._loinc("diastolic-bp"), stamp, dia_bp, "mm[Hg]", category="vital-signs")
        kg = self._value(74 if self.sex == "male" else 63, 13, good, low=50)
        if rng.random() < 0.2:
            self._obs(self._loinc("body-weight"), stamp, round(kg * 2.2046, 1), "lb", category="vital-signs",
                      ucum="[lb_av]")
        else:
            self._obs(self._loinc("body-weight"), stamp, kg, "kg", category="vital-signs")
        if rng.random() < 0.8:
            self._obs({"text": "Heart rate"}, stamp, self._value(76, 11, False, digits=0), "/min",
                      category="vital-signs")

    def _oncology(self, stamp: str) -> None:
        """ECOG, QTc, urine protein and (for women) a pregnancy test: the ESCC work-up."""
        rng = self.rng
        ecog = rng.choices((0, 1, 2, 3), weights=(40, 40, 15, 5))[0]
        answers = ("LA9622-7", "LA9623-5", "LA9624-3", "LA9625-0")
        if rng.random() < 0.5:
            self._obs(self._loinc("ecog"), stamp, None, None, category="survey", valueInteger=ecog)
        else:
            self._obs(self._loinc("ecog"), stamp, None, None, category="survey",
                      valueCodeableConcept={"coding": [{"system": LOINC, "code": answers[ecog]}]})
        qtc_high = 445 if self.sex == "male" else 460
        self._obs(self._loinc("qtc"), stamp, self._value(420, 18, rng.random() < 0.9, high=qtc_high, digits=0), "ms",
                  category="procedure")
        dip = rng.choices(("Negative", "Trace", "1+", "++", "+++"), weights=(70, 10, 10, 6, 4))[0]
        self._obs(self._loinc("urine-protein-dipstick", 0), stamp, None, None, valueString=dip)
        if dip in ("++", "+++") or rng.random() < 0.3:
            self._obs(self._loinc("urine-protein-24h"), stamp, self._value(0.3, 0.4, False, digits=2), "g/(24.h)")
        if self.sex == "female" and self.age < 55:
            answer = "Negative" if rng.random() < 0.97 else "Positive"
            self._obs(self._loinc("pregnancy-test"), stamp, None, None, valueString=answer)

    def _noise_lab(self, stamp: str) -> None:
        rng = self.rng
        if rng.random() < 0.45:
            code, display, unit, mean, sd = rng.choice(NOISE_LABS_CODED)
            self._obs({"coding": [{"system": LOINC, "code": code, "display": display}]}, stamp,
                      self._value(mean, sd, False), unit)
        elif rng.random() < 0.1:
            self._obs({"coding": [{"system": LOINC, "code": "72166-2", "display": "Tobacco smoking status"}]}, stamp,
                      None, None, category="social-history",
                      valueCodeableConcept={"text": rng.choice(("Never smoker", "Former smoker", "Current smoker"))})
        else:
            text, unit, mean, sd = rng.choice(NOISE_LABS_TEXT)
            self._obs({"text": text}, stamp, self._value(mean, sd, False), unit)


def patient_resources(lib: Library, seed: int, index: int) -> dict[str, list[dict[str, Any]]]:
    """The resources of patient ``index`` of the population ``seed``, by resource type (deterministic)."""
    return _Patient(lib, seed, index).build()


def formulary(lib: Library) -> Iterator[dict[str, Any]]:
    """The Medication resources the MedicationRequests reference (`Medication/rx<RxNorm code>`), shared by all."""
    for code, display in lib.formulary:
        coding = {"system": RXNORM, "code": code, **({"display": display} if display else {})}
        yield {"resourceType": "Medication", "id": f"rx{code}", "code": {"coding": [coding], "text": display or code}}


# ---------------------------------------------------------------------------------------- writing


class _Files:
    """The NDJSON files of one resource type; each line goes to a random one of them."""

    def __init__(self, directory: Path, resource_type: str, count: int, gzip_some: bool) -> None:
        self.handles: list[IO[bytes]] = []
        self.paths: list[Path] = []
        for n in range(count):
            name = resource_type if n == 0 else f"{resource_type}.{n + 1}"
            compressed = gzip_some and (n % 2 == 1 or (count == 1 and resource_type in ("Condition", "Procedure")))
            path = directory / (f"{name}.ndjson.gz" if compressed else f"{name}.ndjson")
            handle: IO[bytes] = gzip.open(path, "wb", compresslevel=1) if compressed else path.open("wb")  # noqa: SIM115
            self.handles.append(handle)
            self.paths.append(path)
        self.buffers: list[list[bytes]] = [[] for _ in range(count)]

    def add(self, rng: random.Random, line: bytes) -> None:
        self.buffers[rng.randrange(len(self.buffers))].append(line)

    def flush(self, rng: random.Random) -> None:
        for handle, buffer in zip(self.handles, self.buffers, strict=True):
            rng.shuffle(buffer)
            if buffer:
                handle.write(b"\n".join(buffer) + b"\n")
            buffer.clear()

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def file_counts(patients: int, files_per_type: int | None, lines_per_file: int = LINES_PER_FILE) -> dict[str, int]:
    """How many files each resource type is split into."""
    counts = {}
    for resource_type in TYPES:
        expected = patients * MEAN_LINES[resource_type]
        counts[resource_type] = files_per_type or max(1, math.ceil(expected / lines_per_file))
        if resource_type == "Medication":
            counts[resource_type] = 1
    return counts


def generate(directory: Path, patients: int, *, seed: int = 0, files_per_type: int | None = None,
             gzip_some: bool = False, chunk: int = CHUNK_PATIENTS) -> dict[str, int]:  # fmt: skip
    """Write a population of ``patients`` as a Bulk Data export into ``directory``; the lines per resource type.

    ``files_per_type`` forces the number of files per type (else ~200k lines a file); ``gzip_some`` writes every
    other file of a type (and Condition, Procedure) as ``.ndjson.gz``. Patients are made in chunks of ``chunk``, in
    a shuffled chunk order; each chunk's lines are spread at random over the type's files and shuffled in each.
    """
    _check_noise_codes()
    lib = Library()
    directory.mkdir(parents=True, exist_ok=True)
    for old in list(directory.glob("*.ndjson")) + list(directory.glob("*.ndjson.gz")):
        old.unlink()
    rng = random.Random(f"files:{seed}")
    counts = dict.fromkeys(TYPES, 0)
    files = {t: _Files(directory, t, n, gzip_some) for t, n in file_counts(patients, files_per_type).items()}
    try:
        for medication in formulary(lib):
            files["Medication"].add(rng, _dumps(medication))
            counts["Medication"] += 1
        starts = list(range(0, patients, chunk))
        rng.shuffle(starts)
        for start in starts:
            for index in range(start, min(start + chunk, patients)):
                for resource_type, resources in patient_resources(lib, seed, index).items():
                    out = files[resource_type]
                    for res in resources:
                        out.add(rng, _dumps(res))
                    counts[resource_type] += len(resources)
            for out in files.values():
                out.flush(rng)
    finally:
        for out in files.values():
            out.close()
    for resource_type in TYPES:  # a type with no line at all is not exported
        if counts[resource_type] == 0:
            for path in files[resource_type].paths:
                path.unlink()
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files-per-type", type=int, default=None)
    parser.add_argument("--gzip-some", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts = generate(args.out, args.patients, seed=args.seed, files_per_type=args.files_per_type,
                      gzip_some=args.gzip_some)
    elapsed = time.perf_counter() - start
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    files = sorted(p.name for p in args.out.iterdir() if ".ndjson" in p.name)
    print(f"{args.patients:,} patients -> {args.out} in {elapsed:.1f} s ({args.patients / elapsed:,.0f} patients/s), "
          f"{size / 1e6:,.1f} MB in {len(files)} files", file=sys.stderr)
    for resource_type, n in counts.items():
        print(f"  {resource_type:<20} {n:>12,}  ({n / max(args.patients, 1):.1f} per patient)", file=sys.stderr)


if __name__ == "__main__":
    main()
