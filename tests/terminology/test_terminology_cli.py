"""`--terminology-server` on the command line, with a server that is not there: the evaluation runs, the report says."""

from __future__ import annotations

import json

import pytest

from adapter.cli import build_parser, main
from tests.support.hapi import free_port
from tests.support.trials import PATIENTS

pytestmark: list[pytest.MarkDecorator] = []


def test_evaluate_and_serve_take_the_option() -> None:
    parser = build_parser()
    args = parser.parse_args(["evaluate", "--bundle", "x.json", "--terminology-server", "http://tx.example/fhir"])
    assert args.terminology_server == "http://tx.example/fhir"
    serve = parser.parse_args(["serve", "--terminology-server", "http://tx.example/fhir"])
    assert serve.terminology_server == "http://tx.example/fhir"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_server_that_is_down_is_named_in_the_notes(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/fhir"
    argv = ["evaluate", "--trial", "NCT03320629", "--bundle", str(PATIENTS / "p-edge-629-pass.json"),
            "--as-of", "2026-11-01", "--format", fmt]
    assert main(argv) == 0
    plain = capsys.readouterr().out
    assert main([*argv, "--terminology-server", url]) == 0
    out = capsys.readouterr().out
    if fmt == "text":
        assert f"Terminology server {url} could not be used" in out
        return
    (report,), (before,) = json.loads(out), json.loads(plain)
    assert any(n.startswith(f"Terminology server {url} could not be used") for n in report["notes"])
    assert report["verdict"] == before["verdict"]
    assert report["criteria"] == before["criteria"]
