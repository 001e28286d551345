"""adapter.eligibility.review: a reading flagged `needs_review` never decides alone — its pass or fail is held at
unknown ("drafted reading not reviewed"), the value and evidence kept, the verdict recomputed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from adapter.catalog import load_catalog
from adapter.eligibility.facts import facts_from_bundle
from adapter.eligibility.result import Evaluation
from adapter.eligibility.review import HELD, hold_unreviewed
from adapter.evaluation import evaluate_trial
from tests.render.drafted import NCT, drafted_site
from tests.render.sample import AGE, AS_OF, CONSENT, HB, PLT
from tests.support.trials import CATALOG, PATIENTS

pytestmark: list[pytest.MarkDecorator] = []


def _flags(*ids: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=i, needs_review="check it") for i in ids] + [SimpleNamespace(id="x", needs_review=None)]


def _evaluation(*criteria: object, verdict: str) -> Evaluation:
    return Evaluation(patient="Patient/p1", as_of=AS_OF, verdict=verdict, criteria=criteria)  # type: ignore[arg-type]


def test_a_flagged_pass_is_held_at_unknown_with_its_value_and_evidence() -> None:
    held = hold_unreviewed(_evaluation(HB, PLT, CONSENT, verdict="insufficient-data"),
                           _flags("inc-hemoglobin", "inc-platelets", "inc-consent"))
    hb, plt, consent = held.criteria
    assert (hb.result, hb.evidence, hb.codes, hb.text) == ("unknown", HB.evidence, HB.codes, HB.text)
    assert hb.reason == f"{HELD}: Hemoglobin 9 g/dL = 90 g/L ≥ 90 g/L (as drafted: pass)"
    assert (plt, consent) == (PLT, CONSENT)  # unknown and manual stay as they are
    assert held.verdict == "insufficient-data"


def test_a_flagged_fail_no_longer_makes_the_patient_ineligible() -> None:
    evaluation = _evaluation(HB, AGE, verdict="ineligible")
    held = hold_unreviewed(evaluation, _flags("inc-age"))
    assert [c.result for c in held.criteria] == ["pass", "unknown"]
    assert held.criteria[1].reason == f"{HELD}: age 76 outside 18–75 years (as drafted: fail)"
    assert held.verdict == "insufficient-data"
    assert hold_unreviewed(evaluation, _flags("inc-hemoglobin")).verdict == "ineligible"  # the fail still decides


def test_nothing_flagged_returns_the_evaluation_itself() -> None:
    evaluation = _evaluation(HB, AGE, verdict="ineligible")
    assert hold_unreviewed(evaluation, _flags()) is evaluation
    assert hold_unreviewed(evaluation, _flags("no-such-criterion")) is evaluation


def _evaluate(folder: Path | None, patient: str) -> dict[str, tuple[str, str]]:
    catalog = load_catalog([folder]) if folder else CATALOG
    bundle = json.loads((PATIENTS / f"{patient}.json").read_text(encoding="utf-8"))
    result = evaluate_trial(catalog.get(NCT), facts_from_bundle(bundle, catalog.units), date(2026, 11, 1))
    return {"verdict": (result.evaluation.verdict, ""),
            **{c.id: (c.result, c.reason) for c in result.evaluation.criteria}}


@pytest.mark.parametrize(("patient", "reviewed", "drafted", "platelets_value"), [
    ("p-eligible-us-units", "potentially-eligible", "insufficient-data", "210 10⁹/L ≥ 80 10⁹/L (as drafted: pass)"),
    ("p-platelets-below-50", "ineligible", "insufficient-data", "<50 10⁹/L < 80 10⁹/L (as drafted: fail)"),
])
def test_a_drafted_site_mapping_holds_its_flagged_readings(tmp_path: Path, patient: str, reviewed: str, drafted: str,
                                                          platelets_value: str) -> None:
    seed = _evaluate(None, patient)
    draft = _evaluate(drafted_site(tmp_path / "site"), patient)
    assert seed["verdict"][0] == reviewed and draft["verdict"][0] == drafted
    for flagged in ("inc-neutrophils", "inc-platelets"):
        assert seed[flagged][0] in ("pass", "fail")
        assert draft[flagged] == ("unknown", f"{HELD}: {seed[flagged][1]} (as drafted: {seed[flagged][0]})")
    assert draft["inc-platelets"][1].endswith(platelets_value)  # the value read is shown
    unflagged = {k: v for k, v in seed.items() if k not in ("verdict", "inc-neutrophils", "inc-platelets")}
    assert {k: draft[k] for k in unflagged} == unflagged


def test_a_reviewed_flag_removed_decides_again(tmp_path: Path) -> None:
    """Once a person removes needs_review (draft: true may stay), the reading decides as the engine reads it."""
    site = drafted_site(tmp_path / "site", flagged={})
    assert _evaluate(site, "p-platelets-below-50")["inc-platelets"][0] == "fail"
