"""The offline HL7 validator harness is honest: it passes valid resources and fails invalid ones, R4 and R5.

Each version's cases go to the validator in one batch (one warm JVM per version, see tests/support), so the whole
module costs one validator start per version plus one one-shot command-line run.
"""

from __future__ import annotations

import copy
import json
import subprocess
from typing import Any

import pytest

from tests.support.fhir_validator import (
    JAR,
    ValidationResult,
    ensure_built,
    format_issues,
    run_once,
    validate,
)

pytestmark = [pytest.mark.validator, pytest.mark.java]

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">test</div>'}
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
XVER5 = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"


def _observation(unit_code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "hb",
        "text": NARRATIVE,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "718-7", "display": "Hemoglobin [Mass/volume] in Blood"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-01-15",
        "performer": [{"reference": "Organization/lab"}],
        "valueQuantity": {"value": 13.5, "unit": unit_code, "system": UCUM, "code": unit_code},
    }


def _transaction(*resources: dict[str, Any]) -> dict[str, Any]:
    entries = []
    for n, res in enumerate(resources):
        res = copy.deepcopy(res)
        res.pop("id", None)
        entries.append(
            {
                "fullUrl": f"urn:uuid:6f1c2a44-0000-4000-8000-{n:012d}",
                "resource": res,
                "request": {"method": "POST", "url": res["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "id": "tx", "type": "transaction", "entry": entries}


# ------------------------------------------------------------------------------------------------- R4 cases

R4_STUDY = {
    "resourceType": "ResearchStudy",
    "id": "nct03787251",
    "text": NARRATIVE,
    "identifier": [{"system": "https://clinicaltrials.gov", "value": "NCT03787251"}],
    "title": "Apatinib versus investigator's choice chemotherapy, recurrent or metastatic ESCC",
    "status": "withdrawn",
    "phase": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/research-study-phase", "code": "phase-2"}]},
    "enrollment": [{"reference": "Group/eligibility"}],
    "arm": [{"name": "apatinib", "description": "apatinib 500 mg po qd"}],
}

R4_CASES: dict[str, dict[str, Any]] = {
    "good_study": R4_STUDY,
    "good_observation_ucum": _observation("g/dL"),
    # R5 content carried in R4 the way the engine expects cross-version extensions: the R5 backbone element
    # as a complex extension with one sub-extension per child, or a leaf element's extension on its parent.
    "good_study_xver": {
        **R4_STUDY,
        "extension": [
            {
                "url": XVER5 + "ResearchStudy.recruitment",
                "extension": [
                    {"url": "eligibility", "valueReference": {"reference": "EvidenceVariable/ev"}},
                    {"url": "actualNumber", "valueUnsignedInt": 0},
                ],
            },
            {"url": XVER5 + "ResearchStudy.whyStopped", "valueCodeableConcept": {"text": "no participants"}},
        ],
    },
    "good_bundle": _transaction(R4_STUDY, _observation("10*9/L")),
    "bad_study_missing_status": {k: v for k, v in R4_STUDY.items() if k != "status"},
    "bad_study_status_code": {**R4_STUDY, "status": "bogus"},
    "bad_study_r5_element": {**R4_STUDY, "recruitment": {"targetNumber": 10}},
    "bad_observation_ucum": _observation("mmHg"),  # UCUM spells it mm[Hg]
    "bad_bundle_entry": _transaction(R4_STUDY, {**R4_STUDY, "status": "bogus"}),
    "bad_xver_unknown_element": {
        **R4_STUDY,
        "extension": [{"url": XVER5 + "ResearchStudy.noSuchElement", "valueString": "x"}],
    },
    "bad_xver_wrong_type": {
        **R4_STUDY,
        "extension": [{"url": XVER5 + "ResearchStudy.whyStopped", "valueString": "no participants"}],
    },
    "bad_unknown_extension": {
        **R4_STUDY,
        "extension": [{"url": "http://example.org/fhir/StructureDefinition/unknown", "valueString": "x"}],
    },
}

# ------------------------------------------------------------------------------------------------- R5 cases

R5_STUDY = {
    "resourceType": "ResearchStudy",
    "id": "nct03787251",
    "text": NARRATIVE,
    "identifier": [{"system": "https://clinicaltrials.gov", "value": "NCT03787251"}],
    "title": "Apatinib versus investigator's choice chemotherapy, recurrent or metastatic ESCC",
    "status": "active",
    "progressStatus": [
        {
            "state": {"coding": [{"system": "http://hl7.org/fhir/research-study-status", "code": "withdrawn"}]},
            "actual": True,
        }
    ],
    "whyStopped": {"text": "no participants"},
    "recruitment": {"targetNumber": 0, "actualNumber": 0, "eligibility": {"reference": "EvidenceVariable/eligibility"}},
    "comparisonGroup": [{"linkId": "apatinib", "name": "apatinib"}],
}

R5_ELIGIBILITY = {
    "resourceType": "EvidenceVariable",
    "id": "eligibility",
    "text": NARRATIVE,
    "status": "active",
    "actual": True,
    "characteristic": [
        {
            "description": "Hemoglobin >= 90 g/L",
            "definitionByTypeAndValue": {
                "type": {"coding": [{"system": LOINC, "code": "718-7"}]},
                "valueQuantity": {"value": 90, "comparator": ">=", "unit": "g/L", "system": UCUM, "code": "g/L"},
            },
        },
        {
            "description": "Creatinine <= 1.5 x ULN or creatinine clearance >= 60 mL/min",
            "definitionByCombination": {
                "code": "any-of",
                "characteristic": [
                    {
                        "description": "Creatinine <= 1.5 x ULN",
                        "definitionByTypeAndValue": {
                            "type": {"coding": [{"system": LOINC, "code": "2160-0"}]},
                            "valueQuantity": {"value": 1.5, "comparator": "<=", "system": UCUM, "code": "1"},
                            "offset": {"text": "upper limit of normal"},
                        },
                    },
                    {
                        "description": "Creatinine clearance >= 60 mL/min",
                        "definitionByTypeAndValue": {
                            "type": {"coding": [{"system": LOINC, "code": "2164-2"}]},
                            "valueQuantity": {
                                "value": 60,
                                "comparator": ">=",
                                "unit": "mL/min",
                                "system": UCUM,
                                "code": "mL/min",
                            },
                        },
                    },
                ],
            },
        },
        {"description": "HIV infection", "exclude": True, "definitionCodeableConcept": {"text": "HIV infection"}},
    ],
}

R5_CASES: dict[str, dict[str, Any]] = {
    "good_study": R5_STUDY,
    "good_eligibility": R5_ELIGIBILITY,
    "good_observation_ucum": _observation("10*9/L"),
    "good_bundle": _transaction(R5_STUDY, R5_ELIGIBILITY),
    "bad_study_status_code": {**R5_STUDY, "status": "bogus"},
    "bad_study_missing_status": {k: v for k, v in R5_STUDY.items() if k != "status"},
    "bad_study_r4_element": {**R5_STUDY, "enrollment": [{"reference": "Group/g"}]},
    "bad_eligibility_combination_code": {
        **R5_ELIGIBILITY,
        "characteristic": [
            {
                **R5_ELIGIBILITY["characteristic"][1],
                "definitionByCombination": {
                    **R5_ELIGIBILITY["characteristic"][1]["definitionByCombination"],
                    "code": "either",
                },
            }
        ],
    },
    "bad_observation_ucum": _observation("mmHg"),
    "bad_bundle_entry": _transaction(R5_STUDY, {k: v for k, v in R5_ELIGIBILITY.items() if k != "status"}),
}


def _run(cases: dict[str, dict[str, Any]], version: str) -> dict[str, ValidationResult]:
    results = validate(list(cases.values()), version)
    assert len(results) == len(cases)
    return dict(zip(cases, results, strict=True))


@pytest.fixture(scope="module")
def r4() -> dict[str, ValidationResult]:
    return _run(R4_CASES, "R4")


@pytest.fixture(scope="module")
def r5() -> dict[str, ValidationResult]:
    return _run(R5_CASES, "R5")


def _messages(result: ValidationResult) -> str:
    return "\n".join(f"{i.location}: {i.message} [{i.message_id}]" for i in result.errors)


def _assert_error(result: ValidationResult, *, at: str, containing: str) -> None:
    """At least one error whose location starts with ``at`` and whose message contains ``containing``."""
    hits = [i for i in result.errors if i.location.startswith(at) and containing in i.message]
    assert hits, f"expected an error at {at!r} containing {containing!r}; errors were:\n{_messages(result)}"


# ------------------------------------------------------------------------------------------------------ R4


@pytest.mark.parametrize("case", [c for c in R4_CASES if c.startswith("good_")])
def test_r4_valid_resources_have_no_errors(r4: dict[str, ValidationResult], case: str) -> None:
    result = r4[case]
    assert result.resource_type == R4_CASES[case]["resourceType"]
    assert result.errors == [], format_issues([result])


@pytest.mark.parametrize("case", [c for c in R4_CASES if c.startswith("bad_")])
def test_r4_invalid_resources_have_errors(r4: dict[str, ValidationResult], case: str) -> None:
    assert r4[case].errors, f"{case} passed the R4 validator:\n{format_issues([r4[case]], {'warning'})}"


def test_r4_error_details(r4: dict[str, ValidationResult]) -> None:
    _assert_error(
        r4["bad_study_missing_status"], at="ResearchStudy", containing="ResearchStudy.status: minimum required = 1"
    )
    _assert_error(r4["bad_study_status_code"], at="ResearchStudy.status", containing="bogus")
    _assert_error(r4["bad_study_r5_element"], at="ResearchStudy", containing="recruitment")
    _assert_error(r4["bad_observation_ucum"], at="Observation.value", containing="mmHg")
    _assert_error(r4["bad_bundle_entry"], at="Bundle.entry[1].resource", containing="bogus")
    _assert_error(r4["bad_xver_unknown_element"], at="ResearchStudy.extension[0]", containing="noSuchElement")
    _assert_error(r4["bad_xver_wrong_type"], at="ResearchStudy.extension[0]", containing="CodeableConcept")
    _assert_error(r4["bad_unknown_extension"], at="ResearchStudy.extension[0]", containing="could not be found")


def test_r4_only_the_bad_bundle_entry_is_blamed(r4: dict[str, ValidationResult]) -> None:
    assert all(i.location.startswith("Bundle.entry[1]") for i in r4["bad_bundle_entry"].errors)


# ------------------------------------------------------------------------------------------------------ R5


@pytest.mark.parametrize("case", [c for c in R5_CASES if c.startswith("good_")])
def test_r5_valid_resources_have_no_errors(r5: dict[str, ValidationResult], case: str) -> None:
    result = r5[case]
    assert result.resource_type == R5_CASES[case]["resourceType"]
    assert result.errors == [], format_issues([result])


@pytest.mark.parametrize("case", [c for c in R5_CASES if c.startswith("bad_")])
def test_r5_invalid_resources_have_errors(r5: dict[str, ValidationResult], case: str) -> None:
    assert r5[case].errors, f"{case} passed the R5 validator:\n{format_issues([r5[case]], {'warning'})}"


def test_r5_error_details(r5: dict[str, ValidationResult]) -> None:
    _assert_error(r5["bad_study_status_code"], at="ResearchStudy.status", containing="bogus")
    _assert_error(
        r5["bad_study_missing_status"], at="ResearchStudy", containing="ResearchStudy.status: minimum required = 1"
    )
    _assert_error(r5["bad_study_r4_element"], at="ResearchStudy", containing="enrollment")
    _assert_error(r5["bad_eligibility_combination_code"], at="EvidenceVariable.characteristic[0]", containing="either")
    _assert_error(r5["bad_observation_ucum"], at="Observation.value", containing="mmHg")
    _assert_error(r5["bad_bundle_entry"], at="Bundle.entry[1].resource", containing="EvidenceVariable.status")


# ------------------------------------------------------------------------------------- the command line itself


def test_command_line_one_shot_on_a_directory(tmp_path) -> None:
    """The plain `java -jar` run: a directory is searched recursively, one JSON document comes back."""
    (tmp_path / "nested").mkdir()
    (tmp_path / "good.json").write_text(json.dumps(R4_STUDY), encoding="utf-8")
    (tmp_path / "nested" / "bad.json").write_text(json.dumps({**R4_STUDY, "status": "bogus"}), encoding="utf-8")
    (tmp_path / "nested" / "ignored.txt").write_text("not json", encoding="utf-8")
    doc = run_once([tmp_path], "R4")
    assert doc["fhirVersion"] == "R4"
    assert doc["engine"]["terminologyServer"] is None
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in doc["results"]}
    assert sorted(by_name) == ["bad.json", "good.json"]
    assert not [i for i in by_name["good.json"]["issues"] if i["severity"] in {"error", "fatal"}]
    assert [i for i in by_name["bad.json"]["issues"] if i["severity"] == "error"]


def test_command_line_refuses_what_it_cannot_run(tmp_path) -> None:
    jar = ensure_built()
    assert jar == JAR
    missing = subprocess.run(
        ["java", "-jar", str(jar), "--fhir-version", "R4", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode != 0
    assert "no such file or directory" in missing.stderr
    assert missing.stdout == ""
    bad_version = subprocess.run(
        ["java", "-jar", str(jar), "--fhir-version", "R3", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad_version.returncode != 0
    assert "unsupported FHIR version" in bad_version.stderr


def test_r4_xver_leaf_of_a_new_r5_backbone_belongs_inside_its_parent_extension() -> None:
    """`extension-ResearchStudy.recruitment.eligibility` has context ResearchStudy.recruitment, absent in R4.

    Put on the ResearchStudy itself it is accepted with a warning only; the clean form is the parent's extension
    (`extension-ResearchStudy.recruitment`) with an `eligibility` sub-extension (case good_study_xver).
    """
    study = {
        **R4_STUDY,
        "extension": [
            {
                "url": XVER5 + "ResearchStudy.recruitment.eligibility",
                "valueReference": {"reference": "EvidenceVariable/ev"},
            }
        ],
    }
    [result] = validate([study], "R4")
    assert result.errors == [], format_issues([result])
    assert [i.message_id for i in result.warnings] == ["EXTENSION_EXTP_CONTEXT_WRONG_XVER"]


def test_a_failed_build_raises_with_mavens_output(tmp_path, monkeypatch) -> None:
    """No silent pass: when Maven cannot build the tool, ensure_built raises ValidatorUnavailable."""
    from importlib import import_module

    module = import_module(ensure_built.__module__)
    (tmp_path / "src").mkdir()
    (tmp_path / "pom.xml").write_text("<project>this is not a POM</project>", encoding="utf-8")
    monkeypatch.setattr(module, "TOOL_DIR", tmp_path)
    monkeypatch.setattr(module, "POM", tmp_path / "pom.xml")
    monkeypatch.setattr(module, "JAR", tmp_path / "target" / "fhir-validator.jar")
    with pytest.raises(module.ValidatorUnavailable, match=r"(?s)failed \(exit \d+\).*\S"):
        module.ensure_built()
