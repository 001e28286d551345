"""Record-entry drafting: direction, time windows, library concepts first, ICD-10-CM and named drugs as marked site
concepts, and the unsure readings left to a person."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.drafting import entries
from adapter.drafting.entries import EntryDrafter, EntryLexicon, window_days
from adapter.mapping.concepts import ConceptLibrary

pytestmark: list[pytest.MarkDecorator] = []


@pytest.fixture(scope="module")
def drafter(library: ConceptLibrary) -> EntryDrafter:
    return EntryDrafter(EntryLexicon(library, entries.drug_names(["Drug: Flucytosine", "Placebo: placebo tablets"])))


def read(drafter: EntryDrafter, text: str, section: str, context: str | None = None) -> dict[str, Any] | None:
    exclusion = section == "exclusion"
    return entries.definition(drafter.draft(text, exclusion, context), text, exclusion)


def test_history_of_hiv_under_exclusion_is_a_present_condition_with_history(drafter: EntryDrafter) -> None:
    assert read(drafter, "History of HIV", "exclusion") == {"condition": "hiv", "history": True}


def test_no_prior_drug_under_inclusion_is_absent(drafter: EntryDrafter, library: ConceptLibrary) -> None:
    draft = drafter.draft("No prior bevacizumab", False)
    assert entries.definition(draft, "No prior bevacizumab", False) == {"medication": "drug-bevacizumab",
                                                                        "absent": True}
    concept = draft.concepts["medications"]["drug-bevacizumab"]
    reviewed = {c.code for c in library.medications["anti-vegf"].codes if "bevacizumab" in (c.display or "").lower()}
    assert reviewed and {c["code"] for c in concept["codes"]} == reviewed  # the library's own codes, no other
    assert set(concept["sources"]) <= set(draft.sources) and draft.reviews


def test_required_prior_treatment_under_inclusion_is_present(drafter: EntryDrafter) -> None:
    text = "Must have received prior platinum chemotherapy"
    assert read(drafter, text, "inclusion") == {"medication": "platinum-chemotherapy"}


@pytest.mark.parametrize(("text", "days"), [
    ("Systemic chemotherapy within 2 weeks prior to study treatment", 14),
    ("Chemotherapy in the past 6 months", 183),
    ("Chemotherapy within the last five years", 1827),
])
def test_windows_are_whole_days_rounded_up(drafter: EntryDrafter, text: str, days: int) -> None:
    node = read(drafter, text, "exclusion")
    assert node is not None and node["medication"] == "cytotoxic-chemotherapy" and node["within_days"] == days


def test_washout_under_inclusion_is_absent_inside_the_window(drafter: EntryDrafter) -> None:
    node = read(drafter, "≥ 4 weeks from the last cytotoxic drug", "inclusion")
    assert node == {"medication": "cytotoxic-chemotherapy", "within_days": 28, "absent": True}


def test_windowed_event_counts_resolved_entries(drafter: EntryDrafter) -> None:
    node = read(drafter, "Deep vein thrombosis or pulmonary embolism within 6 months", "exclusion")
    assert node == {"any_of": [{"condition": "deep-vein-thrombosis", "within_days": 183, "history": True},
                               {"condition": "pulmonary-embolism", "within_days": 183, "history": True}]}


def test_pregnancy_and_lactation(drafter: EntryDrafter) -> None:
    assert read(drafter, "Pregnant or breast-feeding women", "exclusion") == {
        "any_of": [{"condition": "pregnancy"}, {"condition": "lactation"}]}
    assert read(drafter, "Not pregnant or nursing", "inclusion") == {
        "all_of": [{"condition": "pregnancy", "absent": True}, {"condition": "lactation", "absent": True}]}


def test_diagnosis_beyond_the_library_is_an_icd10cm_value_set_marked_for_review(drafter: EntryDrafter) -> None:
    draft = drafter.draft("Known hepatitis C infection", True)
    assert len(draft.nodes) == 1
    key = draft.nodes[0]["condition"]
    concept = draft.concepts["conditions"][key]
    codes = {c["code"] for c in concept["codes"]}
    assert {"B17.1", "B18.2", "B19.2"} <= codes and all(c.startswith(("B17.1", "B18.2", "B19.2")) for c in codes)
    assert all(c["system"] == "http://hl7.org/fhir/sid/icd-10-cm" for c in concept["codes"])
    assert "simple-icd-10-cm" in draft.sources[concept["sources"][0]]["title"]
    assert any("hepatitis C" in r and "ICD-10-CM" in r for r in draft.reviews)


def test_allergy_to_a_named_drug(drafter: EntryDrafter, library: ConceptLibrary) -> None:
    assert read(drafter, "Allergic to apatinib", "exclusion") == {"allergy": "apatinib"}  # the library's concept
    draft = drafter.draft("Known allergy to flucytosine", True)  # the record's own drug, by name only
    assert draft.nodes == [{"allergy": "drug-flucytosine"}]
    assert "codes" not in draft.concepts["allergies"]["drug-flucytosine"]
    assert any("name" in r for r in draft.reviews)


@pytest.mark.parametrize(("text", "section", "context"), [
    ("No history of HIV", "exclusion", None),  # a negation under exclusion: which way does it cut?
    ("Negative pregnancy test within 7 days", "inclusion", None),  # a test result, not a diagnosis
    ("Prior chemotherapy is allowed", "exclusion", None),
    ("Patients who plan to become pregnant", "exclusion", None),
    ("HIV infection", "inclusion", "Transplant Exclusion:"),  # the split put it under the other section
    ("Rheumatoid arthritis", "inclusion", "Women with systemic autoimmune disease, including:"),  # alternatives
    ("Must be a candidate for chemotherapy", "inclusion", None),
    ("Radiotherapy fields must encompass the tumour", "inclusion", None),  # not said to have been given
    ("Received prior therapy (monotherapy or combined with radiotherapy)", "inclusion", None),  # a detail
    ("Family history of long QT syndrome", "exclusion", None),  # someone else's diagnosis
])
def test_unsure_readings_are_left_to_a_person(drafter: EntryDrafter, text: str, section: str,
                                              context: str | None) -> None:
    assert read(drafter, text, section, context) is None


def test_exceptions_and_purposes_are_not_entries(drafter: EntryDrafter) -> None:
    draft = drafter.draft("Prior chemotherapy for breast cancer", True)
    assert draft.nodes == [{"medication": "cytotoxic-chemotherapy"}]  # breast cancer is what the drug was for
    assert read(drafter, "Other malignancy except basal cell carcinoma", "exclusion") is None  # other than what?
    node = read(drafter, "History of malignancy except basal cell carcinoma", "exclusion")
    assert node is not None and set(node) == {"manual", "evidence"}  # the exception is for a person


def test_narrowing_words_make_the_entry_evidence(drafter: EntryDrafter) -> None:
    node = read(drafter, "Symptomatic brain metastases", "exclusion")
    assert node is not None and set(node) == {"manual", "evidence"}
    assert node["evidence"] == [{"condition": "brain-metastasis"}]


def test_words_beyond_the_entries_stay_for_a_person(drafter: EntryDrafter) -> None:
    node = read(drafter, "Known HIV infection or hemophagocytic syndromes", "exclusion")
    assert node is not None and node["any_of"][0] == {"condition": "hiv"} and "manual" in node["any_of"][-1]


def test_window_days() -> None:
    assert [d for *_, d in window_days("within 4 weeks; in the last 3 months; <4 wks")] == [28, 92, 28]
    assert window_days("at least 4 weeks since") == []  # a washout, read apart
