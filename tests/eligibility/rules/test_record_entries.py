"""adapter.eligibility.rules.record_entries: conditions, medications, procedures and allergies — present or not,
by code or by name, within time windows anchored on other results."""

from __future__ import annotations

from typing import Any

import pytest

from tests.eligibility.rules.helpers import (
    A1C_BELOW_8,
    SNOMED,
    SURGERY,
    T629,
    T787251,
    TRIALS,
    by_value,
    combo,
    concept,
    criterion,
    entry_of,
    load,
    refs,
    resource,
    results,
    run,
)

pytestmark: list[pytest.MarkDecorator] = []


def test_liver_metastases_raise_the_transaminase_limit_to_5_uln(reports):
    for nct in TRIALS:
        c = criterion(reports("p-liver-metastases-alt-3x", nct), "inc-alt-ast")
        assert c["result"] == "pass", c["reason"]
        assert "Liver metastasis recorded" in c["reason"] and "120 U/L < 200 U/L (5 × ULN 40 U/L)" in c["reason"]
        assert "Condition/liver-metastases-alt-3x-liver-mets" in refs(c)
        assert "Observation/liver-metastases-alt-3x-alt" in refs(c)


def test_without_liver_metastases_3_uln_fails(reports):
    for nct in TRIALS:
        c = criterion(reports("p-alt-3x-no-liver-mets", nct), "inc-alt-ast")
        assert c["result"] == "fail"
        assert "120 U/L ≥ 100 U/L (2.5 × ULN 40 U/L)" in c["reason"] and "no Liver metastasis recorded" in c["reason"]
        assert "http://snomed.info/sct|94381002" in c["codes"]


def test_resolved_liver_metastases_do_not_count(reports):
    bundle = load("p-liver-metastases-alt-3x")
    condition = resource(bundle, "liver-metastases-alt-3x-liver-mets")
    condition["clinicalStatus"]["coding"][0]["code"] = "resolved"
    c = criterion(reports.of(bundle, T629), "inc-alt-ast")
    assert c["result"] == "fail" and "is resolved" in c["reason"]


def test_transfusion_5_days_before_the_blood_count_fails(reports):
    outcome, reason = reports.result("p-transfusion-5-days-before", T787251, "inc-hemoglobin")
    assert outcome == "fail"
    assert "Blood transfusion recorded within 14 days before the Hemoglobin result (2026-10-27)" in reason
    c = criterion(reports("p-transfusion-5-days-before", T629), "inc-blood-count-no-transfusion")
    assert c["result"] == "fail" and "within 14 days before the Hemoglobin result (2026-10-27)" in c["reason"]
    assert refs(c) == ["Procedure/transfusion-5-days-before-transfusion"]
    # the Hb value itself is fine
    assert reports.result("p-transfusion-5-days-before", T629, "inc-hemoglobin")[0] == "pass"


def test_transfusion_20_days_before_the_blood_count_passes(reports):
    outcome, reason = reports.result("p-transfusion-20-days-before", T787251, "inc-hemoglobin")
    assert outcome == "pass" and "no Blood transfusion recorded within 14 days before the Hemoglobin result" in reason
    assert reports.result("p-transfusion-20-days-before", T629, "inc-blood-count-no-transfusion")[0] == "pass"


def test_transfusion_not_done_does_not_count(reports):
    bundle = load("p-transfusion-5-days-before")
    resource(bundle, "transfusion-5-days-before-transfusion")["status"] = "not-done"
    assert criterion(reports.of(bundle, T787251), "inc-hemoglobin")["result"] == "pass"


def test_transfusion_window_is_the_union_of_the_windows_not_their_hull(reports):
    """629: no transfusion within 14 days before the blood count (Hb, ANC, PLT).

    Platelets on 2026-10-10, Hb and ANC on 2026-10-27, a transfusion on 2026-10-11: it is after the platelet
    count and 16 days before the Hb/ANC, so within 14 days before none of them. The engine spans one window
    from the earliest start (2026-09-26) to the latest end (2026-10-27) and answers `fail`.
    """
    bundle = load("p-transfusion-20-days-before")
    resource(bundle, "transfusion-20-days-before-plt")["effectiveDateTime"] = "2026-10-10T08:30:00+08:00"
    resource(bundle, "transfusion-20-days-before-transfusion")["performedDateTime"] = "2026-10-11T15:00:00+08:00"
    c = criterion(reports.of(bundle, T629), "inc-blood-count-no-transfusion")
    assert c["result"] == "pass", c["reason"]


def test_prior_bevacizumab_excludes_from_both(reports):
    for nct, cid in ((T787251, "exc-prior-anti-angiogenic"), (T629, "exc-prior-anti-vegf")):
        c = criterion(reports("p-prior-bevacizumab", nct), cid)
        assert c["result"] == "fail" and c["type"] == "exclusion"
        assert "meets exclusion" in c["reason"] and "Bevacizumab 25 MG/ML Injection" in c["reason"]
        assert refs(c) == ["MedicationStatement/prior-bevacizumab-bevacizumab"]


def test_medication_not_taken_does_not_exclude(reports):
    bundle = load("p-prior-bevacizumab")
    resource(bundle, "prior-bevacizumab-bevacizumab")["status"] = "not-taken"
    c = criterion(reports.of(bundle, T629), "exc-prior-anti-vegf")
    assert c["result"] == "pass" and "status not-taken" in c["reason"]


def test_cisplatin_and_fluorouracil_are_not_anti_angiogenic(reports):
    for nct, cid in ((T787251, "exc-prior-anti-angiogenic"), (T629, "exc-prior-anti-vegf")):
        assert reports.result("p-eligible-us-units", nct, cid)[0] == "pass"


def test_hiv_excludes_from_787251_only(reports):
    c = criterion(reports("p-hiv", T787251), "exc-immunodeficiency")
    assert c["result"] == "fail" and "HIV infection, on ART" in c["reason"]
    assert refs(c) == ["Condition/hiv-hiv"]
    assert "exc-immunodeficiency" not in {c["id"] for c in reports("p-hiv", T629)["criteria"]}


def test_apatinib_allergy_excludes_from_629_only(reports):
    c = criterion(reports("p-apatinib-allergy", T629), "exc-apatinib-allergy")
    assert c["result"] == "fail" and "Apatinib" in c["reason"]
    assert refs(c) == ["AllergyIntolerance/apatinib-allergy-apatinib"]
    assert reports.result("p-apatinib-allergy", T787251, "exc-prior-anti-angiogenic")[0] == "pass"


def test_refuted_allergy_does_not_exclude(reports):
    bundle = load("p-apatinib-allergy")
    resource(bundle, "apatinib-allergy-apatinib")["verificationStatus"]["coding"][0]["code"] = "refuted"
    assert criterion(reports.of(bundle, T629), "exc-apatinib-allergy")["result"] == "pass"


def test_no_escc_on_record_is_not_a_candidate(reports):
    bundle = load("p-eligible-us-units")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != "eligible-us-units-escc"]
    for nct in TRIALS:
        rep = reports.of(bundle, nct)
        c = criterion(rep, "inc-escc-diagnosis")
        assert c["result"] == "fail" and "no Esophageal squamous cell carcinoma recorded" in c["reason"]
        assert rep["verdict"] == "ineligible"


def test_generic_record_entry_matched_by_name():
    # a concept with text only: each ';'-separated term as a whole word of the record's text
    by_name = by_value(concept(SNOMED, "439401001"), valueCodeableConcept={"text": "diabetic; type 2 diabetes"})
    partial = by_value(concept(SNOMED, "439401001"), valueCodeableConcept={"text": "diabet"})
    assert results(by_name, partial) == ["pass", "fail"]


def test_generic_time_from_event_event_id():
    a1c = {**A1C_BELOW_8, "linkId": "a1c"}

    def no_surgery(days: int) -> dict[str, Any]:
        return {**entry_of("procedure", SURGERY, "Surgery"), "exclude": True, "timeFromEvent": [
            {"eventId": "a1c", "range": {"low": {"value": -days, "code": "d"}, "high": {"value": 0, "code": "d"}}}]}

    # surgery on 2026-02-20, HbA1c on 2026-03-02: 10 days before
    (r1, why1), = run(combo("all-of", a1c, no_surgery(14)))
    assert r1 == "fail" and "within 14 days before the HbA1c result (2026-03-02)" in why1
    assert results(combo("all-of", a1c, no_surgery(7))) == ["pass"]
    # weeks work too: 2 wk
    two_weeks = no_surgery(14)
    two_weeks["timeFromEvent"][0]["range"]["low"] = {"value": -2, "code": "wk"}
    assert results(combo("all-of", a1c, two_weeks)) == ["fail"]
    # a window on a characteristic that does not exist is for a person to look at
    bad = no_surgery(14)
    bad["timeFromEvent"][0]["eventId"] = "nope"
    (r, why), = run(bad)
    assert r == "manual" and "unknown characteristic 'nope'" in why


def test_name_pattern_matches_whole_terms_only():
    from adapter.eligibility.rules.record_entries import name_pattern

    pattern = name_pattern("HIV; human immunodeficiency virus ;")
    assert pattern.search("HIV infection, on ART") and pattern.search("Human Immunodeficiency Virus (disorder)")
    assert not pattern.search("HIVES") and not pattern.search("archive")


def test_names_told_without_the_pattern_agree_with_it():
    """`EntryQuery.names` matches an ASCII name against the terms it holds, not the whole pattern: it must agree
    with the pattern on every name, ASCII or not (non-ASCII names are always asked of the pattern)."""
    from adapter.eligibility.rules.record_entries import EntryQuery, name_pattern
    from adapter.vocabulary import RECORD_KIND_BY_NAME

    text = "HIV; human immunodeficiency virus; lymphom*"
    definition = {"valueCodeableConcept": {"text": text}}
    query = EntryQuery.of(definition, RECORD_KIND_BY_NAME["conditions"])
    assert query.needles == (("hiv", False), ("human immunodeficiency virus", False), ("lymphom", True))
    pattern = name_pattern(text)
    assert pattern is not None
    names = ["HIV infection", "hiv", "Hodgkin LYMPHOMAS", "archive", "HIVES", "Human  immunodeficiency virus",
             "non-Hodgkin lymphoma (disorder)", "Diabetes", "", "ſhiv", "HİV", "lymphomatoid papulosis", "lymph",
             "chivalry", "HIV-1", "xlymphoma", "lymphoma_x", "human immunodeficiency viruses", "HIV2 lymphoma"]
    for name in names:
        assert query.names(name) == (pattern.search(name) is not None), name
    assert query.names("Lymphoma of HIV") and "pattern" in query.__dict__  # (a non-ASCII name above asked it)
    fresh = EntryQuery.of(definition, RECORD_KIND_BY_NAME["conditions"])
    assert fresh.names("Diabetes mellitus type 2") is False and fresh.names("HIV infection") is True
    assert "pattern" not in fresh.__dict__  # ASCII names never compile the whole pattern
    accented = EntryQuery.of({"valueCodeableConcept": {"text": "Sjögren syndrome"}}, RECORD_KIND_BY_NAME["conditions"])
    assert accented.needles is None and accented.names("SJÖGREN SYNDROME") is True
