"""Record entries, second round: sub-headings that name their section, sourced value sets for radiotherapy,
checkpoint inhibitors, systemic corticosteroids and lung-cancer histologies, plain wording read decisively
("… is not allowed", "HIV antibody positive") and qualified wording still left to a person."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.drafting import entries
from adapter.drafting.entries import EntryDrafter, EntryLexicon, section_doubt
from adapter.drafting.split import split_criteria
from adapter.mapping.concepts import ConceptLibrary

pytestmark: list[pytest.MarkDecorator] = []


@pytest.fixture(scope="module")
def drafter(library: ConceptLibrary) -> EntryDrafter:
    return EntryDrafter(EntryLexicon(library))


def read(drafter: EntryDrafter, text: str, section: str) -> dict[str, Any] | None:
    exclusion = section == "exclusion"
    return entries.definition(drafter.draft(text, exclusion), text, exclusion)


def test_sub_headings_inside_a_block_type_the_items_below_them() -> None:
    text = ("Inclusion Criteria:\n\n* Age 18 or over\n\nTransplant Exclusion:\n\n* Prior organ transplant\n\n"
            "Exclusion Criteria for Stage 1\n\n* Active tuberculosis\n\nInclusion criteria stage 2\n\n"
            "* ECOG 0 or 1\n\nExclusion Criteria:\n\n* Pregnancy")
    items = [(i.type, i.text) for i in split_criteria(text)]
    assert items == [("inclusion", "Age 18 or over"), ("exclusion", "Prior organ transplant"),
                     ("exclusion", "Active tuberculosis"), ("inclusion", "ECOG 0 or 1"), ("exclusion", "Pregnancy")]


def test_a_sentence_naming_exclusion_is_no_heading() -> None:
    items = split_criteria("Inclusion Criteria:\n\n* Exclusion of patients with HIV is not planned\n")
    assert [(i.type, i.text) for i in items] == [("inclusion", "Exclusion of patients with HIV is not planned")]


def test_section_doubt_reads_every_place_the_criterion_stands() -> None:
    eligibility = ("Inclusion Criteria:\n\n1. Participant with a diagnosis of diabetes\n\n"
                   "Exclusion Criteria: 1. Age less than 40 years. 2. Participant with a diagnosis of HIV.\n")
    assert not section_doubt(eligibility, "Participant with a diagnosis of HIV.", True)
    assert section_doubt(eligibility, "Participant with a diagnosis of diabetes", True)


def test_radiotherapy_is_the_sourced_library_concept(drafter: EntryDrafter, library: ConceptLibrary) -> None:
    draft = drafter.draft("Chemotherapy or radiotherapy within 4 weeks prior to entering the study", True)
    assert draft.nodes == [{"medication": "cytotoxic-chemotherapy", "within_days": 28},
                           {"procedure": "radiotherapy", "within_days": 28}]
    assert "radiotherapy" not in draft.concepts.get("procedures", {})  # the library's, not a site concept
    codes = {(c.system, c.code) for c in library.procedures["radiotherapy"].codes}
    assert ("http://www.ama-assn.org/go/cpt", "77427") in codes and ("http://snomed.info/sct", "152198000") in codes


def test_checkpoint_inhibitor_window_after_first_dose_is_decisive(drafter: EntryDrafter) -> None:
    text = "Immune checkpoint inhibitor therapy within 30 days of first dose of study treatment"
    assert read(drafter, text, "exclusion") == {"medication": "immune-checkpoint-inhibitor", "within_days": 30}


def test_a_dose_that_narrows_still_leaves_it_to_a_person(drafter: EntryDrafter) -> None:
    definition = read(drafter, "Systemic steroids at a dose above 10 mg daily", "exclusion")
    assert definition is not None and "manual" in definition
    assert definition["evidence"] == [{"medication": "systemic-corticosteroid", "within_days": 30}]


def test_not_allowed_under_inclusion_is_absent(drafter: EntryDrafter) -> None:
    assert read(drafter, "Transfusion is not allowed within 14 days", "inclusion") == {
        "procedure": "blood-transfusion", "within_days": 14, "absent": True}
    assert read(drafter, "Prior chemotherapy is allowed", "inclusion") is None


def test_a_positive_antibody_under_exclusion_is_the_diagnosis(drafter: EntryDrafter) -> None:
    assert read(drafter, "Human immunodeficiency virus antibody positive", "exclusion") == {"condition": "hiv"}
    assert read(drafter, "HIV test at screening", "exclusion") is None  # a test, not a diagnosis
    assert read(drafter, "Negative HIV antibody test", "inclusion") is None


def test_a_disease_named_before_its_treatment_is_no_diagnosis(drafter: EntryDrafter) -> None:
    draft = drafter.draft("Systemic cancer chemotherapy within 2 weeks prior to study treatment", True)
    assert draft.nodes == [{"medication": "cytotoxic-chemotherapy", "within_days": 14}]


def test_becoming_pregnant_is_no_entry_but_being_pregnant_is(drafter: EntryDrafter) -> None:
    text = "Females who are pregnant or breastfeeding, and males and females who cannot avoid becoming pregnant"
    assert drafter.draft(text, True).nodes == [{"condition": "pregnancy"}, {"condition": "lactation"}]


def test_nsclc_is_coded_by_histology_and_icd10cm_only_partially(drafter: EntryDrafter,
                                                               library: ConceptLibrary) -> None:
    assert read(drafter, "Histologically confirmed non-small cell lung cancer", "inclusion") == {
        "condition": "non-small-cell-lung-cancer"}
    concept = library.conditions["non-small-cell-lung-cancer"]
    assert {c.code for c in concept.codes} >= {"254637007", "723301009"}
    assert concept.codes and all(c.system == "http://snomed.info/sct" for c in concept.codes)
    partial = {c.code for c in concept.partial_codes}
    assert "C34.90" in partial and "C34" not in partial  # billable leaves only, each saying what it lacks
    assert all("histology" in c.missing for c in concept.partial_codes)
    assert read(drafter, "Small cell lung cancer", "exclusion") == {"condition": "small-cell-lung-cancer"}


@pytest.mark.parametrize("table,key", [("procedures", "radiotherapy"), ("medications", "immune-checkpoint-inhibitor"),
                                       ("medications", "systemic-corticosteroid"),
                                       ("conditions", "non-small-cell-lung-cancer"),
                                       ("conditions", "small-cell-lung-cancer")])
def test_every_new_code_names_a_source_of_its_concept(library: ConceptLibrary, table: str, key: str) -> None:
    concept = getattr(library, table)[key]
    for code in concept.all_codes():
        assert code.source in concept.sources and code.source in library.sources


def test_a_duration_is_no_window() -> None:
    assert entries.window_days("The current episode must have a duration of less than 5 years") == []
    assert entries.window_days("Stroke within 6 months") == [(7, 22, 183)]


def test_a_disease_named_as_what_a_treatment_was_for_is_no_diagnosis(drafter: EntryDrafter) -> None:
    text = "Previous treatment with tDCS for a different disease to the major depressive disorder"
    assert drafter.draft(text, True).nodes == []
