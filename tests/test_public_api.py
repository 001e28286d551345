"""The public Python API (`import adapter`): the README's example runs as written, and the surface is what the
README and `adapter.__all__` say."""

from __future__ import annotations

import contextlib
import io
import os
import re
from datetime import date

import pytest

import adapter
from tests.support.trials import ROOT

pytestmark: list[pytest.MarkDecorator] = []


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README's 'Use it from Python' has no python block"
    return found.group(1)


def test_the_readme_example_runs_and_prints_what_its_comments_say() -> None:
    code = _readme_example()
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = out.getvalue().splitlines()
    promised = [c.strip() for c in re.findall(r"print\(.*?\)\s+# (.*)", code)]
    assert printed == promised


def test_every_public_name_resolves() -> None:
    for name in adapter.__all__:
        assert getattr(adapter, name) is not None, name
    with pytest.raises(AttributeError):
        adapter.no_such_name  # noqa: B018


def test_evaluate_takes_json_and_trial_objects_and_answers_per_trial() -> None:
    catalog = adapter.load_catalog()
    eligibility = adapter.Eligibility(catalog)
    bundle = adapter.read_patient_file(ROOT / "fixtures" / "patients" / "p-eligible-us-units.json").data
    by_json = eligibility.evaluate(bundle, as_of=date(2026, 11, 1))
    by_trial = eligibility.evaluate(adapter.PatientRecord(bundle), catalog.all(), date(2026, 11, 1))
    assert by_json.verdicts == by_trial.verdicts and set(by_json.verdicts) == set(catalog.ids)
    assert [r.nct_id for r in by_trial] == catalog.ids
    with pytest.raises(KeyError):
        by_json["NCT00000000"]
    with pytest.raises(adapter.UnknownTrialError):
        eligibility.evaluate(bundle, ["NCT00000000"])
    with pytest.raises(adapter.PatientDataError):
        eligibility.evaluate({"resourceType": "Observation"})
