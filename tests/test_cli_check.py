"""`trial-adapter check DIR` lists what in a site folder still needs review — drafts, `needs_review` criteria,
mappings that do not load — one line each, exit 1 while anything does, 0 when nothing, 2 when the folder cannot be
checked; and `draft --explain` shows each reading with the text it was read from (issue 21, part 4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from adapter.cli import main
from adapter.drafting.quantities import fold
from tests.render.drafted import FLAGGED, NCT, drafted_site
from tests.support.trials import MAPPINGS

pytestmark: list[pytest.MarkDecorator] = []


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_a_draft_and_its_flagged_criteria_are_listed_one_line_each(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = _check(capsys, str(drafted_site(tmp_path / "site")))
    assert code == 1
    assert [line.split("  ", 2)[:2] for line in lines] == [[NCT, "-"], [NCT, "inc-neutrophils"],
                                                            [NCT, "inc-platelets"]]
    assert lines[0].endswith("remove `draft: true` once reviewed") and "not clinically reviewed" in lines[0]
    assert lines[1] == f"{NCT}  inc-neutrophils  needs_review: {FLAGGED['inc-neutrophils']}"
    assert err == f"check: 3 item(s) to review in {tmp_path / 'site'} (1 trial(s))\n"


def test_each_step_of_review_shortens_the_list_until_nothing_is_left(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    site = drafted_site(tmp_path / "site", flagged={"inc-platelets": FLAGGED["inc-platelets"]})
    assert [line.split("  ")[1] for line in _check(capsys, str(site))[1]] == ["-", "inc-platelets"]
    drafted_site(site, draft=False, flagged={"inc-platelets": FLAGGED["inc-platelets"]})  # draft: true removed
    assert [line.split("  ")[1] for line in _check(capsys, str(site))[1]] == ["inc-platelets"]
    drafted_site(site, draft=False, flagged={})  # the flag removed too
    code, lines, err = _check(capsys, str(site))
    assert (code, lines) == (0, []) and err.startswith("check: nothing to review in ")


def test_the_bundled_reviewed_trials_need_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert _check(capsys, str(MAPPINGS))[:2] == (0, [])


def test_a_mapping_that_does_not_load_is_listed_and_the_others_still_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = drafted_site(tmp_path / "site")
    (site / "NCT03320629.yaml").write_text("trial: NCT03320629\ncriteria: []\n", encoding="utf-8")
    (site / "NCT03320629.json").write_bytes((MAPPINGS / "NCT03320629.json").read_bytes())
    code, lines, _ = _check(capsys, str(site))
    assert code == 1 and len(lines) == 4
    assert lines[0].startswith("NCT03320629  -  mapping error: ") and "criteria" in lines[0]
    assert [line.split("  ")[0] for line in lines[1:]] == [NCT] * 3


@pytest.mark.parametrize("make", ["missing", "empty", "record-missing"])
def test_a_folder_that_cannot_be_checked_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                make: str) -> None:
    folder = tmp_path / "site"
    if make != "missing":
        folder.mkdir()
    if make == "record-missing":
        (folder / f"{NCT}.yaml").write_text("trial: NCT03787251\n", encoding="utf-8")
    code, lines, err = _check(capsys, str(folder))
    assert (code, lines) == (2, [])
    assert err.count("\n") == 1 and err.startswith("trial-adapter: error: check ") and "Traceback" not in err


def test_check_explain_shows_the_flagged_criteria_with_their_readings(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    site = drafted_site(tmp_path / "site", draft=False)
    code, lines, _ = _check(capsys, str(site), "--explain")
    text = "\n".join(lines)
    assert code == 1 and f"{NCT}  reviewed mapping: 32 criteria" in text
    block = text[text.index("inc-platelets (inclusion)"):]
    assert block.splitlines()[1:4] == ["  record: PLT ≥ 80 × 109 / L;", "  - observation platelets >= 80 10*9/L",
                                       "      from: (no span recorded: compare with the record above)"]
    assert f"  NEEDS REVIEW: {FLAGGED['inc-platelets']}" in block
    assert "inc-age (inclusion)" not in text  # a reviewed mapping: only its flagged criteria


def test_draft_explain_gives_the_text_behind_each_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site"
    capsys.readouterr()
    assert main(["draft", "--record", str(MAPPINGS / f"{NCT}.json"), "--out", str(out), "--explain"]) == 0
    explained = capsys.readouterr().out
    mapping = yaml.safe_load((out / f"{NCT}.yaml").read_text(encoding="utf-8"))
    assert explained.startswith(f"{NCT}  DRAFT mapping, not clinically reviewed: {len(mapping['criteria'])} criteria")
    for criterion in mapping["criteria"]:  # every criterion has its block, with the flag when it has one
        assert f"\n{criterion['id']} ({criterion['type']})\n" in explained
        if criterion.get("needs_review"):
            assert f"NEEDS REVIEW: {criterion['needs_review']}" in explained
    assert any(c.get("needs_review") for c in mapping["criteria"])
    record_text = " ".join(fold("\n".join(c["text"] for c in mapping["criteria"])).split())
    spans = re.findall(r'from: "([^"]+)"', explained)
    assert len(spans) >= 5 and all(span.rstrip("…") in record_text for span in spans)  # spans of the record
    assert '"≥90 g/L"' in explained  # the words a number was read from (HB≥90 g/L)
    assert main(["check", str(out)]) == 1  # a fresh draft needs review
