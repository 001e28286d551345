from __future__ import annotations

from datetime import date

import pytest

from adapter.screening.group import candidates_group, group_id

pytestmark: list[pytest.MarkDecorator] = []


def test_r4_and_r5_shapes() -> None:
    r4 = candidates_group("NCT03787251", "T", ["Patient/a", "Patient/b"], date(2026, 11, 1), "R4")
    r5 = candidates_group("NCT03787251", "T", ["Patient/a", "Patient/b"], date(2026, 11, 1), "R5")
    assert r4["actual"] is True and "membership" not in r4 and "description" not in r4
    assert r5["membership"] == "enumerated" and "actual" not in r5
    for group in (r4, r5):
        assert group["id"] == group_id("NCT03787251") == "screening-nct03787251"
        assert group["type"] == "person" and group["quantity"] == 2
        assert [m["entity"]["reference"] for m in group["member"]] == ["Patient/a", "Patient/b"]
        assert "2026-11-01" in group["name"]


def test_no_candidates_is_an_empty_group() -> None:
    group = candidates_group("NCT03787251", "T", [], date(2026, 11, 1))
    assert group["quantity"] == 0 and "member" not in group
