"""Every trial Bundle (R5 and R4) and the R5 evaluation results pass the official HL7 validator with zero errors.

The validator runs offline (tools/fhir-validator, through tests/support/fhir_validator.py). The engine does not
take conformance resources from the instance it validates, so the trial Bundles are also given as
``definitions=``: they carry the project's own StructureDefinitions (the extension record-entry-reading, in R5
and R4, and the R4 extension r5-definition-by-combination) and CodeSystem (derived-measure). Each version is one
validator call: the trial Bundles, the evaluation results (R5: two fixture patients against every trial, as of
2026-11-01) and a few deliberately broken copies that show the checks are live (the definitions are in effect, the
extension context is checked). Warnings are limited to an explicit allow-list of kinds, so a new kind fails here.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.fhir_build import build_bundle
from adapter.fhir_build.common import DERIVED_CODE_SYSTEM
from adapter.fhir_build.definitions import (
    RECORD_ENTRY_EXTENSION,
    RECORD_ENTRY_SETTLES_EXTENSION,
    r5_combination_extension_definition,
)
from adapter.fhir_build.r4 import R5_COMBINATION_EXTENSION
from adapter.render.fhir import evaluation_bundle
from tests.support.fhir_validator import Issue, ValidationResult, format_issues, validate_files
from tests.support.trials import CATALOG

pytestmark = [pytest.mark.validator, pytest.mark.java]

TRIALS = CATALOG.ids
AS_OF = date(2026, 11, 1)

REPO = Path(__file__).resolve().parents[2]
#: Patient records (R4 Bundles) whose evaluations against every trial are validated as R5.
PATIENTS = ("p-eligible-us-units", "p-prior-bevacizumab")


def _patient(name: str) -> dict[str, Any]:
    return json.loads((REPO / "fixtures" / "patients" / f"{name}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Known:
    """One allowed kind of warning: the engine's message id and a pattern its message must match."""

    kind: str
    message_id: str
    pattern: str

    def matches(self, issue: Issue) -> bool:
        return issue.message_id == self.message_id and re.search(self.pattern, issue.message) is not None


def unknown_code_system(kind: str, system: str) -> Known:
    """The engine cannot check codes of the code system(s) matched by ``system`` (a regex) offline."""
    return Known(
        kind, "Terminology_PassThrough_TX_Message", rf"^CodeSystem is unknown and can't be validated: {system} for "
    )


def no_code(kind: str, value_set: str) -> Known:
    """A CodeableConcept bound (extensible/preferred) to ``value_set`` that has only text, no code."""
    return Known(
        kind,
        "Terminology_TX_Code_ValueSet_Ext",
        rf"^No code provided, .* \(http://hl7\.org/fhir/ValueSet/{value_set}\|",
    )


UCUM_ANNOTATION = Known(
    "UCUM annotation such as {score} or {ULN} (best practice)",
    "TYPE_SPECIFIC_CHECKS_DT_QTY_UCUM_ANNOTATIONS",
    r"^UCUM Codes that contain human readable annotations like \{",
)
# The code systems of the concept library's value sets (mappings/concepts-*.yaml) that the validator has no
# definition of offline, named one by one: RxNorm, ATC, WHO ICD-10, ICD-10-CM, CPT, ICD-10-PCS, HCPCS.
VALUE_SET_SYSTEMS = (
    r"http://www\.nlm\.nih\.gov/research/umls/rxnorm|http://www\.whocc\.no/atc|http://hl7\.org/fhir/sid/icd-10"
    r"|http://hl7\.org/fhir/sid/icd-10-cm|http://www\.ama-assn\.org/go/cpt|http://www\.cms\.gov/Medicare/Coding/ICD10"
    r"|https?://www\.cms\.gov/Medicare/Coding/HCPCSReleaseCodeSets"
)
IDENTIFIER_TYPE = no_code("identifier without a type code", "identifier-type")
JURISDICTION = no_code("jurisdiction as text only", "jurisdiction")

#: Allowed warning kinds, per FHIR version. Anything else is a new problem and fails the test.
KNOWN_WARNINGS: dict[str, list[Known]] = {
    "R4": [
        unknown_code_system("LOINC cannot be checked offline", r"http://loinc\.org"),
        # R5 code systems R4 has no definition of, and a terminology.hl7.org code system that is not in the R4 core
        # package: named one by one, so a code system that becomes unknown tomorrow fails.
        unknown_code_system(
            "R5 code system in R4 content", r"http://hl7\.org/fhir/(study-design|characteristic-offset)"
        ),
        unknown_code_system(
            "THO research-study-arm-type not in the R4 core",
            r"http://terminology\.hl7\.org/CodeSystem/research-study-arm-type",
        ),
        unknown_code_system("value-set code systems cannot be checked offline", rf"({VALUE_SET_SYSTEMS})"),
        # record-entry-reading partial codes (valueCoding) in those code systems
        Known(
            "value-set coding not checkable (partial codes)",
            "TERMINOLOGY_TX_SYSTEM_UNSUPPORTED",
            rf"^The code cannot be checked because codeSystem '({VALUE_SET_SYSTEMS})' ",
        ),
        UCUM_ANNOTATION,
        IDENTIFIER_TYPE,
        JURISDICTION,
    ],
    "R5": [
        UCUM_ANNOTATION,
        IDENTIFIER_TYPE,
        JURISDICTION,
        # Evaluation result: Parameters.part.valueCoding (criterion codes) cannot be checked without a server.
        Known(
            "LOINC/SNOMED coding not checkable (evaluation codes)",
            "TERMINOLOGY_TX_SYSTEM_UNSUPPORTED",
            r"^The code cannot be checked because codeSystem 'http://(loinc\.org|snomed\.info/sct)' ",
        ),
        Known(
            "value-set coding not checkable (evaluation codes)",
            "TERMINOLOGY_TX_SYSTEM_UNSUPPORTED",
            rf"^The code cannot be checked because codeSystem '({VALUE_SET_SYSTEMS})' ",
        ),
    ],
}


@dataclass
class Run:
    version: str
    seconds: float
    trial_bundles: dict[str, ValidationResult]  # nct → result
    evaluations: dict[str, ValidationResult]  # "patient/nct" → result (R5 only)
    broken: dict[str, ValidationResult]  # case → result
    documents: dict[str, dict[str, Any]]  # file → what was written

    def valid_results(self) -> list[ValidationResult]:
        return [*self.trial_bundles.values(), *self.evaluations.values()]


def _write(directory: Path, name: str, resource: dict[str, Any], documents: dict[str, dict[str, Any]]) -> Path:
    path = directory / name
    path.write_text(json.dumps(resource, ensure_ascii=False, indent=1), encoding="utf-8")
    documents[str(path.resolve())] = resource
    return path


def _entries(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def _find(node: Any, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if predicate(node):
            found.append(node)
        for value in node.values():
            found.extend(_find(value, predicate))
    elif isinstance(node, list):
        for item in node:
            found.extend(_find(item, predicate))
    return found


def _broken_r4(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """R4 copies that must fail: the project's extension misused, and its definition with a bad context."""
    wrong_type = copy.deepcopy(bundle)
    uses = _find(wrong_type, lambda n: n.get("url") == R5_COMBINATION_EXTENSION and "valueString" in n)
    assert uses, "the R4 bundle no longer uses r5-definition-by-combination: pick another trial for this case"
    uses[0].pop("valueString")
    uses[0]["valueInteger"] = 1
    bad_context = r5_combination_extension_definition()
    bad_context["context"] = [{"type": "element", "expression": "EvidenceVariable.noSuchElement"}]
    bad_reading = copy.deepcopy(bundle)
    readings = _find(bad_reading, lambda n: n.get("url") == RECORD_ENTRY_EXTENSION and "extension" in n)
    assert readings, "the R4 bundle no longer uses record-entry-reading: pick another trial for this case"
    readings[0]["extension"].append({"url": "history", "valueString": "yes"})
    return {"extension_wrong_value_type": wrong_type, "definition_bad_context": bad_context,
            "record_entry_reading_wrong_value_type": bad_reading}


def _broken_r5(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An R5 copy that must fail: a code the project's own CodeSystem does not define."""
    unknown_code = copy.deepcopy(bundle)
    codings = _find(unknown_code, lambda n: n.get("system") == DERIVED_CODE_SYSTEM and "code" in n)
    assert codings, "the R5 bundle no longer uses the derived-measure CodeSystem: pick another trial for this case"
    codings[0]["code"] = "no-such-derived-measure"
    return {"derived_measure_unknown_code": unknown_code}


def _run(version: str, directory: Path) -> Run:
    documents: dict[str, dict[str, Any]] = {}
    bundles = {nct: build_bundle(CATALOG.get(nct), version) for nct in TRIALS}  # type: ignore[arg-type]
    trial_paths = {nct: _write(directory, f"{nct}-{version.lower()}.json", b, documents) for nct, b in bundles.items()}
    evaluation_paths: dict[str, Path] = {}
    if version == "R5":
        for patient in PATIENTS:
            facts = facts_from_bundle(_patient(patient), CATALOG.units)
            for nct in TRIALS:
                result = evaluation_bundle(evaluate_trial(CATALOG.get(nct), facts, AS_OF))
                path = _write(directory, f"evaluation-{patient}-{nct}.json", result, documents)
                evaluation_paths[f"{patient}/{nct}"] = path
    first = bundles[TRIALS[0]] if version == "R5" else next(
        b for b in bundles.values() if _find(b, lambda n: n.get("url") == RECORD_ENTRY_EXTENSION and "extension" in n)
    )
    broken = _broken_r4(first) if version == "R4" else _broken_r5(first)
    broken_paths = {case: _write(directory, f"broken-{case}.json", r, documents) for case, r in broken.items()}

    paths = [*trial_paths.values(), *evaluation_paths.values(), *broken_paths.values()]
    started = time.monotonic()
    results = validate_files(paths, version, definitions=list(trial_paths.values()))
    seconds = time.monotonic() - started
    assert [Path(r.file) for r in results] == [p.resolve() for p in paths], "one result per file, in order"
    by_path = {Path(r.file): r for r in results}
    print(f"\n{version}: {len(paths)} files validated in one call, {seconds:.1f} s")
    return Run(
        version=version,
        seconds=seconds,
        trial_bundles={nct: by_path[p.resolve()] for nct, p in trial_paths.items()},
        evaluations={key: by_path[p.resolve()] for key, p in evaluation_paths.items()},
        broken={case: by_path[p.resolve()] for case, p in broken_paths.items()},
        documents=documents,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    return {v: _run(v, tmp_path_factory.mktemp(f"validation-{v.lower()}")) for v in ("R5", "R4")}


VERSIONS = ["R5", "R4"]


def test_there_are_trials() -> None:
    assert len(TRIALS) >= 2, TRIALS


def test_r4_bundles_carry_the_project_definitions() -> None:
    """What definitions= relies on: the Bundles hold the project's own conformance resources."""
    for nct in TRIALS:
        r4 = build_bundle(CATALOG.get(nct), "R4")
        assert [sd["url"] for sd in _entries(r4, "StructureDefinition")] == [
            RECORD_ENTRY_EXTENSION, RECORD_ENTRY_SETTLES_EXTENSION, R5_COMBINATION_EXTENSION]
        r5 = build_bundle(CATALOG.get(nct), "R5")
        assert [sd["url"] for sd in _entries(r5, "StructureDefinition")] == [
            RECORD_ENTRY_EXTENSION, RECORD_ENTRY_SETTLES_EXTENSION]
        for version in VERSIONS:
            bundle = build_bundle(CATALOG.get(nct), version)  # type: ignore[arg-type]
            assert [cs["url"] for cs in _entries(bundle, "CodeSystem")] == [DERIVED_CODE_SYSTEM]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_validator_saw_every_entry(runs: dict[str, Run], version: str) -> None:
    """An empty or partial run cannot pass: the engine reports each resource it validated."""
    run = runs[version]
    for result in run.valid_results():
        document = run.documents[str(Path(result.file).resolve())]
        assert result.resource_type == "Bundle" and "Bundle" in result.validated, result.label()
        seen = {
            int(m.group(1))
            for path in result.validated
            if (m := re.match(r"^Bundle\.entry\[(\d+)\]\.resource(?:/|$)", path))
        }
        assert seen == set(range(len(document["entry"]))), f"{result.label()}: validated {result.validated}"
        assert len(document["entry"]) >= 2


@pytest.mark.parametrize("version", VERSIONS)
def test_trial_bundles_have_no_errors(runs: dict[str, Run], version: str) -> None:
    results = list(runs[version].trial_bundles.values())
    assert len(results) == len(TRIALS)
    assert all(not r.errors for r in results), format_issues(results)


def test_r5_evaluation_results_have_no_errors(runs: dict[str, Run]) -> None:
    results = list(runs["R5"].evaluations.values())
    assert len(results) == len(TRIALS) * len(PATIENTS)
    assert all(not r.errors for r in results), format_issues(results)


@pytest.mark.parametrize("version", VERSIONS)
def test_warnings_are_known_kinds(runs: dict[str, Run], version: str) -> None:
    known = KNOWN_WARNINGS[version]
    counts: Counter[str] = Counter()
    unknown: list[str] = []
    for result in runs[version].valid_results():
        for issue in result.warnings:
            kind = next((k.kind for k in known if k.matches(issue)), None)
            if kind is None:
                unknown.append(f"{result.label()}: {issue}")
            else:
                counts[kind] += 1
    print(f"\n{version} warnings: " + "; ".join(f"{k}: {n}" for k, n in sorted(counts.items())))
    assert not unknown, "warnings of a kind not in KNOWN_WARNINGS:\n" + "\n".join(unknown)


def test_the_project_definitions_are_in_effect(runs: dict[str, Run]) -> None:
    """The broken copies fail, so the extension, its definition's context and the CodeSystem are really checked."""
    r4, r5 = runs["R4"].broken, runs["R5"].broken

    wrong_type = r4["extension_wrong_value_type"]
    # "The Extension '…r5-definition-by-combination' definition allows for the types [string] but found type integer"
    assert [i.message_id for i in wrong_type.errors] == ["Extension_EXT_Type"], format_issues([wrong_type])
    assert R5_COMBINATION_EXTENSION in wrong_type.errors[0].message

    bad_context = r4["definition_bad_context"]
    assert [i.message_id for i in bad_context.errors] == ["SD_CONTEXT_SHOULD_ELEMENT_NOT_FOUND"], format_issues(
        [bad_context]
    )
    assert "EvidenceVariable.noSuchElement" in bad_context.errors[0].message

    bad_reading = r4["record_entry_reading_wrong_value_type"]
    assert bad_reading.errors, format_issues([bad_reading])
    # a string where the history sub-extension takes a boolean: "Boolean values must be 'true' or 'false'"
    assert all(".extension[0].extension[" in i.location for i in bad_reading.errors), format_issues([bad_reading])
    assert any("Boolean" in i.message or RECORD_ENTRY_EXTENSION in i.message for i in bad_reading.errors)

    unknown_code = r5["derived_measure_unknown_code"]
    assert [i.message_id for i in unknown_code.errors] == ["Terminology_PassThrough_TX_Message"], format_issues(
        [unknown_code]
    )
    assert "Unknown code" in unknown_code.errors[0].message
    assert "derived-measure#no-such-derived-measure" in unknown_code.errors[0].message
