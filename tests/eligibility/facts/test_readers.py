"""adapter.eligibility.facts.readers: codes, dates, decimals, modifierExtension and data-absent reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from adapter.eligibility.facts import extract_facts
from adapter.eligibility.facts.readers import (
    Memo,
    absent_reason,
    codes_of,
    decimal_of,
    first_code,
    modifier_reason,
    parse_date,
    parse_datetime,
    pick_date,
    quantity_absent_reason,
    tail_reference,
    text_of,
)
from adapter.units import UnitTable
from adapter.vocabulary import DATA_ABSENT_REASON_EXT, token
from tests.eligibility.facts.builders import LOINC, obs, one, patient

pytestmark: list[pytest.MarkDecorator] = []


def test_data_absent_reason_on_resource(unit_table: UnitTable):
    resource = obs(
        "o1",
        value=None,
        dataAbsentReason={
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "masked"}]
        },
    )
    fact = one(extract_facts([patient(), resource], units=unit_table), "718-7")
    assert not fact.usable and fact.value is None
    assert "data absent: masked" in fact.unusable_reason


def test_data_absent_reason_extension_on_value_quantity(unit_table: UnitTable):
    resource = obs("o1", value=None)
    resource["valueQuantity"] = {
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "error"}]
    }
    fact = one(extract_facts([patient(), resource], units=unit_table), "718-7")
    assert not fact.usable and fact.value is None and fact.unit is None
    assert fact.unusable_reason == "data absent: error"


def test_unreadable_value(unit_table: UnitTable):
    fact = one(extract_facts([patient(), obs("o1", value="12,5")], units=unit_table), "718-7")
    assert not fact.usable and "unreadable value" in fact.unusable_reason


def test_modifier_extension_makes_it_unusable(unit_table: UnitTable):
    url = "https://example.org/specimen-hemolyzed"
    fact = one(extract_facts([patient(), obs("o1", modifierExtension=[{"url": url}])], units=unit_table), "718-7")
    assert not fact.usable
    assert fact.unusable_reason == f"unrecognised modifierExtension {url}"


def test_date_notes(unit_table: UnitTable):
    facts = extract_facts(
        [
            patient(),
            obs("partial", when="2017-06"),
            obs("issued", when=None, issued="2013-04-04T14:34:00+01:00"),
            obs("nozone", code="777-3", when="2020-01-01T08:00:00"),
        ],
        units=unit_table,
    )
    partial, issued = facts.observations_for([f"{LOINC}|718-7"])
    assert any("partial date '2017-06'" in n for n in partial.notes)
    assert any("issued" in n for n in issued.notes)
    nozone = one(facts, "777-3")
    assert nozone.effective == datetime(2020, 1, 1, 8, tzinfo=UTC)
    assert any("without zone" in n for n in nozone.notes)


def test_effective_date_wins_over_issued_and_keeps_its_offset(unit_table: UnitTable):
    resource = obs("o1", when="2018-11-20T12:05:00+01:00", issued="2018-03-11T10:28:00+01:00")
    fact = one(extract_facts([patient(), resource], units=unit_table), "718-7")
    assert fact.effective == datetime(2018, 11, 20, 12, 5, tzinfo=timezone(timedelta(hours=1)))
    # The sender's offset is kept: the local date decides "on or before the evaluation date".
    assert fact.effective.utcoffset() == timedelta(hours=1) and fact.effective.hour == 12
    assert fact.effective_source == "effectiveDateTime"


# ------------------------------------------------------------------------------- the readers themselves


def test_codes_are_vocabulary_tokens_and_memoised_per_memo():
    memo = Memo()
    concept = {"coding": [{"code": "x"}]}
    assert codes_of(concept, memo) == frozenset({token(None, "x")}) == frozenset({"|x"})
    assert codes_of({"coding": [{"code": "x"}]}, memo) is codes_of(concept, memo)  # shared within one memo
    assert codes_of(concept, Memo()) is not codes_of(concept, memo)  # nothing shared across memos
    two = {"coding": [{"system": LOINC, "code": "718-7"}, {"code": "HGB"}, {"display": "no code"}]}
    assert codes_of(two, memo) == frozenset({f"{LOINC}|718-7", "|HGB"})
    assert codes_of({"coding": [{"system": ["junk"], "code": "x"}]}, memo) == frozenset()
    assert codes_of("not a concept", memo) == frozenset()


def test_text_and_first_code():
    assert text_of({"text": "Hb", "coding": [{"display": "Haemoglobin"}]}) == "Hb"
    assert text_of({"coding": [{"code": "x"}, {"display": "Haemoglobin"}]}) == "Haemoglobin"
    assert text_of(None) is None
    assert first_code({"coding": [{"code": 5}, {"code": "active"}]}) == "active"
    assert first_code({"coding": "active"}) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(13.3, Decimal("13.3")), (7, Decimal(7)), (" 1.50 ", Decimal("1.50")), ("12,5", None), (True, None),
     (float("nan"), None), ("Infinity", None), (None, None)],
)  # fmt: skip
def test_decimal_of(raw, expected):
    assert decimal_of(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected", "precision", "noted"),
    [
        ("2017", datetime(2017, 1, 1, tzinfo=UTC), "year", True),
        ("2017-06", datetime(2017, 6, 1, tzinfo=UTC), "month", True),
        ("2017-06-05", datetime(2017, 6, 5, tzinfo=UTC), "day", False),
        ("2017-06-05T10:00:00", datetime(2017, 6, 5, 10, tzinfo=UTC), "time", True),
        ("2017-06-05T10:00:00+02:00", datetime(2017, 6, 5, 10, tzinfo=timezone(timedelta(hours=2))), "time", False),
        ("June 2017", None, None, True),
    ],
)
def test_parse_datetime(raw, expected, precision, noted):
    parsed, found_precision, note = parse_datetime(raw, Memo())
    assert parsed == expected and found_precision == precision and (note is not None) is noted
    if parsed is not None:
        assert parsed.tzinfo is not None and parsed.utcoffset() == expected.utcoffset()  # the offset is kept
    assert parse_datetime(20170605, Memo())[2] == "unreadable date 20170605"
    assert parse_date("1970-05", Memo()) == (date(1970, 5, 1), "month")


def test_pick_date_reads_periods_and_falls_through():
    memo = Memo()
    res = {"onsetPeriod": {"end": "2020-02-02"}, "recordedDate": "2021-01-01"}
    assert pick_date(res, ("onsetDateTime", "onsetPeriod", "recordedDate"), memo) == (
        datetime(2020, 2, 2, tzinfo=UTC),
        datetime(2020, 2, 2, tzinfo=UTC),
        "onsetPeriod.end",
        [],
    )
    start, end, source, notes = pick_date(
        {"onsetDateTime": "soon", "recordedDate": "2021"}, ("onsetDateTime", "recordedDate"), memo
    )
    assert (start, end, source) == (datetime(2021, 1, 1, tzinfo=UTC), None, "recordedDate")
    assert notes == ["unreadable date 'soon'", "partial date '2021' read as 2021-01-01"]
    assert pick_date({}, ("onsetDateTime",), memo) == (None, None, None, [])


def test_modifier_and_absent_reasons():
    assert modifier_reason({"modifierExtension": [{"url": "u"}, "junk", {}]}) == (
        "unrecognised modifierExtension u, <malformed>, <no url>"
    )
    assert modifier_reason({}) is None
    assert absent_reason({"dataAbsentReason": {"text": "refused"}}) == "data absent: refused"
    assert absent_reason({"dataAbsentReason": {"coding": [{"code": "masked"}], "text": "Masked"}}) == (
        "data absent: masked"
    )
    ext = {"extension": [{"url": DATA_ABSENT_REASON_EXT, "valueCode": "error"}]}
    assert quantity_absent_reason(ext) == "data absent: error"


@pytest.mark.parametrize(
    ("reference", "tail"),
    [
        ("Patient/1", "Patient/1"),
        ("https://x/fhir/Patient/1/_history/2", "Patient/1"),
        ("https://x/fhir/Patient/1/", "Patient/1"),
        ("urn:uuid:abc", "urn:uuid:abc"),
    ],
)
def test_tail_reference(reference, tail):
    assert tail_reference(reference) == tail
