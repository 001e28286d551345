"""Hostile files in a `--mappings` folder: each is one line on stderr and exit 2 — bounded in time and memory.

A billion-laughs concepts.yaml (1 KB) used to take 1.4 GB and 15 s (the parsed-YAML cache expanded every alias);
a record nested 5,000 deep or with a 5,000-digit integer was a traceback. `serve` refuses such a folder at start.
"""

from __future__ import annotations

import shutil
import time
import tracemalloc
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.errors import MappingError
from adapter.yamlio import load_yaml
from tests.support.trials import MAPPINGS

pytestmark: list[pytest.MarkDecorator] = []

TRIAL = "NCT03320629"
LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
QUADRATIC = 'a: &a "' + "x" * 100_000 + '"\nb: [' + ", ".join(["*a"] * 20_000) + "]\n"


def _site(tmp_path: Path, **files: str | bytes) -> Path:
    """A site folder: the seed trial's mapping and record, with `files` (name -> content) replacing or added."""
    site = tmp_path / "site"
    site.mkdir()
    for suffix in (".yaml", ".json"):
        shutil.copy(MAPPINGS / f"{TRIAL}{suffix}", site / f"{TRIAL}{suffix}")
    for name, content in files.items():
        (site / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return site


def _one_line(capsys: pytest.CaptureFixture[str], code: int, *fragments: str) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("trial-adapter: error: "), captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in captured.err, captured.err
    return captured.err


@pytest.mark.parametrize(("name", "content"), [("concepts.yaml", LAUGHS), ("concepts-extra.yaml", QUADRATIC),
                                               ("units.yaml", LAUGHS), (f"{TRIAL}.yaml", LAUGHS)])
def test_alias_bombs_are_one_line_quickly_and_small(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     name: str, content: str) -> None:
    site = _site(tmp_path, **{name: content})
    tracemalloc.start()
    started = time.perf_counter()
    try:
        code = main(["map", "--mappings", str(site), "--trial", TRIAL])
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < 10  # measured: ~1 s, all of it loading the bundled library
    assert peak < 200 * 1024 * 1024  # measured: ~60 MB traced (the bundled library); the bomb adds nothing
    _one_line(capsys, code, str(site / name), "aliases expand")


def test_alias_expansion_is_measured_before_anything_is_built() -> None:
    started = time.perf_counter()
    with pytest.raises(MappingError, match=r"^concepts\.yaml: YAML aliases expand to more than \d+ characters"):
        load_yaml(LAUGHS, "concepts.yaml")
    with pytest.raises(MappingError, match="aliases expand"):
        load_yaml(QUADRATIC, "concepts.yaml")
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(("text", "message"), [
    ("a: &a [*a]\n", "alias \\*a names no complete node"),  # a node that contains itself
    ("a: *nowhere\n", "not valid YAML"),
    ("a: [\n", r"line 2 not valid YAML"),
])
def test_broken_aliases_are_named(text: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        load_yaml(text, "f.yaml")


def test_a_few_shared_lists_are_fine() -> None:
    shared = "codes: &codes [" + ", ".join(f'"{n}"' for n in range(200)) + "]\nmore: *codes\nagain: *codes\n"
    data = load_yaml(shared, "f.yaml")
    assert data["again"] == data["codes"] and len(data["more"]) == 200


def test_the_bundled_library_still_loads() -> None:
    for path in sorted(MAPPINGS.glob("*.yaml")):  # concepts-medications.yaml shares code lists by anchors
        assert load_yaml(path.read_text(encoding="utf-8"), str(path)) is not None


@pytest.mark.parametrize(("record", "fragment"), [
    (b"[" * 5_000 + b"]" * 5_000, "nested"),
    (b'{"protocolSection": {"n": ' + b"9" * 5_000 + b"}}", "digits"),
    (b'{"protocolSection": {"identificationModule": {"nctId": "NCT03320629", "briefTitle": "\\udc00"}}}',
     "lone surrogate"),
])
def test_a_hostile_record_beside_a_mapping_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        record: bytes, fragment: str) -> None:
    site = _site(tmp_path, **{f"{TRIAL}.json": record})
    started = time.perf_counter()
    code = main(["map", "--mappings", str(site), "--trial", TRIAL])
    assert time.perf_counter() - started < 10
    _one_line(capsys, code, str(site / f"{TRIAL}.json"), fragment)


def test_serve_refuses_a_broken_folder_at_start(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("uvicorn must not start on a broken mappings folder")

    monkeypatch.setattr(uvicorn, "run", never)
    site = _site(tmp_path, **{f"{TRIAL}.json": b"[" * 5_000 + b"]" * 5_000})
    for workers in (["--workers", "1"], ["--workers", "2", "--state-dir", str(tmp_path / "state")]):
        code = main(["serve", "--allow-unauthenticated", "--mappings", str(site), *workers])
        _one_line(capsys, code, f"{TRIAL}.json", "nested")
