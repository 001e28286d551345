"""Reading ClinicalTrials.gov API v2 study records (files, bytes or decoded JSON) into a TrialRecord.

The reader takes what the record says and nothing more, and refuses the formats it is not (classic XML,
the retired API v1) with a message that says where to get the v2 record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adapter.ctgov.eligibility_text import parse_age
from adapter.ctgov.model import (
    NCT_ID_PATTERN,
    ArmGroup,
    Intervention,
    Location,
    ResponsibleParty,
    SecondaryId,
    Sponsor,
    TrialRecord,
)
from adapter.errors import RecordFormatError

API_V2_STUDY_URL = "https://clinicaltrials.gov/api/v2/studies/"


def load_record(path: Path) -> TrialRecord:
    """Read an API v2 study record (GET /api/v2/studies/NCT…) from a file."""
    return parse_record_bytes(read_record_file(path), str(path))


def read_record_file(path: Path) -> bytes:
    """A record file's bytes, or RecordFormatError saying why not (missing, a directory, unreadable)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RecordFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RecordFormatError(f"{path}: is a directory, not a record file") from None
    except OSError as exc:
        raise RecordFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None


def decode_record_json(content: bytes, source: str) -> object:
    """A record file's JSON, with the reader's own checks (UTF-8, classic XML, empty, not JSON)."""
    return _decode_json(content, source)


def parse_record_bytes(content: bytes, source: str) -> TrialRecord:
    """Read an API v2 study record from the bytes of a file or download; `source` names it in messages."""
    return parse_record(_decode_json(content, source), source)


def _decode_json(content: bytes, source: str) -> object:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordFormatError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    if text.lstrip().startswith("<"):
        raise RecordFormatError(_xml_message(text, source))
    if not text.strip():
        raise RecordFormatError(f"{source}: empty file, expected a ClinicalTrials.gov API v2 JSON record")
    from adapter.jsonio import parse_json

    try:  # the project's one bounded decoder: depth, integer length, lone surrogates
        return parse_json(text, source, error=RecordFormatError)
    except RecordFormatError as exc:
        cause = exc.__context__ and exc.__context__.__context__  # RecordFormatError <- JsonInputError <- decode
        if isinstance(cause, json.JSONDecodeError):  # keep the reader's own wording, with the column
            raise RecordFormatError(
                f"{source}: invalid JSON at line {cause.lineno} column {cause.colno}: {cause.msg}") from None
        raise


def _xml_message(text: str, source: str) -> str:
    if "<clinical_study" in text[:4096]:
        match = re.search(r"<nct_id>\s*(NCT\d{8})\s*</nct_id>", text)
        return (
            f"{source}: classic ClinicalTrials.gov XML format (<clinical_study>); "
            f"download the record from API v2: {_v2_url(match.group(1) if match else None)}"
        )
    return f"{source}: XML or HTML, not a ClinicalTrials.gov API v2 JSON record"


def _v2_url(nct_id: str | None) -> str:
    return API_V2_STUDY_URL + (nct_id or "NCT…")


def parse_record(data: object, source: str) -> TrialRecord:
    """Read an already decoded API v2 study record; `source` names it in error messages."""
    study = _single_study(data, source)
    protocol = study.get("protocolSection")
    if not isinstance(protocol, Mapping):
        raise RecordFormatError(f"{source}: no protocolSection; not a ClinicalTrials.gov API v2 study record")
    return _Reader(protocol, source).record()


def _single_study(data: object, source: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RecordFormatError(f"{source}: expected a JSON object (an API v2 study record), got {_json_type(data)}")
    if _is_v1(data):
        raise RecordFormatError(
            f"{source}: retired ClinicalTrials.gov API v1 format; "
            f"download the record from API v2: {_v2_url(_v1_nct_id(data))}"
        )
    if "studies" in data and "protocolSection" not in data:
        studies = data["studies"]
        if not isinstance(studies, list) or len(studies) != 1:
            count = len(studies) if isinstance(studies, list) else "no list of"
            raise RecordFormatError(
                f"{source}: API v2 search response with {count} studies; expected exactly one study"
            )
        if not isinstance(studies[0], Mapping):
            raise RecordFormatError(f"{source}: API v2 search response whose study is not a JSON object")
        return studies[0]
    return data


_V1_KEYS = ("FullStudiesResponse", "StudyFieldsResponse", "FullStudy", "Study", "ProtocolSection")


def _is_v1(data: Mapping[str, Any]) -> bool:
    return any(key in data for key in _V1_KEYS)


def _v1_nct_id(data: Mapping[str, Any]) -> str | None:
    # v1 nests the id differently in each of its response kinds; the first NCT number in it is the study's.
    match = NCT_ID_PATTERN.search(json.dumps(data.get("FullStudiesResponse", data))[:20000])
    return match.group(0) if match else None


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


class _Reader:
    """Typed access to a protocolSection; a value of the wrong JSON type is an error, not a silent None."""

    def __init__(self, protocol: Mapping[str, Any], source: str) -> None:
        self.protocol = protocol
        self.source = source

    def fail(self, where: str, problem: str) -> RecordFormatError:
        return RecordFormatError(f"{self.source}: protocolSection.{where}: {problem}")

    def module(self, name: str) -> Mapping[str, Any]:
        return self.obj(self.protocol, name, name) or {}

    def obj(self, parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected an object, got {_json_type(value)}")
        return value

    def objs(self, parent: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
            raise self.fail(where, "expected an array of objects")
        return value

    def text(self, parent: Mapping[str, Any] | None, key: str, where: str) -> str | None:
        if parent is None:
            return None
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {_json_type(value)}")
        return value

    def texts(self, parent: Mapping[str, Any] | None, key: str, where: str) -> tuple[str, ...]:
        if parent is None:
            return ()
        value = parent.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(where, "expected an array of strings")
        return tuple(value)

    def date(self, status: Mapping[str, Any], key: str) -> str | None:
        return self.text(self.obj(status, key, f"statusModule.{key}"), "date", f"statusModule.{key}.date")

    def record(self) -> TrialRecord:
        ident = self.module("identificationModule")
        nct_id = self.text(ident, "nctId", "identificationModule.nctId")
        if not nct_id:
            raise RecordFormatError(
                f"{self.source}: no protocolSection.identificationModule.nctId; "
                "not a ClinicalTrials.gov API v2 study record"
            )
        if not NCT_ID_PATTERN.fullmatch(nct_id):
            raise self.fail("identificationModule.nctId", f"{nct_id!r} is not an NCT number (NCT + 8 digits)")
        status = self.module("statusModule")
        description = self.module("descriptionModule")
        conditions = self.module("conditionsModule")
        design = self.module("designModule")
        design_info = self.obj(design, "designInfo", "designModule.designInfo") or {}
        enrollment = self.obj(design, "enrollmentInfo", "designModule.enrollmentInfo")
        eligibility = self.module("eligibilityModule")
        return TrialRecord(
            nct_id=nct_id,
            org_study_id=self.text(
                self.obj(ident, "orgStudyIdInfo", "identificationModule.orgStudyIdInfo"),
                "id",
                "identificationModule.orgStudyIdInfo.id",
            ),
            secondary_ids=self.secondary_ids(ident),
            brief_title=self.text(ident, "briefTitle", "identificationModule.briefTitle"),
            official_title=self.text(ident, "officialTitle", "identificationModule.officialTitle"),
            brief_summary=self.text(description, "briefSummary", "descriptionModule.briefSummary"),
            detailed_description=self.text(description, "detailedDescription", "descriptionModule.detailedDescription"),
            overall_status=self.text(status, "overallStatus", "statusModule.overallStatus"),
            why_stopped=self.text(status, "whyStopped", "statusModule.whyStopped"),
            start_date=self.date(status, "startDateStruct"),
            completion_date=self.date(status, "completionDateStruct"),
            primary_completion_date=self.date(status, "primaryCompletionDateStruct"),
            enrollment_count=self.enrollment_count(enrollment),
            enrollment_type=self.text(enrollment, "type", "designModule.enrollmentInfo.type"),
            study_type=self.text(design, "studyType", "designModule.studyType"),
            phases=self.texts(design, "phases", "designModule.phases"),
            allocation=self.text(design_info, "allocation", "designModule.designInfo.allocation"),
            intervention_model=self.text(design_info, "interventionModel", "designModule.designInfo.interventionModel"),
            primary_purpose=self.text(design_info, "primaryPurpose", "designModule.designInfo.primaryPurpose"),
            masking=self.text(
                self.obj(design_info, "maskingInfo", "designModule.designInfo.maskingInfo"),
                "masking",
                "designModule.designInfo.maskingInfo.masking",
            ),
            lead_sponsor=self.lead_sponsor(),
            collaborators=self.collaborators(),
            responsible_party=self.responsible_party(),
            conditions=self.texts(conditions, "conditions", "conditionsModule.conditions"),
            keywords=self.texts(conditions, "keywords", "conditionsModule.keywords"),
            arm_groups=self.arm_groups(),
            interventions=self.interventions(),
            eligibility_criteria=self.text(eligibility, "eligibilityCriteria", "eligibilityModule.eligibilityCriteria"),
            sex=self.text(eligibility, "sex", "eligibilityModule.sex"),
            minimum_age=self.age(eligibility, "minimumAge"),
            maximum_age=self.age(eligibility, "maximumAge"),
            healthy_volunteers=self.flag(eligibility, "healthyVolunteers", "eligibilityModule"),
            locations=self.locations(),
            raw=MappingProxyType(dict(self.protocol)),
        )

    def secondary_ids(self, ident: Mapping[str, Any]) -> tuple[SecondaryId, ...]:
        where = "identificationModule.secondaryIdInfos"
        result = []
        for i, item in enumerate(self.objs(ident, "secondaryIdInfos", where)):
            id_ = self.text(item, "id", f"{where}[{i}].id")
            if not id_:
                raise self.fail(f"{where}[{i}]", "secondary id without an id")
            result.append(
                SecondaryId(
                    id=id_,
                    type=self.text(item, "type", f"{where}[{i}].type"),
                    domain=self.text(item, "domain", f"{where}[{i}].domain"),
                )
            )
        return tuple(result)

    def enrollment_count(self, enrollment: Mapping[str, Any] | None) -> int | None:
        if enrollment is None or enrollment.get("count") is None:
            return None
        count = enrollment["count"]
        # bool is an int in Python; JSON true is not a count.
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise self.fail("designModule.enrollmentInfo.count", f"expected a whole number, got {count!r}")
        return count

    def sponsor(self, item: Mapping[str, Any], where: str) -> Sponsor:
        name = self.text(item, "name", f"{where}.name")
        if not name:
            raise self.fail(where, "sponsor without a name")
        return Sponsor(name=name, class_=self.text(item, "class", f"{where}.class"))

    def lead_sponsor(self) -> Sponsor | None:
        module = self.module("sponsorCollaboratorsModule")
        where = "sponsorCollaboratorsModule.leadSponsor"
        lead = self.obj(module, "leadSponsor", where)
        return None if lead is None else self.sponsor(lead, where)

    def collaborators(self) -> tuple[Sponsor, ...]:
        where = "sponsorCollaboratorsModule.collaborators"
        items = self.objs(self.module("sponsorCollaboratorsModule"), "collaborators", where)
        return tuple(self.sponsor(item, f"{where}[{i}]") for i, item in enumerate(items))

    def responsible_party(self) -> ResponsibleParty | None:
        where = "sponsorCollaboratorsModule.responsibleParty"
        party = self.obj(self.module("sponsorCollaboratorsModule"), "responsibleParty", where)
        if party is None:
            return None
        return ResponsibleParty(
            type=self.text(party, "type", f"{where}.type"),
            name=self.text(party, "investigatorFullName", f"{where}.investigatorFullName"),
            title=self.text(party, "investigatorTitle", f"{where}.investigatorTitle"),
            affiliation=self.text(party, "investigatorAffiliation", f"{where}.investigatorAffiliation"),
        )

    def arm_groups(self) -> tuple[ArmGroup, ...]:
        where = "armsInterventionsModule.armGroups"
        result = []
        for i, item in enumerate(self.objs(self.module("armsInterventionsModule"), "armGroups", where)):
            label = self.text(item, "label", f"{where}[{i}].label")
            if not label:
                raise self.fail(f"{where}[{i}]", "arm group without a label")
            result.append(
                ArmGroup(
                    label=label,
                    type=self.text(item, "type", f"{where}[{i}].type"),
                    description=self.text(item, "description", f"{where}[{i}].description"),
                    intervention_names=self.texts(item, "interventionNames", f"{where}[{i}].interventionNames"),
                )
            )
        return tuple(result)

    def interventions(self) -> tuple[Intervention, ...]:
        where = "armsInterventionsModule.interventions"
        result = []
        for i, item in enumerate(self.objs(self.module("armsInterventionsModule"), "interventions", where)):
            name = self.text(item, "name", f"{where}[{i}].name")
            if not name:
                raise self.fail(f"{where}[{i}]", "intervention without a name")
            result.append(
                Intervention(
                    type=self.text(item, "type", f"{where}[{i}].type"),
                    name=name,
                    description=self.text(item, "description", f"{where}[{i}].description"),
                    arm_group_labels=self.texts(item, "armGroupLabels", f"{where}[{i}].armGroupLabels"),
                    other_names=self.texts(item, "otherNames", f"{where}[{i}].otherNames"),
                )
            )
        return tuple(result)

    def age(self, eligibility: Mapping[str, Any], key: str) -> str | None:
        where = f"eligibilityModule.{key}"
        value = self.text(eligibility, key, where)
        if value is not None:
            try:
                parse_age(value)
            except RecordFormatError as exc:
                raise self.fail(where, str(exc)) from None
        return value

    def flag(self, parent: Mapping[str, Any], key: str, where: str) -> bool | None:
        value = parent.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(f"{where}.{key}", f"expected true or false, got {value!r}")

    def locations(self) -> tuple[Location, ...]:
        where = "contactsLocationsModule.locations"
        result = []
        for i, item in enumerate(self.objs(self.module("contactsLocationsModule"), "locations", where)):
            at = f"{where}[{i}]"
            result.append(
                Location(
                    facility=self.text(item, "facility", f"{at}.facility"),
                    city=self.text(item, "city", f"{at}.city"),
                    state=self.text(item, "state", f"{at}.state"),
                    zip=self.text(item, "zip", f"{at}.zip"),
                    country=self.text(item, "country", f"{at}.country"),
                    status=self.text(item, "status", f"{at}.status"),
                )
            )
        return tuple(result)


__all__ = ["API_V2_STUDY_URL", "load_record", "parse_record", "parse_record_bytes"]
