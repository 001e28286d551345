"""What the emitted FHIR says: thresholds, codes, units, comparators, statuses, enrollment, arms and doses."""

from __future__ import annotations

import json

import pytest
from fhir.resources.bundle import Bundle as BundleR5
from fhir.resources.R4B.bundle import Bundle as BundleR4B

from adapter.catalog import TrialCatalog
from adapter.fhir_build import build_bundle, build_resources

pytestmark: list[pytest.MarkDecorator] = []

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def resources(catalog: TrialCatalog, nct: str, version: str = "R5") -> dict[str, dict]:
    built = build_resources(catalog.get(nct), version)  # type: ignore[arg-type]
    return {f"{r['resourceType']}/{r['id']}": r for r in built}


def characteristic(catalog: TrialCatalog, nct: str, criterion_id: str) -> dict:
    variable = resources(catalog, nct)[f"EvidenceVariable/{nct}-eligibility"]
    return next(c for c in variable["characteristic"] if c["linkId"] == criterion_id)


def leaves(c: dict) -> list[dict]:
    nested = (c.get("definitionByCombination") or {}).get("characteristic", [])
    return [c] if not nested else [leaf for child in nested for leaf in leaves(child)]


def quantity_of(catalog: TrialCatalog, nct: str, criterion_id: str, loinc: str) -> tuple[dict, dict]:
    for leaf in leaves(characteristic(catalog, nct, criterion_id)):
        by_type = leaf.get("definitionByTypeAndValue")
        if by_type and any(c["code"] == loinc for c in by_type["type"].get("coding", [])):
            return by_type, leaf
    raise AssertionError(f"{criterion_id} has no {loinc} item")


@pytest.mark.parametrize(
    ("nct", "criterion", "loinc", "alternates", "comparator", "value", "unit"),
    [
        ("NCT03787251", "inc-hemoglobin", "718-7", ["59260-0"], ">=", 90, "g/L"),
        ("NCT03320629", "inc-hemoglobin", "718-7", ["59260-0"], ">=", 100, "g/L"),
        ("NCT03787251", "inc-platelets", "777-3", ["26515-7"], ">=", 80, "10*9/L"),
        ("NCT03320629", "inc-platelets", "777-3", ["26515-7"], ">=", 100, "10*9/L"),
        ("NCT03787251", "inc-neutrophils", "751-8", ["26499-4", "753-4"], ">=", 1.5, "10*9/L"),
        ("NCT03320629", "inc-neutrophils", "751-8", ["26499-4", "753-4"], ">=", 3.0, "10*9/L"),
        ("NCT03787251", "exc-blood-pressure-cardiac", "8480-6", [], ">", 150, "mm[Hg]"),
        ("NCT03787251", "exc-blood-pressure-cardiac", "8462-4", [], ">", 100, "mm[Hg]"),
        ("NCT03320629", "exc-hypertension-cardiac", "8480-6", [], ">", 140, "mm[Hg]"),
        ("NCT03320629", "exc-hypertension-cardiac", "8462-4", [], ">", 90, "mm[Hg]"),
        ("NCT03787251", "exc-blood-pressure-cardiac", "8636-3", [], ">", 440, "ms"),
        ("NCT03787251", "exc-diabetes-control", "1558-6", [], ">", 10, "mmol/L"),
        ("NCT03787251", "exc-bleeding-coagulation", "5902-2", [], ">", 16, "s"),
        ("NCT03787251", "exc-bleeding-coagulation", "14979-9", ["3173-2"], ">", 43, "s"),
        ("NCT03787251", "exc-bleeding-coagulation", "3255-7", [], "<", 2, "g/L"),
        ("NCT03787251", "inc-renal-function", "2164-2", [], ">=", 60, "mL/min"),
        ("NCT03787251", "exc-proteinuria", "2889-4", [], ">", 1.0, "g/(24.h)"),
    ],
)
def test_thresholds_codes_units_comparators(catalog, nct, criterion, loinc, alternates, comparator, value, unit):
    by_type, _ = quantity_of(catalog, nct, criterion, loinc)
    codes = {(c["system"], c["code"]) for c in by_type["type"]["coding"]}
    assert {(LOINC, loinc), *((LOINC, a) for a in alternates)} <= codes
    q = by_type["valueQuantity"]
    assert (q["comparator"], q["value"], q["system"], q["code"]) == (comparator, value, UCUM, unit)


@pytest.mark.parametrize(
    ("nct", "criterion", "loinc", "comparator", "multiple"),
    [
        ("NCT03787251", "inc-bilirubin", "1975-2", "<=", 1.5),
        ("NCT03320629", "inc-bilirubin", "1975-2", "<", 1.5),
        ("NCT03787251", "inc-renal-function", "2160-0", "<=", 1.5),
        ("NCT03320629", "inc-renal-function", "38483-4", "<=", 1),
        ("NCT03320629", "inc-inr", "6301-6", "<", 1.5),
        ("NCT03320629", "exc-coagulation", "6301-6", ">", 1.5),
    ],
)
def test_uln_thresholds_use_the_offset(catalog, nct, criterion, loinc, comparator, multiple):
    by_type, _ = quantity_of(catalog, nct, criterion, loinc)
    assert by_type["offset"]["coding"][0] == {
        "system": "http://hl7.org/fhir/characteristic-offset",
        "code": "UNL",
        "display": "Upper Normal Limit",
    }
    assert (by_type["valueQuantity"]["comparator"], by_type["valueQuantity"]["value"]) == (comparator, multiple)


def test_alt_ast_conditional_on_liver_metastases(catalog):
    c = characteristic(catalog, "NCT03787251", "inc-alt-ast")
    assert c["definitionByCombination"]["code"] == "all-of"
    alt, ast = c["definitionByCombination"]["characteristic"]
    for branch, loinc in ((alt, "1742-6"), (ast, "1920-8")):
        assert branch["definitionByCombination"]["code"] == "any-of"
        plain, with_mets = branch["definitionByCombination"]["characteristic"]
        assert plain["definitionByTypeAndValue"]["valueQuantity"]["value"] == 2.5
        assert plain["definitionByTypeAndValue"]["type"]["coding"][0]["code"] == loinc
        mets, relaxed = with_mets["definitionByCombination"]["characteristic"]
        assert "94381002" in [c["code"] for c in mets["definitionByTypeAndValue"]["valueCodeableConcept"]["coding"]]
        assert relaxed["definitionByTypeAndValue"]["valueQuantity"]["value"] == 5


def test_kidney_logic_or_for_787251_and_for_629(catalog):
    c787 = characteristic(catalog, "NCT03787251", "inc-renal-function")["definitionByCombination"]
    c629 = characteristic(catalog, "NCT03320629", "inc-renal-function")["definitionByCombination"]
    assert c787["code"] == "any-of" and c629["code"] == "all-of"
    cg = c629["characteristic"][1]["definitionByTypeAndValue"]
    assert cg["type"]["coding"][0]["code"] == "creatinine-clearance-cockcroft-gault"
    assert (cg["valueQuantity"]["comparator"], cg["valueQuantity"]["value"], cg["valueQuantity"]["code"]) == (
        ">",
        50,
        "mL/min",
    )


def test_record_entries_carry_names_and_partial_codes(catalog):
    """Issue 9: the value set in coding, the names (display, then synonyms) as `;`-separated text, and the partial
    codes in the record-entry-reading extension — in R5 on the characteristic, and the same in R4."""
    from adapter.fhir_build.definitions import RECORD_ENTRY_EXTENSION

    concept = catalog.concepts.conditions["escc"]
    c = characteristic(catalog, "NCT03787251", "inc-escc-diagnosis")
    escc = c["definitionByCombination"]["characteristic"][0]
    value = escc["definitionByTypeAndValue"]["valueCodeableConcept"]
    assert value["text"].split("; ")[0] == concept.display
    assert set(concept.synonyms) <= set(value["text"].split("; "))
    (reading,) = [e for e in escc["extension"] if e["url"] == RECORD_ENTRY_EXTENSION]
    parts = [part for part in reading["extension"] if part["url"] == "partialCode"]
    partial = [{p["url"]: p for p in part["extension"]} for part in parts]
    assert len(partial) == len(concept.partial_codes) > 0
    assert {(p["coding"]["valueCoding"]["code"], p["missing"]["valueString"]) for p in partial} == {
        (code.code, code.missing) for code in concept.partial_codes}
    r4 = resources(catalog, "NCT03320629", "R4")["EvidenceVariable/NCT03320629-eligibility"]
    top = next(ch for ch in r4["characteristic"] if ch.get("description", "").startswith("Have received prior"))
    assert top["extension"][0]["url"] == RECORD_ENTRY_EXTENSION


def test_transfusion_look_back_is_anchored_on_the_blood_count(catalog):
    hb = characteristic(catalog, "NCT03787251", "inc-hemoglobin")["definitionByCombination"]["characteristic"]
    transfusion = hb[1]
    assert transfusion["exclude"] is True
    assert transfusion["definitionByTypeAndValue"]["valueCodeableConcept"]["coding"][0]["code"] == "116859006"
    window = transfusion["timeFromEvent"][0]
    assert window["eventId"] == "hb" and window["range"]["low"]["value"] == -14
    anchors = [
        w["eventId"]
        for w in characteristic(catalog, "NCT03320629", "inc-blood-count-no-transfusion")["definitionByCombination"][
            "characteristic"
        ][0]["timeFromEvent"]
    ]
    assert anchors == ["inc-hemoglobin", "inc-neutrophils", "inc-platelets"]


@pytest.mark.parametrize(("nct", "low", "high"), [("NCT03787251", 18, 75), ("NCT03320629", 18, 70)])
def test_age_and_ecog(catalog, nct, low, high):
    age = characteristic(catalog, nct, "inc-age")["definitionByTypeAndValue"]
    assert age["type"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "424144002",
        "display": "Current chronological age",
    }
    assert (age["valueRange"]["low"]["value"], age["valueRange"]["high"]["value"]) == (low, high)
    assert age["valueRange"]["low"]["code"] == "a"
    ecog = characteristic(catalog, nct, "inc-ecog")["definitionByTypeAndValue"]
    assert ecog["type"]["coding"][0]["code"] == "89247-1"
    assert ecog["valueRange"]["high"]["value"] == (1 if nct == "NCT03787251" else 2)


def test_sex_specific_qtc_for_629(catalog):
    c = characteristic(catalog, "NCT03320629", "exc-hypertension-cardiac")
    assert c["exclude"] is True
    qtc = c["definitionByCombination"]["characteristic"][2]["definitionByCombination"]["characteristic"]
    limits = {
        branch["definitionByCombination"]["characteristic"][0]["definitionByTypeAndValue"]["valueCodeableConcept"][
            "coding"
        ][0]["code"]: branch["definitionByCombination"]["characteristic"][1]["definitionByTypeAndValue"][
            "valueQuantity"
        ]["value"]
        for branch in qtc
    }
    assert limits == {"male": 450, "female": 470}


@pytest.mark.parametrize("nct", ["NCT03787251", "NCT03320629"])
def test_every_criterion_carries_its_source_text_and_manual_ones_say_why(catalog, nct):
    trial = catalog.get(nct)
    variable = resources(catalog, nct)[f"EvidenceVariable/{nct}-eligibility"]
    assert [c["linkId"] for c in variable["characteristic"]] == [c.id for c in trial.mapping.criteria]
    for c, criterion in zip(variable["characteristic"], trial.mapping.criteria, strict=True):
        assert c["description"] == criterion.text
        assert c["exclude"] is (criterion.type == "exclusion")
        if criterion.kind == "manual":
            assert criterion.manual in [n["text"] for n in c["note"]]
            if criterion.evidence or criterion.context:  # any-of: the manual item and the entries bearing on it
                manual, *entries = c["definitionByCombination"]["characteristic"]
                assert not any(k.startswith("definition") for k in manual)
                assert len(entries) == len(criterion.evidence or []) + len(criterion.context or [])
                assert all(e["modifierExtension"][0]["valueCode"] in ("absence", "neither") for e in entries)
            else:
                assert not any(k.startswith("definition") for k in c)


def test_research_study_r5_statuses_and_enrollment(catalog):
    withdrawn = resources(catalog, "NCT03787251")["ResearchStudy/NCT03787251"]
    terminated = resources(catalog, "NCT03320629")["ResearchStudy/NCT03320629"]
    assert withdrawn["identifier"][0] == {
        "use": "official",
        "system": "https://clinicaltrials.gov",
        "value": "NCT03787251",
    }
    assert withdrawn["identifier"][1]["value"] == "Nanjing Drum Tower Hospital"
    assert terminated["identifier"][1]["value"] == "HRA-E01"
    assert [s["state"]["coding"][0]["code"] for s in withdrawn["progressStatus"]] == ["withdrawn"]
    assert terminated["progressStatus"][-1]["state"]["coding"][0]["code"] == "terminated"
    assert terminated["period"] == {"start": "2017-11-01", "end": "2018-12-31"}
    assert withdrawn["recruitment"]["actualNumber"] == 0
    assert terminated["recruitment"]["actualNumber"] == 7
    assert "whyStopped" not in withdrawn and "whyStopped" not in terminated  # the records do not say why
    for study in (withdrawn, terminated):
        assert study["phase"]["coding"][0]["code"] == "phase-2"
        assert study["primaryPurposeType"]["coding"][0]["code"] == "treatment"
        assert {c["coding"][0]["code"] for c in study["studyDesign"]} >= {"SEVCO:01001", "SEVCO:01003", "SEVCO:01011"}
        assert study["recruitment"]["eligibility"]["reference"].startswith("EvidenceVariable/")
        assert study["protocol"][0]["reference"].startswith("PlanDefinition/")
    assert withdrawn["associatedParty"][0]["name"] == "Nanjing University"
    assert terminated["associatedParty"][0]["name"] == "Hebei Medical University Fourth Hospital"
    assert terminated["site"][0]["display"] == "Fourth Hospital of Hebei Medical University"
    assert terminated["condition"][0]["coding"][0]["code"] == "276804009"


def test_arms_and_doses(catalog):
    r = resources(catalog, "NCT03320629")
    study = r["ResearchStudy/NCT03320629"]
    assert [(g["name"], g["type"]["coding"][0]["code"]) for g in study["comparisonGroup"]] == [
        ("apatinib and S-1 radiotherapy", "experimental"),
        ("S-1 radiotherapy", "active-comparator"),
    ]
    apatinib = r["ActivityDefinition/NCT03320629-apatinib"]["dosage"][0]
    assert apatinib["doseAndRate"][0]["doseQuantity"] == {"value": 500, "unit": "mg", "system": UCUM, "code": "mg"}
    assert apatinib["timing"]["code"]["coding"][0]["code"] == "QD"
    assert apatinib["route"]["coding"][0]["code"] == "26643006"
    s1 = r["ActivityDefinition/NCT03320629-s1"]["dosage"][0]
    assert s1["doseAndRate"][0]["doseRange"]["low"]["value"] == 40
    assert s1["doseAndRate"][0]["doseRange"]["high"]["value"] == 60
    assert s1["timing"]["repeat"] == {
        "frequency": 2,
        "period": 1,
        "periodUnit": "d",
        "boundsDuration": {"value": 14, "unit": "days", "system": UCUM, "code": "d"},
    }
    rt = r["ActivityDefinition/NCT03320629-radiotherapy"]
    assert rt["kind"] == "ServiceRequest"
    assert rt["dosage"][0]["timing"]["repeat"] == {"count": 25, "countMax": 30}
    assert rt["dosage"][0]["doseAndRate"][0]["doseRange"]["high"] == {
        "value": 60,
        "unit": "Gy",
        "system": UCUM,
        "code": "Gy",
    }
    plan = r["PlanDefinition/NCT03320629-protocol"]
    assert plan["type"]["coding"][0]["code"] == "clinical-protocol"
    arms = plan["action"][0]["action"]
    s1_action = next(a for a in arms[0]["action"] if a["title"] == "S-1")
    assert s1_action["timingTiming"]["repeat"] == {"frequency": 1, "period": 21, "periodUnit": "d"}
    docetaxel = resources(catalog, "NCT03787251")["ActivityDefinition/NCT03787251-docetaxel"]["dosage"][0]
    assert docetaxel["doseAndRate"][0]["doseRange"]["low"] == {
        "value": 60,
        "unit": "mg/m2",
        "system": UCUM,
        "code": "mg/m2",
    }
    plan_787 = resources(catalog, "NCT03787251")["PlanDefinition/NCT03787251-protocol"]
    irinotecan = plan_787["action"][0]["action"][1]["action"][1]
    assert irinotecan["timingTiming"]["repeat"]["period"] == 14


def test_r4_shape(catalog):
    r = resources(catalog, "NCT03320629", "R4")
    study = r["ResearchStudy/NCT03320629"]
    assert study["status"] == "administratively-completed"
    assert resources(catalog, "NCT03787251", "R4")["ResearchStudy/NCT03787251"]["status"] == "withdrawn"
    assert study["enrollment"] == [{"reference": "Group/NCT03320629-enrollment"}]
    assert [a["name"] for a in study["arm"]] == ["apatinib and S-1 radiotherapy", "S-1 radiotherapy"]
    assert (
        study["arm"][0]["type"]["coding"][0]["system"]
        == "http://terminology.hl7.org/CodeSystem/research-study-arm-type"
    )
    recruitment = next(e for e in study["extension"] if e["url"].endswith("ResearchStudy.recruitment"))
    assert {"url": "actualNumber", "valueUnsignedInt": 7} in recruitment["extension"]
    group = r["Group/NCT03320629-enrollment"]
    age = next(c for c in group["characteristic"] if c["code"]["coding"][0]["code"] == "424144002")
    assert age["valueRange"]["high"]["value"] == 70
    variable = r["EvidenceVariable/NCT03320629-eligibility"]
    hb = next(c for c in variable["characteristic"] if c["description"] == "HB≥100g/L;")
    urls = [e["url"] for e in hb["extension"]]
    assert (
        "http://hl7.org/fhir/5.0/StructureDefinition/extension-EvidenceVariable.characteristic.definitionByTypeAndValue"
        in urls
    )
    assert hb["definitionCodeableConcept"]["coding"][0]["code"] == "718-7"
    combo = next(c for c in variable["characteristic"] if c["description"].startswith("ALT and AST"))
    carried = next(e for e in combo["extension"] if e["url"].endswith("r5-definition-by-combination"))
    assert json.loads(carried["valueString"])["code"] == "all-of"


@pytest.mark.parametrize("nct", ["NCT03787251", "NCT03320629"])
def test_bundle_is_conditional_stable_and_parses(catalog, nct):
    trial = catalog.get(nct)
    first, second = build_bundle(trial, "R5"), build_bundle(trial, "R5")
    assert first == second, "the same trial must give the same Bundle"
    assert first["type"] == "transaction"
    urls = [e["request"]["url"] for e in first["entry"]]
    assert urls[0] == f"ResearchStudy?identifier=https://clinicaltrials.gov|{nct}"
    assert all(e["request"]["method"] == "PUT" and "?identifier=" in e["request"]["url"] for e in first["entry"])
    assert len(set(urls)) == len(urls)
    full_urls = {e["fullUrl"] for e in first["entry"]}
    text = json.dumps(first)
    for ref in ("EvidenceVariable/", "PlanDefinition/", "Organization/"):
        assert f'"reference": "{ref}' not in text, "internal references must point at urn:uuid entries"
    study = first["entry"][0]["resource"]
    assert study["recruitment"]["eligibility"]["reference"] in full_urls
    BundleR5.model_validate(first)
    BundleR4B.model_validate(build_bundle(trial, "R4"))
