"""The parsed-YAML cache only saves time: the same data with or without it, and a damaged entry is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.catalog import load_catalog
from adapter.errors import MappingError
from adapter.mapping.loader import parse_yaml
from adapter.mapping.parsed_cache import ParsedYamlCache

pytestmark: list[pytest.MarkDecorator] = []


def test_same_data_with_and_without_the_cache(tmp_path: Path) -> None:
    cache = ParsedYamlCache(tmp_path, parse_yaml)
    text = "a: [1, 2.5, x]\nb: {c: true}\n"
    assert cache(text, "t") == parse_yaml(text, "t") == cache(text, "t")
    assert len(list(tmp_path.glob("yaml-*.json"))) == 1


def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path: Path) -> None:
    cache = ParsedYamlCache(tmp_path, parse_yaml)
    cache("a: 1\n", "t")
    (entry,) = tmp_path.glob("yaml-*.json")
    entry.write_text('{"format": "trial-adapter-parsed-yaml-1", "sha256": "forged", "data": {"a": 2}}')
    assert cache("a: 1\n", "t") == {"a": 1}
    entry.write_text("{not json")
    assert cache("a: 1\n", "t") == {"a": 1}


def test_errors_are_the_same_as_without_the_cache(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not valid YAML"):
        ParsedYamlCache(tmp_path, parse_yaml)("a: [1,\n", "broken.yaml")


def test_the_catalog_reads_the_same_through_the_cache(tmp_path: Path) -> None:
    plain, cached = load_catalog(), load_catalog(cache_dir=tmp_path)
    assert load_catalog(cache_dir=tmp_path).concepts == cached.concepts == plain.concepts
    assert cached.get("NCT03787251").mapping == plain.get("NCT03787251").mapping
