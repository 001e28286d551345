"""One spelling of the vocabulary: tokens, type codes and record kinds agree with each other."""

from __future__ import annotations

import pytest

from adapter.vocabulary import (
    RECORD_KIND_BY_RESOURCE,
    RECORD_KIND_BY_TYPE_TOKEN,
    RECORD_KINDS,
    RECORD_PREFETCH,
    SNOMED,
    coding_tokens,
    split_token,
    token,
)

pytestmark: list[pytest.MarkDecorator] = []


def test_token_is_one_spelling() -> None:
    assert token("http://loinc.org", "718-7") == "http://loinc.org|718-7"
    assert token(None, "718-7") == "|718-7" == token("", "718-7")
    assert split_token("|718-7") == ("", "718-7")
    concept = {"coding": [{"system": "http://loinc.org", "code": "718-7"}, {"code": "HGB"}, {"system": "x"},
                          "junk", {"system": 7, "code": "7"}]}
    assert coding_tokens(concept) == ["http://loinc.org|718-7", "|HGB", "|7"]
    assert coding_tokens(None) == [] == coding_tokens({"text": "Hb"})


def test_record_kinds_cover_every_resource_type_once() -> None:
    types = [t for kind in RECORD_KINDS for t in kind.resource_types]
    assert len(types) == len(set(types)) == len(RECORD_KIND_BY_RESOURCE) == len(RECORD_PREFETCH)
    assert set(RECORD_PREFETCH.values()) == set(types)
    assert RECORD_KIND_BY_RESOURCE["AllergyIntolerance"].subject_element == "patient"
    assert {kind.type_code.token for kind in RECORD_KINDS} == set(RECORD_KIND_BY_TYPE_TOKEN)
    assert all(t.startswith(SNOMED + "|") for t in RECORD_KIND_BY_TYPE_TOKEN)
