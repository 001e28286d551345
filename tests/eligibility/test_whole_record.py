"""Issue 17: the whole record decides — manual criteria read the record, the trial's own limits apply, the dead
are not candidates, and no entry a criterion names leaves a patient "potentially eligible".

The engine is generic, so the mechanisms are tested on small inline mappings and records; the readings of the two
seed trials are tested on the fixture p-eligible-us-units (every criterion passes or is manual) with one entry added.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from adapter.catalog import Trial
from adapter.ctgov.parse import parse_record
from adapter.eligibility.engine import evaluate
from adapter.eligibility.facts import facts_from_bundle
from adapter.evaluation import evaluate_trial
from adapter.fhir_build.definitions import RECORD_ENTRY_SETTLES_EXTENSION
from adapter.fhir_build.evidence_variable import build_evidence_variable
from adapter.mapping.model import TrialMapping
from adapter.render.report import report_json
from tests.eligibility.rules.helpers import AS_OF, SNOMED, concept, criterion, load, run
from tests.support.trials import CATALOG

pytestmark: list[pytest.MarkDecorator] = []

BASE = "p-eligible-us-units"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
DIAGNOSIS = concept(SNOMED, "439401001")


def with_entries(*resources: dict[str, Any], patient: dict[str, Any] | None = None) -> dict[str, Any]:
    bundle = copy.deepcopy(load(BASE))
    if patient:
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Patient":
                entry["resource"].update(patient)
    bundle["entry"] += [{"resource": {**r, "subject": {"reference": f"Patient/{BASE}"}}} for r in resources]
    return bundle


def report_of(bundle: dict[str, Any], trial: Trial | str, as_of: date = AS_OF) -> dict[str, Any]:
    trial = CATALOG.get(trial) if isinstance(trial, str) else trial
    return report_json(evaluate_trial(trial, facts_from_bundle(bundle, CATALOG.units), as_of))


def active_condition(rid: str, code: dict[str, Any], onset: str = "2026-09-01") -> dict[str, Any]:
    return {"resourceType": "Condition", "id": rid, "code": code, "onsetDateTime": onset,
            "clinicalStatus": concept(CLINICAL, "active")}


# ------------------------------------------------------------------- record-entry-settles, generic engine


def _flagged(settles: str, text: str = "Lactation") -> dict[str, Any]:
    return {
        "linkId": "c",
        "definitionByCombination": {"code": "any-of", "characteristic": [
            {"description": "Lactation is settled at enrollment",
             "note": [{"text": "Lactation is settled at enrollment"}]},
            {"definitionByTypeAndValue": {"type": DIAGNOSIS, "valueCodeableConcept": {"text": text}},
             "modifierExtension": [{"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": settles}]},
        ]},
    }


def test_evidence_for_a_manual_criterion_makes_it_unknown_and_cites_the_entry():
    entry = active_condition("bf", {"text": "Lactation"}, "2025-01-01") | {"subject": {"reference": "Patient/gp"}}
    from tests.eligibility.rules.helpers import generic_patient

    (with_entry,) = run(_flagged("absence"), facts=generic_patient(entry))
    (without,) = run(_flagged("absence"), facts=generic_patient())
    assert with_entry[0] == "unknown" and "Condition/bf" in with_entry[1] and "a person weighs it" in with_entry[1]
    assert without == ("manual", "Lactation is settled at enrollment; no Lactation recorded")


def test_context_is_cited_and_the_criterion_stays_manual():
    from tests.eligibility.rules.helpers import generic_patient

    entry = active_condition("bf", {"text": "Lactation"}, "2025-01-01") | {"subject": {"reference": "Patient/gp"}}
    (cited,) = run(_flagged("neither"), facts=generic_patient(entry))
    assert cited[0] == "manual" and "Lactation recorded" in cited[1]


def test_presence_settles_only_on_a_match():
    from tests.eligibility.rules.helpers import generic_patient

    gate = {"linkId": "g", "definitionByTypeAndValue": {"type": DIAGNOSIS, "valueCodeableConcept": {"text": "Gout"}},
            "modifierExtension": [{"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": "presence"}]}
    entry = active_condition("g1", {"text": "Gout"}, "2025-01-01") | {"subject": {"reference": "Patient/gp"}}
    assert run(gate, facts=generic_patient(entry))[0][0] == "pass"
    missing = run(gate, facts=generic_patient())[0]
    assert missing[0] == "unknown" and "may be recorded under other names or codes" in missing[1]


@pytest.mark.parametrize("modifier", [
    {"url": "http://example.org/other-modifier", "valueBoolean": True},
    {"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": "sometimes"},
])
def test_a_modifier_the_engine_does_not_know_is_never_evaluated(modifier):
    age = {"linkId": "a", "definitionByTypeAndValue": {
        "type": concept(SNOMED, "424144002"), "valueQuantity": {"value": 18, "comparator": ">=", "code": "a"}},
        "modifierExtension": [modifier]}
    result, reason = run(age)[0]
    assert result == "manual" and "modifier extension" in reason


# ---------------------------------------------------------------------------- the record's own limits


def _drafted_trial(minimum: str, maximum: str, sex: str, healthy: bool = False) -> Trial:
    """A record with age and sex limits and a condition, and a mapping made only of manual criteria."""
    raw = json.loads((CATALOG.sources["NCT03320629"].record).read_text(encoding="utf-8"))
    eligibility = raw["protocolSection"]["eligibilityModule"]
    eligibility.update(minimumAge=minimum, maximumAge=maximum, sex=sex, healthyVolunteers=healthy)
    raw["protocolSection"]["conditionsModule"]["conditions"] = ["Gouty Arthritis"]
    record = parse_record(raw, "test record")
    mapping = TrialMapping.model_validate({
        "trial": record.nct_id, "draft": True,
        "criteria": [{"id": "inc-1", "type": "inclusion", "text": "Consent", "manual": "A person decides."}]})
    base = CATALOG.get("NCT03320629")
    return Trial(record=record, mapping=mapping, concepts=base.concepts, units=base.units, source="test")


@pytest.mark.parametrize(("birth", "gender", "result"), [
    ("2012-01-01", "female", "fail"),   # 14: under the minimum
    ("1946-01-01", "female", "fail"),   # 80: over the maximum
    ("1990-01-01", "male", "fail"),     # a women-only trial
    ("1990-01-01", "female", "pass"),
])
def test_the_records_age_and_sex_apply_to_a_drafted_trial(birth, gender, result):
    trial = _drafted_trial("21 Years", "40 Years", "FEMALE")
    gout = active_condition("gout", {"text": "Gouty arthritis"})
    rep = report_of(with_entries(gout, patient={"birthDate": birth, "gender": gender}), trial)
    gates = {c["id"]: c["result"] for c in rep["criteria"] if c["id"].startswith("ctgov-")}
    assert gates == {"ctgov-age": "pass" if gender == "male" else result, "ctgov-sex": "pass" if gender == "female"
                     else "fail", "ctgov-conditions": "pass"}
    assert (rep["verdict"] == "ineligible") == (result == "fail")
    assert rep["verdict"] != "potentially-eligible" or result == "pass"


def test_a_drafted_trial_of_manual_criteria_does_not_match_everyone():
    trial = _drafted_trial("18 Years", "N/A", "ALL")
    rep = report_of(with_entries(), trial)
    conditions = criterion(rep, "ctgov-conditions")
    assert conditions["result"] == "unknown" and "Gouty Arthritis" in conditions["text"]
    assert rep["verdict"] == "insufficient-data"
    assert [c["id"] for c in rep["criteria"] if c["id"].startswith("ctgov-")] == ["ctgov-age", "ctgov-conditions"]


def test_a_trial_that_takes_healthy_volunteers_has_no_conditions_gate():
    trial = _drafted_trial("6 Months", "17 Years", "ALL", healthy=True)
    variable = trial.evidence_variable
    ids = [c.get("linkId") for c in variable["characteristic"]]
    assert "ctgov-conditions" not in ids and "ctgov-age" in ids
    # months and years in one gate: both limits are read in their own unit
    rep = report_of(with_entries(patient={"birthDate": "2026-07-01"}), trial)
    assert criterion(rep, "ctgov-age")["result"] == "fail"  # 4 months old
    rep = report_of(with_entries(patient={"birthDate": "2020-01-01"}), trial)
    assert criterion(rep, "ctgov-age")["result"] == "pass"


def test_the_seed_trials_state_their_limits_already():
    for nct in ("NCT03787251", "NCT03320629"):
        ids = [c.get("linkId") for c in CATALOG.get(nct).evidence_variable["characteristic"]]
        assert not [i for i in ids if i and i.startswith("ctgov-")], ids


# ----------------------------------------------------------------------------------------- deceased


@pytest.mark.parametrize("deceased", [{"deceasedBoolean": True}, {"deceasedDateTime": "2026-10-15T08:00:00Z"}])
def test_a_deceased_patient_is_ineligible_for_every_trial(deceased):
    for nct in ("NCT03787251", "NCT03320629"):
        rep = report_of(with_entries(patient=deceased), nct)
        assert rep["verdict"] == "ineligible"
        first = rep["criteria"][0]
        assert first["id"] == "record-deceased" and first["result"] == "fail"
        if "deceasedDateTime" in deceased:
            assert first["reason"] == "recorded as deceased on 2026-10-15"


def test_deceased_false_changes_nothing():
    rep = report_of(with_entries(patient={"deceasedBoolean": False}), "NCT03320629")
    assert rep["criteria"][0]["id"] != "record-deceased"


# ------------------------------------------------------------------------------- builder round trip


def test_evidence_travels_in_the_evidence_variable():
    mapping = TrialMapping.model_validate({"trial": "NCT03320629", "criteria": [
        {"id": "exc-x", "type": "exclusion", "text": "Lactating women", "manual": "Asked at enrollment.",
         "evidence": [{"condition": "pregnancy"}], "context": [{"medication": "anti-vegf"}]}]})
    variable = build_evidence_variable(mapping, CATALOG.concepts, "test")
    (top,) = variable["characteristic"]
    manual, evidence, context = top["definitionByCombination"]["characteristic"]
    assert top["definitionByCombination"]["code"] == "any-of" and "definitionByTypeAndValue" not in manual
    assert evidence["modifierExtension"] == [{"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": "absence"}]
    assert context["modifierExtension"] == [{"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": "neither"}]
    facts = facts_from_bundle(with_entries(), CATALOG.units)
    assert evaluate(variable, facts, AS_OF).criteria[0].result == "manual"


@pytest.mark.parametrize("bad", [
    {"observation": "hemoglobin", "comparator": ">", "value": 1, "unit": "g/L", "evidence": [{"condition": "hiv"}]},
    {"manual": "x", "evidence": [{"age": {"low": 1}}]},
    {"manual": "x", "evidence": [{"condition": "hiv", "absent": True}]},
])
def test_evidence_is_for_manual_criteria_and_record_entries_only(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        TrialMapping.model_validate({"trial": "NCT03320629", "criteria": [
            {"id": "c", "type": "exclusion", "text": "t", **bad}]})


# ------------------------------------------------------------------ the seed trials read the whole record

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
WHEN = "2026-10-25"  # inside every window: 2 days before the blood count, a week before the evaluation date


def _code(kind: str, name: str, system: str | None = None, display: str | None = None) -> dict[str, Any]:
    """A code of the reviewed concept (the first of `system`, or whose display contains `display`)."""
    codes = CATALOG.concepts.lookup(kind, name).codes
    found = next(c for c in codes if (system is None or c.system == system)
                 and (display is None or display.lower() in (c.display or "").lower()))
    return {"coding": [{"system": found.system, "code": found.code, "display": found.display}]}


def entry(kind: str, rid: str, code: dict[str, Any], when: str = WHEN) -> dict[str, Any]:
    """An entry of the record kind, current and dated `when`."""
    if kind == "conditions":
        return active_condition(rid, code, when)
    if kind == "procedures":
        return {"resourceType": "Procedure", "id": rid, "status": "completed", "code": code, "performedDateTime": when}
    if kind == "medications":
        return {"resourceType": "MedicationStatement", "id": rid, "status": "active", "medicationCodeableConcept": code,
                "effectivePeriod": {"start": when}}
    return {"resourceType": "AllergyIntolerance", "id": rid, "code": code, "recordedDate": when,
            "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")}


@pytest.mark.parametrize(("nct", "cid", "added", "result"), [
    # a pregnant state or breast-feeding on the problem list
    ("NCT03787251", "inc-contraception-pregnancy", ("conditions", "pregnancy", None, None), "fail"),
    ("NCT03787251", "inc-contraception-pregnancy", ("conditions", "lactation", None, None), "fail"),
    ("NCT03320629", "exc-pregnancy-lactation", ("conditions", "lactation", None, None), "fail"),
    # melena two months ago, coded in ICD-10-CM
    ("NCT03787251", "exc-bleeding-coagulation", ("conditions", "gastrointestinal-hemorrhage", ICD10CM, "melena"),
     "fail"),
    ("NCT03320629", "exc-gi-bleeding-melena", ("conditions", "melena-hematemesis", ICD10CM, "melena"), "fail"),
    # irinotecan 10 days ago: the trial's own control-arm drug
    ("NCT03787251", "inc-cytotoxic-washout", ("medications", "cytotoxic-chemotherapy", RXNORM, "irinotecan"), "fail"),
    # kidney transplant status: for the reviewer
    ("NCT03787251", "exc-immunodeficiency", ("conditions", "organ-transplant-status", ICD10CM, "kidney"), "unknown"),
    ("NCT03787251", "exc-brain-metastases", ("conditions", "brain-metastasis", None, None), "unknown"),
    ("NCT03320629", "exc-cns-metastasis", ("conditions", "brain-metastasis", None, None), "unknown"),
    ("NCT03320629", "exc-other-malignancy", ("conditions", "other-malignancy", None, "melanoma"), "unknown"),
    ("NCT03320629", "inc-no-hemorrhage-thrombosis", ("conditions", "gastrointestinal-hemorrhage", None, None),
     "unknown"),
])
def test_an_entry_that_bears_on_a_criterion_is_read(nct, cid, added, result):
    kind, name, system, display = added
    when = "2026-09-01" if "melena" in (display or "") else WHEN
    rep = report_of(with_entries(entry(kind, "added", _code(kind, name, system, display), when)), nct)
    c = criterion(rep, cid)
    assert c["result"] == result, c["reason"]
    assert "Condition/added" in c["reason"] or any(e["reference"].endswith("/added") for e in c["evidence"])
    assert rep["verdict"] != "potentially-eligible"


def test_a_manual_criterion_with_nothing_on_record_says_what_was_looked_for():
    rep = report_of(with_entries(), "NCT03320629")
    c = criterion(rep, "exc-cns-metastasis")
    # one sentence: no ".;"
    assert c["result"] == "manual" and c["reason"] == "Symptom status needs review; no Brain (CNS) metastasis recorded"
    context = criterion(report_of(with_entries(), "NCT03787251"), "inc-prior-first-line-failure")
    # the fixture's cisplatin (text only), cited for the reviewer; the criterion stays manual
    assert context["result"] == "manual" and "MedicationStatement/eligible-us-units-cisplatin" in context["reason"]


def _adverse_items() -> list[tuple[str, str, str, str]]:
    """(trial, kind, concept, system|code) of every record entry that speaks against a patient: the items of
    exclusion criteria, the absent items of inclusion criteria, and the evidence of manual criteria."""
    from adapter.vocabulary import RECORD_KIND_BY_MAPPING_KEY

    found: set[tuple[str, str, str, str]] = set()
    for nct in ("NCT03787251", "NCT03320629"):
        trial = CATALOG.get(nct)
        for c in trial.mapping.criteria:
            nodes = [*c.walk()]
            evidence = [e for n in nodes for e in (getattr(n, "evidence", None) or [])]  # manual nodes only
            context = {id(x) for n in nodes for x in (getattr(n, "context", None) or [])}
            for node in nodes:
                kind = next((k for k in ("condition", "procedure", "medication", "allergy")
                             if getattr(node, k, None) is not None), None)
                if kind is None or id(node) in context:
                    continue
                adverse = node in evidence or (c.type == "exclusion") != node.absent
                if not adverse or (c.type == "inclusion" and not node.absent and node not in evidence):
                    continue
                table = RECORD_KIND_BY_MAPPING_KEY[kind].name
                item = CATALOG.concepts.lookup(table, getattr(node, kind))
                for code in item.codes:
                    found.add((nct, table, getattr(node, kind), f"{code.system}|{code.code}"))
                for name in item.text:  # a concept matched by name: its names as the entry's text
                    found.add((nct, table, getattr(node, kind), f"text|{name}"))
    return sorted(found)


ADVERSE = _adverse_items()


def test_the_adverse_items_cover_every_reading_of_issue_17():
    concepts = {name for _, _, name, _ in ADVERSE}
    assert {"pregnancy", "lactation", "gastrointestinal-hemorrhage", "melena-hematemesis", "organ-transplant-status",
            "organ-transplant", "cytotoxic-chemotherapy", "brain-metastasis", "other-malignancy", "anticoagulant",
            "blood-transfusion", "hiv", "anti-vegf", "apatinib"} <= concepts


def test_the_base_patient_is_potentially_eligible_for_both_trials():
    for nct in ("NCT03787251", "NCT03320629"):
        assert report_of(with_entries(), nct)["verdict"] == "potentially-eligible"


@pytest.mark.parametrize("item", sorted({(n, k, c, t) for n, k, c, t in ADVERSE if t == min(
    tt for nn, kk, cc, tt in ADVERSE if (nn, cc) == (n, c))}), ids=lambda i: f"{i[0]}-{i[2]}")
def test_every_adverse_concept_leaves_the_patient_not_potentially_eligible(item):
    _assert_not_potentially_eligible(item)


def _assert_not_potentially_eligible(item: tuple[str, str, str, str]) -> None:
    nct, kind, _, token = item
    system, code = token.split("|", 1)
    coded = {"text": code} if system == "text" else {"coding": [{"system": system, "code": code}]}
    bundle = with_entries(entry(kind, "added", coded))
    rep = report_of(bundle, nct)
    assert rep["verdict"] != "potentially-eligible", (item, [(c["id"], c["result"]) for c in rep["criteria"]])


def test_property_no_adverse_code_leaves_the_patient_potentially_eligible():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(ADVERSE))
    def check(item: tuple[str, str, str, str]) -> None:
        _assert_not_potentially_eligible(item)

    check()


def test_a_record_condition_the_library_names_is_read_by_its_codes():
    trial = _drafted_trial("18 Years", "N/A", "ALL")
    raw = json.loads((CATALOG.sources["NCT03320629"].record).read_text(encoding="utf-8"))
    raw["protocolSection"]["conditionsModule"]["conditions"] = ["Esophageal Squamous Cell Carcinoma"]
    trial = Trial(record=parse_record(raw, "test record"), mapping=trial.mapping, concepts=trial.concepts,
                  units=trial.units, source="test")
    gate = next(c for c in trial.evidence_variable["characteristic"] if c.get("linkId") == "ctgov-conditions")
    (item,) = gate["definitionByCombination"]["characteristic"]
    assert item["definitionByTypeAndValue"]["valueCodeableConcept"].get("coding")  # the reviewed escc value set
    rep = report_of(with_entries(), trial)  # the fixture's ESCC is coded in SNOMED
    assert criterion(rep, "ctgov-conditions")["result"] == "pass"


def test_a_modifier_on_a_combination_is_never_ignored():
    combination = {"linkId": "c", "definitionByCombination": {"code": "any-of", "characteristic": [
        {"definitionByTypeAndValue": {"type": concept(SNOMED, "424144002"),
                                      "valueQuantity": {"value": 18, "comparator": ">=", "code": "a"}}}]},
        "modifierExtension": [{"url": RECORD_ENTRY_SETTLES_EXTENSION, "valueCode": "absence"}]}
    result, reason = run(combination)[0]
    assert result == "manual" and "modifier extension" in reason


def test_a_condition_that_is_only_an_alternative_does_not_stand_for_the_trials_conditions():
    """"ALT < 5 × ULN with liver metastases" names a condition, but no patient needs it: the record's own
    conditions still apply."""
    trial = _drafted_trial("18 Years", "N/A", "ALL")
    mapping = TrialMapping.model_validate({
        "trial": trial.mapping.trial, "draft": True,
        "criteria": [{"id": "inc-alt", "type": "inclusion", "text": "ALT", "any_of": [
            {"observation": "alt", "comparator": "<", "times_uln": 2.5},
            {"all_of": [{"condition": "liver-metastasis"}, {"observation": "alt", "comparator": "<", "times_uln": 5}]},
        ]}, {"id": "inc-escc", "type": "exclusion", "text": "x", "all_of": [{"condition": "hiv"}]}]})
    gated = Trial(record=trial.record, mapping=mapping, concepts=trial.concepts, units=trial.units, source="test")
    ids = [c.get("linkId") for c in gated.evidence_variable["characteristic"]]
    assert "ctgov-conditions" in ids
    required = TrialMapping.model_validate({
        "trial": trial.mapping.trial, "draft": True,
        "criteria": [{"id": "inc-dx", "type": "inclusion", "text": "Dx",
                      "all_of": [{"condition": "escc"}, {"manual": "RECIST"}]}]})
    covered = Trial(record=trial.record, mapping=required, concepts=trial.concepts, units=trial.units, source="test")
    assert "ctgov-conditions" not in [c.get("linkId") for c in covered.evidence_variable["characteristic"]]
