"""Hostile eligibility texts: every drafting pattern is linear, the drafter is bounded, and what it writes is whole.

Before: a criterion with a 20,000-digit number took ~22 s (a number pattern tried from every digit); 100 KB took
minutes. Each pattern is timed here on 100 KB strings built to make a backtracking pattern explode.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.ctgov import eligibility_text
from adapter.ctgov.parse import parse_record
from adapter.drafting import lexicon, mentions, quantities, recognize, split
from adapter.drafting.draft import MAX_CRITERIA_CHARS, DraftError, draft_mapping
from adapter.drafting.recognize import Recognizer, normal_words, residual
from adapter.drafting.split import split_criteria
from tests.support.trials import CATALOG

SIZE = 100_000
BUDGET = 1.0  # seconds per pattern and string; measured: all under 0.1 s

# Strings that make a backtracking pattern quadratic or worse: long runs of what `\d+`, `\s*`, `(,\d{3})+`,
# `(\s*,\s*[0-4])*` and friends match, then a character that makes the match fail at the very end.
ADVERSARIAL = {
    "digits": "1" * SIZE + "x",
    "spaces": "<" + " " * SIZE + "x",
    "tabs and newlines": "\t \n" * (SIZE // 3) + "x",
    "dots": "." * SIZE,
    "commas": "," * SIZE,
    "digit commas": "1," * (SIZE // 2),
    "thousands": "1" + ",000" * (SIZE // 4) + "x",
    "decimals": "1." * (SIZE // 2),
    "times ten": "x 10^" * (SIZE // 5),
    "comparators": "<" * SIZE,
    "brackets": "(" * SIZE + "x",
    "numbered": "1. " * (SIZE // 3),
    "ranges": "1-" * (SIZE // 2),
    "words": "upper limit of " * (SIZE // 15),
    "markdown": "\\" * SIZE,
    "comment": "<!--" * (SIZE // 4),
}

# Patterns applied with .match / .fullmatch at one position (after a number, at a line start); the rest scan.
ANCHORED = {"quantities._UNIT_RES", "quantities._POSTFIX", "quantities._DECIMAL_COMMA", "split._MARKER",
            "split._BULLET", "split._LEADING_NUMBER", "split._NOT_CRITERIA", "eligibility_text._AGE"}
# Applied only to a bounded slice of the text (45 characters after an ECOG mention, a gap of at most
# MAX_JOINER characters): timed on that slice and, whole, through the recognizer below.
WINDOWED = {"recognize._ECOG_LIST": 45, "recognize._ECOG_ONE": 45, "mentions.JOINER": mentions.MAX_JOINER}


def _patterns() -> Iterator[tuple[str, re.Pattern[str]]]:
    for module in (quantities, recognize, mentions, split, lexicon, eligibility_text):
        short = module.__name__.rsplit(".", 1)[-1]
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                yield f"{short}.{name}", value
            elif isinstance(value, tuple):
                for index, item in enumerate(value):
                    found = _pattern_in(item)
                    if found is not None:
                        yield f"{short}.{name}[{index}]", found


def _pattern_in(item: Any) -> re.Pattern[str] | None:
    if isinstance(item, tuple):
        return next((x for x in item if isinstance(x, re.Pattern)), None)
    pattern = getattr(item, "pattern", None)
    return pattern if isinstance(pattern, re.Pattern) else None


def _library_patterns() -> Iterator[tuple[str, re.Pattern[str]]]:
    """The drafting patterns of the concept library (reviewed data), one by one and as each concept's alternation."""
    library = CATALOG.concepts
    blocks = [(f"{kind}.{name}", concept.drafting) for kind in ("observations", "conditions", "procedures",
                                                                 "medications", "allergies")
              for name, concept in getattr(library, kind).items()]
    blocks += [(f"drafting_only.{name}", entry.drafting) for name, entry in library.drafting_only.items()]
    for where, drafting in blocks:
        if drafting is None:
            continue
        yield f"library.{where}", drafting.regex
        for index, pattern in enumerate(drafting.patterns):
            yield f"library.{where}[{index}]", re.compile(pattern, re.IGNORECASE)


PATTERNS = dict(_patterns()) | dict(_library_patterns())


def _use(name: str, pattern: re.Pattern[str]) -> Callable[[str], object]:
    base = name.split("[")[0]
    if base in ANCHORED:
        return lambda text: (pattern.match(text), pattern.match("1" + text, 1))
    if base in WINDOWED:
        width = WINDOWED[base]
        return lambda text: [pattern.search(text[i:i + width]) for i in range(0, len(text), 997)]
    return lambda text: sum(1 for _ in pattern.finditer(text))


def test_every_pattern_is_collected() -> None:
    assert len(PATTERNS) > 60 and "quantities._RANGE" in PATTERNS and "eligibility_text._HEADING" in PATTERNS
    assert "library.observations.hemoglobin" in PATTERNS and "library.drafting_only.karnofsky[0]" in PATTERNS


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_is_linear_on_adversarial_100kb(name: str) -> None:
    use = _use(name, PATTERNS[name])
    slowest = (0.0, "")
    for label, text in ADVERSARIAL.items():
        started = time.perf_counter()
        use(text)
        elapsed = time.perf_counter() - started
        slowest = max(slowest, (elapsed, label))
    assert slowest[0] < BUDGET, f"{name} took {slowest[0]:.2f} s on {slowest[1]!r}"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer.for_library(CATALOG.concepts)


# Whole criteria (the recognizer's own loops, not only its patterns), at ClinicalTrials.gov's size limit.
CRITERIA = {
    "a 20,000-digit number": "ANC ≥ " + "1" * 19_990,
    "a digit run before a range": "1" * 19_980 + " - 5 g/dL",
    "many bounds": "ALT < 5 x ULN; " * 1_333,
    "many names": "ALT AST " * 2_500,
    "bounds and conditions": "ALT < 5 x ULN liver metastases (" * 625,
    "unless everywhere": "unless ALT < 5 ULN gilbert " * 740,
    "a long gap": "ALT " + "(" * 19_980 + "x ALT < 5",
    "postfix bounds": "5 years or older " * 1_176,
    "x 10^ repeated": "ANC ≥ 1.5 " + "x 10^" * 3_990,
}


@pytest.mark.parametrize("label", sorted(CRITERIA))
def test_recognizer_is_bounded_at_the_size_limit(recognizer: Recognizer, label: str) -> None:
    text = CRITERIA[label]
    assert len(text) <= MAX_CRITERIA_CHARS
    started = time.perf_counter()
    split_criteria("Inclusion Criteria:\n" + text)
    _, thresholds = recognizer.thresholds(text)
    residual(text, thresholds, recognizer.lexicon)
    normal_words(text, recognizer.lexicon)
    assert time.perf_counter() - started < 2 * BUDGET  # measured: 0.1–0.3 s


def test_a_20000_digit_number_is_not_a_quantity(recognizer: Recognizer) -> None:
    _, thresholds = recognizer.thresholds("ANC ≥ " + "1" * 20_000 + " /mm3")
    assert thresholds == []  # more than 12 digits is not a lab value


_TOKENS = st.sampled_from(["1", "12", "1,500", "1.5", " ", "  ", ".", ",", "x 10^9/L", "×", "<", "≥", "-", "to",
                           "and", "or", "ULN", "ALT", "AST", "ECOG", "(", ")", ";", "\n", "1. ", "mg/dL", "years",
                           "unless", "liver metastases", "between", "older", "\\>", "0, 1"])


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, max_size=400).map("".join))
def test_any_text_drafts_quickly_without_error(recognizer: Recognizer, text: str) -> None:
    started = time.perf_counter()
    split_criteria(text)
    _, thresholds = recognizer.thresholds(text)
    residual(text, thresholds, recognizer.lexicon)
    assert time.perf_counter() - started < BUDGET


def _record(criteria: str, title: str = "A trial") -> dict[str, Any]:
    return {"protocolSection": {
        "identificationModule": {"nctId": "NCT01234567", "briefTitle": title},
        "statusModule": {"overallStatus": "RECRUITING"},
        "eligibilityModule": {"eligibilityCriteria": criteria, "minimumAge": "18 Years", "sex": "ALL"}}}


def test_criteria_over_the_clinicaltrials_gov_limit_are_refused() -> None:
    record = parse_record(_record("Inclusion Criteria:\n\n* ANC ≥ 1500/mm3 " + "x" * MAX_CRITERIA_CHARS), "test")
    with pytest.raises(DraftError, match=r"NCT01234567: eligibility criteria of \d+ characters; .* allows 20000"):
        draft_mapping(record, CATALOG.concepts)


def _draft(tmp_path: Path, record: str | bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path]:
    from adapter.cli import main

    path = tmp_path / "record.json"
    path.write_bytes(record.encode() if isinstance(record, str) else record)
    out = tmp_path / "site"
    status = main(["draft", "--record", str(path), "--out", str(out)])
    return status, capsys.readouterr().err, out


def test_cli_refuses_an_over_long_criteria_text_in_one_line(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    status, err, out = _draft(tmp_path, json.dumps(_record("* age ≥ 18 " * 3_000)), capsys)
    assert status == 2 and err.count("\n") == 1 and "allows 20000" in err
    assert not out.exists() or not any(out.iterdir())


def test_a_lone_surrogate_in_the_title_is_one_line_and_leaves_no_file(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    text = json.dumps(_record("Inclusion Criteria:\n\n* ANC ≥ 1500/mm3", title="PLACEHOLDER"))
    status, err, out = _draft(tmp_path, text.replace("PLACEHOLDER", "Trial \\ud800"), capsys)
    assert status == 2 and err.count("\n") == 1 and "lone surrogate" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("record", [
    b"[" * 5_000 + b"]" * 5_000,
    b'{"protocolSection": {"x": ' + b"9" * 5_000 + b"}}",
])
def test_a_hostile_record_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           record: bytes) -> None:
    status, err, _ = _draft(tmp_path, record, capsys)
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
