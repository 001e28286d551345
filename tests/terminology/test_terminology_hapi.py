"""The terminology server against a real HAPI FHIR JPA R4: $expand, $subsumes, $translate, augmentation and
per-patient recognition, and a server that is down.

What HAPI JPA (the harness's build: H2, Hibernate Search off) does with a test CodeSystem:

- `content: complete`: HAPI stores the concepts in its terminology tables and answers `$expand` and
  `$subsumes` from its Lucene index; with Hibernate Search off both fail with HTTP 500 (HAPI-0389 "Hibernate
  Search was not initialized"). With `hibernate.search.enabled=true`, backend `lucene`, directory `local-heap`
  both work at once (tried by hand; see docs/terminology.md).
- `content: fragment`: HAPI expands it in memory, is-a filters included, but `$subsumes` answers 400 "Unknown
  code"; the client then decides subsumption by the is-a expansion of code A.

So the hierarchy is loaded as a `fragment`; `$translate` works on the stored ConceptMap either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

import pytest

from adapter.eligibility.engine import evaluate
from adapter.eligibility.facts import facts_from_bundle
from adapter.terminology import Terminology, TerminologyClient, augment, recognize
from tests.terminology.support import (
    CONCEPT_MAP,
    HIERARCHY,
    LEGACY,
    evidence_variable,
    library,
    load_test_terminology,
    patient_bundle,
)

if TYPE_CHECKING:
    from adapter.units import UnitTable
    from tests.support.hapi import HapiServer

pytestmark: list[pytest.MarkDecorator] = []

TARGETS = {"procedures": [HIERARCHY, LEGACY]}
AS_OF = date(2026, 2, 1)


@pytest.fixture(scope="module")
def server(hapi_r4: HapiServer) -> str:
    """hapi_r4 with the test CodeSystems and ConceptMap loaded, and the hierarchy expandable."""
    return load_test_terminology(hapi_r4)


@pytest.fixture
def client(server: str) -> Iterator[TerminologyClient]:
    with TerminologyClient(server) as terminology:
        yield terminology


def codes(items: object) -> set[str]:
    return {f"{c.system}|{c.code}" for c in items}  # type: ignore[attr-defined]


@pytest.mark.hapi
@pytest.mark.java
def test_expand_is_a_gives_the_descendants(client: TerminologyClient) -> None:
    expansion = client.expand_is_a(HIERARCHY, "platelet-transfusion")
    assert codes(expansion.codes) == {f"{HIERARCHY}|platelet-transfusion",
                                      f"{HIERARCHY}|apheresis-platelet-transfusion"}
    assert not expansion.truncated
    whole = client.expand_is_a(HIERARCHY, "transfusion")
    assert f"{HIERARCHY}|red-cell-transfusion" in codes(whole.codes)
    assert f"{HIERARCHY}|dialysis" not in codes(whole.codes)
    sent = client.request_count
    client.expand_is_a(HIERARCHY, "transfusion")
    assert client.request_count == sent  # cached


@pytest.mark.hapi
@pytest.mark.java
def test_subsumes_parent_and_child(client: TerminologyClient) -> None:
    assert client.subsumes(HIERARCHY, "transfusion", "apheresis-platelet-transfusion").outcome == "subsumes"
    decided = client.subsumes(HIERARCHY, "transfusion", "red-cell-transfusion")
    assert decided.outcome == "subsumes"
    assert decided.method == "$expand"  # HAPI refuses $subsumes on a CodeSystem it only expands in memory
    assert client.subsumes(HIERARCHY, "red-cell-transfusion", "platelet-transfusion").outcome == "not-subsumed"
    assert client.subsumes(HIERARCHY, "platelet-transfusion", "transfusion").outcome == "not-subsumed"
    assert client.subsumes(HIERARCHY, "dialysis", "dialysis").outcome == "equivalent"


@pytest.mark.hapi
@pytest.mark.java
def test_translate_reads_the_concept_map(client: TerminologyClient) -> None:
    found = {(m.target.code, m.equivalence, m.map_url) for m in client.translate(LEGACY, "L-RBC", HIERARCHY)}
    assert found == {("red-cell-transfusion", "equal", CONCEPT_MAP), ("transfusion", "wider", CONCEPT_MAP)}
    assert client.translate(LEGACY, "L-RBC", "http://example.org/fhir/CodeSystem/elsewhere") == ()
    assert client.translate(HIERARCHY, "transfusion", LEGACY) == ()  # a map has a direction


@pytest.mark.hapi
@pytest.mark.java
def test_augment_adds_the_children_of_a_parent_code(client: TerminologyClient) -> None:
    result = augment(library((HIERARCHY, "transfusion")), client, target_systems=TARGETS)
    concept = result.concepts.procedures["transfusion"]
    added = [c for c in concept.codes if c.source == client.source_id]
    assert codes(added) == {f"{HIERARCHY}|{c}" for c in
                            ("red-cell-transfusion", "platelet-transfusion", "apheresis-platelet-transfusion")}
    assert client.source_id in result.concepts.sources and client.source_id in concept.sources
    assert result.added == {"procedures.transfusion": 3} and result.used and not concept.partial_codes


@pytest.mark.hapi
@pytest.mark.java
def test_augment_adds_equivalent_and_narrower_maps_and_keeps_wider_ones_partial(client: TerminologyClient) -> None:
    result = augment(library((LEGACY, "L-RBC"), (LEGACY, "L-BLOOD")), client, target_systems=TARGETS)
    concept = result.concepts.procedures["transfusion"]
    assert codes(concept.codes) == {f"{LEGACY}|L-RBC", f"{LEGACY}|L-BLOOD", f"{HIERARCHY}|red-cell-transfusion",
                                    f"{HIERARCHY}|platelet-transfusion", f"{HIERARCHY}|apheresis-platelet-transfusion"}
    [broader] = concept.partial_codes  # L-RBC → transfusion is `wider`: it may be red cells, or not
    assert (broader.system, broader.code) == (HIERARCHY, "transfusion")
    assert broader.missing == f"broader code from {CONCEPT_MAP}: confirm"
    inexact = augment(library((LEGACY, "L-TX")), client, target_systems=TARGETS).concepts.procedures["transfusion"]
    assert f"{HIERARCHY}|dialysis" not in codes(inexact.all_codes())  # `inexact` is not added anywhere
    assert f"{HIERARCHY}|red-cell-transfusion" in codes(inexact.codes)  # via the equivalent `transfusion`


@pytest.mark.hapi
@pytest.mark.java
def test_recognize_makes_a_child_code_match_a_criterion_on_the_parent(
        client: TerminologyClient, unit_table: UnitTable) -> None:
    concepts = library((HIERARCHY, "transfusion"))
    variable = evidence_variable((HIERARCHY, "transfusion"))
    facts = facts_from_bundle(patient_bundle(HIERARCHY, "red-cell-transfusion"), unit_table)
    before = {c.id: c.result for c in evaluate(variable, facts, AS_OF).criteria}
    assert before == {"had-transfusion": "fail", "no-transfusion": "pass"}  # the child code is in no value set

    recognized = recognize(facts, concepts, client)
    [procedure] = recognized.procedures
    assert f"{HIERARCHY}|transfusion" in procedure.codes
    assert f"recognized by {client.base_url} $expand is-a {HIERARCHY}|transfusion" in procedure.notes
    after = evaluate(variable, recognized, AS_OF)
    assert {c.id: c.result for c in after.criteria} == {"had-transfusion": "pass", "no-transfusion": "fail"}
    assert after.verdict == "ineligible"
    assert facts.procedures[0].codes == frozenset({f"{HIERARCHY}|red-cell-transfusion"})  # the input is unchanged


@pytest.mark.hapi
@pytest.mark.java
def test_recognize_leaves_codes_the_hierarchy_does_not_subsume(client: TerminologyClient, unit_table: UnitTable):
    facts = facts_from_bundle(patient_bundle(HIERARCHY, "dialysis"), unit_table)
    assert recognize(facts, library((HIERARCHY, "transfusion")), client) is facts


def test_a_server_that_is_down_leaves_the_evaluation_running_with_a_note(unit_table: UnitTable) -> None:
    from tests.support.hapi import free_port

    down = Terminology(TerminologyClient(f"http://127.0.0.1:{free_port()}/fhir", timeout=2, retries=0))
    concepts = library((HIERARCHY, "transfusion"))
    result = augment(concepts, down.client, target_systems=TARGETS)
    assert result.concepts is concepts and not result.used
    assert "could not be used" in result.notes[0]
    facts = facts_from_bundle(patient_bundle(HIERARCHY, "red-cell-transfusion"), unit_table)
    recognized = down.recognize(facts, concepts)
    assert recognized.procedures == facts.procedures
    assert any("could not be used" in n for n in recognized.notes)
    evaluation = evaluate(evidence_variable((HIERARCHY, "transfusion")), recognized, AS_OF)
    assert [c.result for c in evaluation.criteria] == ["fail", "pass"]  # as without a server
    down.close()


@pytest.mark.hapi
@pytest.mark.java
def test_cli_evaluate_with_the_server_answers_as_without_it_for_codes_it_does_not_hold(server: str, capsys) -> None:
    """The bundled trials are coded in SNOMED, which this HAPI does not hold: nothing added, nothing broken."""
    import json

    from adapter.cli import main
    from tests.support.trials import PATIENTS

    argv = ["evaluate", "--trial", "NCT03320629", "--bundle", str(PATIENTS / "p-edge-629-pass.json"),
            "--as-of", "2026-11-01"]
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*argv, "--terminology-server", server]) == 0
    widened = json.loads(capsys.readouterr().out)
    assert widened == plain
