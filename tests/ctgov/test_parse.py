"""adapter.ctgov.parse: API v2 records read from files, bytes or decoded JSON, and the formats it refuses."""

import dataclasses
import json
from pathlib import Path

import pytest

from adapter.catalog import bundled_mappings
from adapter.ctgov import (
    ArmGroup,
    Intervention,
    Location,
    ResponsibleParty,
    Sponsor,
    TrialRecord,
    load_record,
    parse_age,
    parse_record,
    parse_record_bytes,
)
from adapter.errors import RecordFormatError

pytestmark = [pytest.mark.realworld]

ROOT = Path(__file__).resolve().parents[2]
# The seed trials' records ship beside their mappings, inside the package.
FIXTURES = Path(str(bundled_mappings()))
# Public real-world data beside the checkout (../shared/realworld); read in place, never copied in.
REALWORLD = ROOT.parent / "shared" / "realworld" / "ctgov"
REALWORLD_MISSING = f"real-world records not available at {REALWORLD}"

REAL_V2 = sorted(REALWORLD.glob("*.json"))
# The records must be there (CI runs with ../shared beside the clone): missing, the tests fail, never skip.
requires_realworld = pytest.mark.realworld


@pytest.fixture(scope="module")
def withdrawn():
    return load_record(FIXTURES / "NCT03787251.json")


@pytest.fixture(scope="module")
def terminated():
    return load_record(FIXTURES / "NCT03320629.json")


def minimal(**protocol):
    return {"protocolSection": {"identificationModule": {"nctId": "NCT00000001"}, **protocol}}


# --------------------------------------------------------------------------- the two fixtures


def test_withdrawn_fixture_identity_and_status(withdrawn):
    assert withdrawn.nct_id == "NCT03787251"
    assert withdrawn.org_study_id == "Nanjing Drum Tower Hospital"
    assert withdrawn.secondary_ids == ()
    assert withdrawn.brief_title.startswith("A Study of Second-line Treatment")
    assert withdrawn.official_title is None
    assert withdrawn.overall_status == "WITHDRAWN"
    assert withdrawn.why_stopped is None
    assert (withdrawn.start_date, withdrawn.completion_date, withdrawn.primary_completion_date) == (
        None,
        None,
        None,
    )
    assert (withdrawn.enrollment_count, withdrawn.enrollment_type) == (0, "ACTUAL")
    assert withdrawn.lead_sponsor == Sponsor("Nanjing University", "OTHER")
    assert withdrawn.responsible_party is None
    assert withdrawn.locations == ()
    assert withdrawn.conditions == ("Esophageal Neoplasms",)


def test_withdrawn_fixture_design_arms_and_interventions(withdrawn):
    assert withdrawn.study_type == "INTERVENTIONAL"
    assert withdrawn.phases == ("PHASE2",)
    assert (withdrawn.allocation, withdrawn.intervention_model) == ("RANDOMIZED", "PARALLEL")
    assert (withdrawn.primary_purpose, withdrawn.masking) == ("TREATMENT", "NONE")
    experimental, control = withdrawn.arm_groups
    assert (experimental.label, experimental.type) == ("experimental group", "EXPERIMENTAL")
    assert experimental.intervention_names == ("Drug: Apatinib",)
    assert "initial dose of apatinib is 500mg po qd" in experimental.description
    assert "750mg po qd" in experimental.description
    assert (control.label, control.type) == ("Control group", "ACTIVE_COMPARATOR")
    assert "docetaxel 60-75 mg/m2d1 q3w; irinotecan 150-180 mg/m2 d1 q2w" in control.description
    assert withdrawn.interventions == (
        Intervention("DRUG", "The chemotherapeutic drug chosen by the investigator.", None, ("Control group",)),
        Intervention("DRUG", "Apatinib", None, ("experimental group",)),
    )


def test_withdrawn_fixture_eligibility(withdrawn):
    assert (withdrawn.sex, withdrawn.minimum_age, withdrawn.maximum_age) == ("ALL", "18 Years", "75 Years")
    assert withdrawn.healthy_volunteers is False
    text = withdrawn.eligibility_criteria
    assert text.startswith("Inclusion Criteria:\n\n* Pathological/histological diagnosis")
    assert "    * HB≥90 g/L; (no blood transfusion within 14 days)\n" in text
    assert "    * ANC ≥ 1.5 × 109 / L;\n" in text
    assert "Plasma Cr≤1.5ULN or creatinine clearance (CCr)≥60ml/min" in text
    assert "(PT>16 s, APTT>43 s, TT>21 s, Fbg< 2 g/L)" in text
    assert text.endswith("* The investigator believes that it is not suitable for inclusion.")


def test_terminated_fixture_identity_status_and_people(terminated):
    assert terminated.nct_id == "NCT03320629"
    assert terminated.org_study_id == "HRA-E01"
    assert terminated.secondary_ids == ()
    assert terminated.overall_status == "TERMINATED"
    assert terminated.why_stopped is None
    assert (terminated.start_date, terminated.completion_date) == ("2017-11-01", "2018-12-31")
    assert terminated.primary_completion_date is None
    assert (terminated.enrollment_count, terminated.enrollment_type) == (7, "ACTUAL")
    assert terminated.lead_sponsor == Sponsor("Hebei Medical University Fourth Hospital", "OTHER")
    assert terminated.collaborators == ()
    assert terminated.responsible_party == ResponsibleParty(
        type="PRINCIPAL_INVESTIGATOR", name="Jun wang", title="Director of radiotherapy department1"
    )
    assert terminated.locations == (
        Location(
            facility="Fourth Hospital of Hebei Medical University",
            city="Shijiazhuang",
            state="Hebei",
            country="China",
        ),
    )
    assert terminated.detailed_description is None
    assert terminated.conditions == ("Refractory or Metastatic Esophageal Squamous Cell Carcinoma",)


def test_terminated_fixture_arms_and_interventions(terminated):
    description = (
        "S-1 40-60mg/time bid po d1-14 q3w radiotherapy 50-60Gy/25-30times until disease progression "
        "or intolerable toxicity or patients withdrawal of consent"
    )
    assert terminated.arm_groups == (
        ArmGroup(
            "apatinib and S-1 radiotherapy",
            "EXPERIMENTAL",
            f"apatinib 500mg qd po {description}",
            ("Combination Product: apatinib S-1 radiotherapy",),
        ),
        ArmGroup("S-1 radiotherapy", "ACTIVE_COMPARATOR", description, ("Combination Product: S-1 radiotherapy",)),
    )
    assert [(i.type, i.name, i.arm_group_labels) for i in terminated.interventions] == [
        ("COMBINATION_PRODUCT", "apatinib S-1 radiotherapy", ("apatinib and S-1 radiotherapy",)),
        ("COMBINATION_PRODUCT", "S-1 radiotherapy", ("S-1 radiotherapy",)),
    ]


def test_terminated_fixture_eligibility_keeps_markdown_escapes(terminated):
    assert (terminated.sex, terminated.minimum_age, terminated.maximum_age) == ("ALL", "18 Years", "70 Years")
    assert terminated.healthy_volunteers is False
    text = terminated.eligibility_criteria
    assert "1. HB≥100g/L;\n2. ANC≥3.0×109/L;\n3. PLT≥100×109/L;" in text
    assert "1. TBIL\\<1.5×ULN;" in text
    assert "calculated creatinine clearance\\>50 ml/min(per the Cockcroft-Gault formula)" in text
    assert "(including QTc lengthened men \\> 450 ms, women \\> 470 ms)" in text
    assert "\n\n<!-- -->\n\n" in text
    assert text.endswith("13. The researchers think inappropriate.")


def test_fixtures_are_pure_api_v2(withdrawn, terminated):
    for path in FIXTURES.glob("NCT*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(data) <= {"protocolSection", "derivedSection", "hasResults"}, path.name
        assert path.stem == data["protocolSection"]["identificationModule"]["nctId"]


def test_record_is_immutable_and_raw_is_read_only(terminated: TrialRecord) -> None:
    # Typed, so mypy confirms the two assignments below are refused statically too.
    with pytest.raises(dataclasses.FrozenInstanceError):
        terminated.nct_id = "NCT00000000"  # type: ignore[misc]
    with pytest.raises(TypeError):
        terminated.raw["statusModule"] = {}  # type: ignore[index]
    assert terminated.raw["identificationModule"]["nctId"] == "NCT03320629"
    assert hash(terminated) == hash(load_record(FIXTURES / "NCT03320629.json"))


# --------------------------------------------------------------------------- real records


@pytest.mark.parametrize("path", REAL_V2, ids=lambda p: p.name)
def test_every_real_v2_record_loads(path):
    record = load_record(path)
    assert record.nct_id == path.stem
    assert record.overall_status
    assert record.eligibility_criteria
    assert record.minimum_age is None or parse_age(record.minimum_age) is not None
    assert record.raw["identificationModule"]["nctId"] == path.stem


@requires_realworld
def test_real_record_details():
    toca = load_record(REALWORLD / "NCT02576665.json")
    assert toca.why_stopped == "Sponsor decision"
    assert (toca.start_date, toca.primary_completion_date) == ("2016-07", "2019-05")
    assert toca.interventions[0].other_names == (
        "vocimagene amiretrorepvec",
        "RRV",
        "retroviral replicating viral",
    )
    assert toca.locations[0].zip == "80218"
    observational = load_record(REALWORLD / "NCT06171568.json")
    assert observational.study_type == "OBSERVATIONAL"
    assert observational.phases == ()
    assert observational.maximum_age is None
    assert observational.arm_groups == ()
    assert observational.secondary_ids[0].id == "2023-A00386-39"
    assert observational.secondary_ids[0].domain == "IDRCB"
    assert [c.class_ for c in observational.collaborators] == ["UNKNOWN", "UNKNOWN"]


@requires_realworld
def test_retired_v1_record_is_refused():
    with pytest.raises(RecordFormatError) as caught:
        load_record(REALWORLD / "legacy_v1_json" / "NCT04780763.json")
    message = str(caught.value)
    assert "NCT04780763.json: retired ClinicalTrials.gov API v1 format" in message
    assert message.endswith("download the record from API v2: https://clinicaltrials.gov/api/v2/studies/NCT04780763")
    assert "\n" not in message


@requires_realworld
@pytest.mark.parametrize("name", ["NCT01065844", "NCT02679963"])
def test_classic_xml_record_is_refused(name):
    with pytest.raises(RecordFormatError) as caught:
        load_record(REALWORLD / "classic_xml" / f"{name}.xml")
    message = str(caught.value)
    assert f"{name}.xml: classic ClinicalTrials.gov XML format" in message
    assert message.endswith(f"https://clinicaltrials.gov/api/v2/studies/{name}")


# --------------------------------------------------------------------------- refusals


def test_v1_shape_is_refused_without_real_data(tmp_path):
    path = tmp_path / "v1.json"
    study = {"ProtocolSection": {"IdentificationModule": {"NCTId": "NCT01234567"}}}
    path.write_text(json.dumps({"FullStudiesResponse": {"FullStudies": [{"Study": study}]}}))
    with pytest.raises(RecordFormatError, match=r"retired ClinicalTrials.gov API v1 format.*NCT01234567$"):
        load_record(path)


def test_classic_xml_shape_is_refused_without_real_data(tmp_path):
    path = tmp_path / "study.xml"
    path.write_text('<?xml version="1.0"?>\n<clinical_study><id_info><nct_id>NCT07654321</nct_id></id_info>')
    with pytest.raises(RecordFormatError, match=r"classic ClinicalTrials.gov XML format.*NCT07654321$"):
        load_record(path)


def test_missing_file(tmp_path):
    path = tmp_path / "NCT99999999.json"
    with pytest.raises(RecordFormatError, match=r"NCT99999999\.json: no such file$"):
        load_record(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(RecordFormatError, match="is a directory"):
        load_record(tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"protocolSection": ', r"bad\.json: invalid JSON at line 1 column 21: Expecting value$"),
        ("", r"bad\.json: empty file"),
        ("<html><body>Not found</body></html>", r"bad\.json: XML or HTML, not a ClinicalTrials.gov API v2"),
    ],
)
def test_unreadable_content(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RecordFormatError, match=expected):
        load_record(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"x": "é"}'.encode("latin-1"))
    with pytest.raises(RecordFormatError, match="not UTF-8"):
        load_record(path)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "expected a JSON object"),
        ({"hasResults": False}, "no protocolSection"),
        ({"protocolSection": {}}, "no protocolSection.identificationModule.nctId"),
        ({"protocolSection": {"identificationModule": {"nctId": ""}}}, "identificationModule.nctId"),
        ({"protocolSection": {"identificationModule": {"nctId": "NCT123"}}}, "is not an NCT number"),
        ({"studies": []}, "search response with 0 studies; expected exactly one"),
        ({"studies": [minimal(), minimal()]}, "search response with 2 studies"),
        (minimal(designModule={"enrollmentInfo": {"count": "7"}}), "enrollmentInfo.count: expected a whole"),
        (minimal(designModule={"phases": "PHASE2"}), "designModule.phases: expected an array of strings"),
        (minimal(eligibilityModule={"minimumAge": "eighteen"}), "minimumAge: unrecognised age 'eighteen'"),
        (minimal(eligibilityModule={"healthyVolunteers": "No"}), "healthyVolunteers: expected true or false"),
        (minimal(statusModule=[]), "protocolSection.statusModule: expected an object"),
        (minimal(armsInterventionsModule={"armGroups": [{"type": "EXPERIMENTAL"}]}), "without a label"),
    ],
)
def test_parse_record_refusals(data, expected):
    with pytest.raises(RecordFormatError, match=expected) as caught:
        parse_record(data, "source.json")
    assert str(caught.value).startswith("source.json: ")


def test_search_response_with_one_study_is_accepted():
    record = parse_record({"studies": [minimal()], "nextPageToken": None}, "search.json")
    assert record.nct_id == "NCT00000001"


def test_silent_record_gives_none_and_empty():
    record = parse_record(minimal(), "min.json")
    assert record.overall_status is None
    assert record.enrollment_count is None
    assert record.healthy_volunteers is None
    assert record.lead_sponsor is None
    assert record.arm_groups == record.interventions == record.locations == ()
    assert record.phases == record.conditions == record.keywords == ()


# --------------------------------------------------------------------------- bytes


def test_parse_record_bytes_reads_what_load_record_reads():
    path = FIXTURES / "NCT03320629.json"
    record = parse_record_bytes(path.read_bytes(), "catalog:NCT03320629.json")
    assert record == load_record(path)
    assert record.raw == load_record(path).raw


def test_parse_record_bytes_accepts_a_utf8_bom():
    record = parse_record_bytes(b"\xef\xbb\xbf" + json.dumps(minimal()).encode(), "bom.json")
    assert record.nct_id == "NCT00000001"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b'<?xml version="1.0"?>\n<clinical_study><id_info><nct_id>NCT07654321</nct_id></id_info>',
            r"^src: classic ClinicalTrials.gov XML format.*https://clinicaltrials.gov/api/v2/studies/NCT07654321$",
        ),
        (
            json.dumps({"FullStudiesResponse": {"FullStudies": [{"Study": {"NCTId": "NCT01234567"}}]}}).encode(),
            r"^src: retired ClinicalTrials.gov API v1 format.*NCT01234567$",
        ),
        ('{"x": "é"}'.encode("latin-1"), r"^src: not UTF-8 text \(byte 7\)$"),
        (b"  \n", r"^src: empty file"),
        (b"[1, 2]", r"^src: expected a JSON object \(an API v2 study record\), got an array$"),
    ],
)
def test_parse_record_bytes_refusals(content, expected):
    with pytest.raises(RecordFormatError, match=expected):
        parse_record_bytes(content, "src")


@pytest.mark.realworld
def test_the_real_world_records_are_there() -> None:
    assert REAL_V2, REALWORLD_MISSING
