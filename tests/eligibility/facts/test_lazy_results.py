"""adapter.eligibility.facts.lazy_results: with `reads`, results are indexed at extraction and built on demand —
the same facts, in the same order, as eager extraction; only as many as are iterated."""

from __future__ import annotations

import pytest

from adapter.eligibility.facts import FactReads, extract_facts
from adapter.eligibility.facts.lazy_results import LazyResults
from adapter.units import UnitTable
from tests.eligibility.facts.builders import LOINC, bp_panel, obs, patient

pytestmark: list[pytest.MarkDecorator] = []

HB, OTHER = f"{LOINC}|718-7", f"{LOINC}|59260-0"  # LOINC 718-7, 59260-0: Hemoglobin (mass, moles)
SYSTOLIC, PANEL = f"{LOINC}|8480-6", f"{LOINC}|85354-9"  # LOINC 8480-6 Systolic BP, 85354-9 BP panel
READS = FactReads(frozenset({HB, OTHER, SYSTOLIC}), frozenset())
RESOURCES = [
    patient(),
    obs("old", when="2019-01-01"),
    obs("newest", when="2024-01-01T10:00:00Z"),
    obs("undated", when=None),
    obs("same-day", when="2024-01-01T10:00:00Z"),
    obs("middle", when="2021-06"),
    obs("other-code", code="59260-0", unit="mmol/L", when="2023-01-01"),
    obs("unread", code="2345-7", unit="mg/dL"),  # LOINC 2345-7 Glucose: no criterion here reads it
    bp_panel(),
]


def test_the_same_results_in_the_same_order_as_eager_extraction(unit_table: UnitTable):
    eager = extract_facts(RESOURCES, units=unit_table)
    lazy = extract_facts(RESOURCES, units=unit_table, reads=READS)
    assert isinstance(lazy.observations, LazyResults)
    assert set(lazy.observations) == {HB, OTHER, SYSTOLIC, PANEL, f"{LOINC}|8462-4"}  # the panel's own codes too
    for code in lazy.observations:
        assert lazy.observations[code] == eager.observations[code]
    for codes in ([HB], [HB, OTHER], [OTHER, HB], [SYSTOLIC], ["urn:x|none"]):
        assert list(lazy.newest_results(codes)) == eager.observations_for(codes) == lazy.observations_for(codes)
    assert f"{LOINC}|2345-7" not in lazy.observations and f"{LOINC}|2345-7" in eager.observations


def test_only_the_results_reached_are_built(unit_table: UnitTable):
    facts = extract_facts(RESOURCES, units=unit_table, reads=READS)
    results = facts.observations
    assert isinstance(results, LazyResults)
    first = next(iter(facts.newest_results([HB])))
    assert first.reference == "Observation/newest"
    built = {source.reference for bucket in results._entries.values() for source, _ in bucket
             if source.facts is not None}
    assert built == {"Observation/newest"}
    again = next(iter(facts.newest_results([HB, OTHER])))
    assert again is first  # one fact per result, however it is reached
