"""The per-options memo: what the engine reads off an EvidenceVariable is computed once per object, by identity."""

from __future__ import annotations

import pytest

from adapter.eligibility.options import EngineOptions, IdentityMemo

pytestmark: list[pytest.MarkDecorator] = []


def test_memo_is_by_identity_and_bounded() -> None:
    memo = IdentityMemo(limit=3)
    calls: list[int] = []
    a, b = {"x": 1}, {"x": 1}  # equal, not the same object

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert memo.get(a, "t", compute) == 1
    assert memo.get(a, "t", compute) == 1  # remembered
    assert memo.get(b, "t", compute) == 2  # another object: computed again
    assert memo.get(a, "other", compute) == 3  # another tag
    assert memo.get(a, "yet another", compute) == 4  # past the limit: starts afresh
    assert memo.get(a, "t", compute) == 5


def test_each_options_object_has_its_own_memo() -> None:
    assert EngineOptions().memo is not EngineOptions().memo
    assert EngineOptions() == EngineOptions()  # the memo takes no part in equality
