"""Shared by the engine tests: the fixture patients evaluated for the catalog's trials, and builders for small
EvidenceVariables that are not ours (the engine is generic).

Fixtures: fixtures/patients/*.json (their README gives each story and the expected verdicts), evaluated as of
2026-11-01 through `facts_from_bundle` + `evaluate_trial` + `report_json`, exactly as the CLI does.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.catalog import bundled_mappings
from adapter.eligibility.engine import EngineOptions, evaluate
from adapter.eligibility.facts import PatientFacts, facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.render.report import report_json
from adapter.units import load_unit_table
from tests.support import fhir

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog
    from adapter.units import UnitTable

AS_OF = date(2026, 11, 1)
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "patients"
T787251 = "NCT03787251"
T629 = "NCT03320629"
TRIALS = (T787251, T629)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
# The units table the installation ships (an immutable value): the generic patients' units are read with it.
UNITS = load_unit_table((bundled_mappings() / "units.yaml").read_text(encoding="utf-8"), "bundled units.yaml")


# ------------------------------------------------------------------------------ the fixture patients


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


class Reports:
    """The JSON reports of fixture patients for the catalog's trials (the `reports` fixture).

    Each fixture's report is computed once per session and handed out as a fresh copy: tests may not share
    mutations.
    """

    def __init__(self, catalog: TrialCatalog) -> None:
        self.catalog = catalog
        self.units: UnitTable = catalog.units
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, name: str, nct: str) -> dict[str, Any]:
        key = (name, nct)
        if key not in self._cache:
            self._cache[key] = json.dumps(self.of(load(name), nct))
        return json.loads(self._cache[key])

    def of(self, bundle: dict[str, Any], nct: str, as_of: date = AS_OF) -> dict[str, Any]:
        return report_json(evaluate_trial(self.catalog.get(nct), facts_from_bundle(bundle, self.units), as_of))

    def result(self, name: str, nct: str, cid: str) -> tuple[str, str]:
        c = criterion(self(name, nct), cid)
        return c["result"], c["reason"]


def criterion(rep: dict[str, Any], cid: str) -> dict[str, Any]:
    found = [c for c in rep["criteria"] if c["id"] == cid]
    assert len(found) == 1, f"{cid} not in {[c['id'] for c in rep['criteria']]}"
    return found[0]


def refs(c: dict[str, Any]) -> list[str]:
    return [e["reference"] for e in c["evidence"]]


def resource(bundle: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == rid)


def variant(name: str, **changes: Any) -> dict[str, Any]:
    """A fixture with some values changed: `<observation id>=value`, or birthDate=..."""
    bundle = copy.deepcopy(load(name))
    for key, value in changes.items():
        if key == "birthDate":
            bundle["entry"][0]["resource"]["birthDate"] = value
            continue
        rid = key.replace("_", "-")
        res = resource(bundle, rid)
        if isinstance(value, dict):
            res["valueQuantity"] = value
        else:
            res["valueQuantity"]["value"] = value
    return bundle


def computable(rep: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["result"] for c in rep["criteria"] if c["result"] != "manual"}


# ---------------------------------------------------------------------- a generic EvidenceVariable

HBA1C = "4548-4"  # Hemoglobin A1c/Hemoglobin.total in Blood
BMI = "39156-5"  # Body mass index (BMI) [Ratio]
LIPASE = "3040-3"  # Lipase [Enzymatic activity/volume] in Serum or Plasma
SMOKING = "72166-2"  # Tobacco smoking status
CHOLESTEROL = "2093-3"  # Cholesterol [Mass/volume] in Serum or Plasma
T2DM = "44054006"  # Diabetes mellitus type 2
T1DM = "46635009"  # Diabetes mellitus type 1
SURGERY = "387713003"  # Surgical procedure
LAB = "2026-03-02T09:00:00Z"


def concept(system: str, code: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}], **({"text": text} if text else {})}


def lab_type(code: str, text: str) -> dict[str, Any]:
    return concept(LOINC, code, text)


def by_value(type_: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {"definitionByTypeAndValue": {"type": type_, **value}}


def qty(value: Any, code: str | None, comparator: str | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if comparator:
        q["comparator"] = comparator
    if code:
        q.update(system=UCUM, code=code)
    return q


def entry_of(kind: str, code: str, text: str) -> dict[str, Any]:
    category = {"condition": "439401001", "procedure": "71388002", "medication": "410942007",
                "allergy": "609328004"}[kind]
    return by_value(concept(SNOMED, category), valueCodeableConcept=concept(SNOMED, code, text))


def combo(code: str, *children: dict[str, Any], threshold: int | None = None, **extra: Any) -> dict[str, Any]:
    combination: dict[str, Any] = {"code": code, "characteristic": list(children)}
    if threshold is not None:
        combination["threshold"] = threshold
    return {"definitionByCombination": combination, **extra}


def lab(oid: str, code: str, value: Any, unit: str | None, when: str = LAB, **extra: Any) -> dict[str, Any]:
    return fhir.observation(oid, code, value, unit, subject="Patient/gp", when=when, **extra)


def generic_patient(*resources: dict[str, Any], gender: str = "female", birth: str = "1970-05-17") -> PatientFacts:
    patient = {"resourceType": "Patient", "id": "gp", "gender": gender, "birthDate": birth}
    return facts_from_bundle({"resourceType": "Bundle", "type": "collection",
                              "entry": [{"resource": r} for r in (patient, *resources)]}, UNITS)


GENERIC_AS_OF = date(2026, 3, 15)
GP_LABS = (
    lab("a1c", HBA1C, 7.2, "%"),
    lab("bmi", BMI, 31.4, "kg/m2"),
    lab("lipase", LIPASE, 150, "U/L", referenceRange=[{"high": {"value": 60, "unit": "U/L", "system": UCUM,
                                                                "code": "U/L"}}]),
    lab("chol", CHOLESTEROL, 212, "mg/dL"),
    {"resourceType": "Observation", "id": "smoking", "status": "final", "code": concept(LOINC, SMOKING),
     "subject": {"reference": "Patient/gp"}, "effectiveDateTime": LAB,
     "valueCodeableConcept": concept(LOINC, "LA18978-9", "Never smoker")},
    {"resourceType": "Condition", "id": "t2dm", "code": concept(SNOMED, T2DM, "Type 2 diabetes"),
     "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
     "subject": {"reference": "Patient/gp"}, "onsetDateTime": "2015-01-01"},
    {"resourceType": "Procedure", "id": "surgery", "status": "completed", "code": concept(SNOMED, SURGERY, "Surgery"),
     "subject": {"reference": "Patient/gp"}, "performedDateTime": "2026-02-20"},
)


def run(*characteristics: dict[str, Any], facts: Any = None, options: EngineOptions | None = None,
        as_of: date = GENERIC_AS_OF) -> list[tuple[str, str]]:
    variable = {"resourceType": "EvidenceVariable", "status": "active",
                "characteristic": [{"linkId": f"c{i}", **c} for i, c in enumerate(characteristics)]}
    evaluation = evaluate(variable, facts or generic_patient(*GP_LABS), as_of, options)
    return [(c.result, c.reason) for c in evaluation.criteria]


def results(*characteristics: dict[str, Any], **kwargs: Any) -> list[str]:
    return [r for r, _ in run(*characteristics, **kwargs)]


A1C_BELOW_8 = by_value(lab_type(HBA1C, "HbA1c"), valueQuantity=qty(8, "%", "<"))  # 7.2: pass
A1C_BELOW_7 = by_value(lab_type(HBA1C, "HbA1c"), valueQuantity=qty(7, "%", "<"))  # 7.2: fail
NO_LDL = by_value(lab_type("13457-7", "LDL"), valueQuantity=qty(100, "mg/dL", "<"))  # no result: unknown
MANUAL = {"description": "Investigator judgement", "note": [{"text": "a person decides"}]}
