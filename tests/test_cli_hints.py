"""Input the CLI cannot use, named with what to do instead: XML or NDJSON given to `evaluate --bundle`, a file given
to `screen --ndjson`, a misspelt option or command, a port already in use. One line on stderr, exit 2."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from adapter.cli import main
from tests.support.trials import PATIENTS, ROOT

pytestmark: list[pytest.MarkDecorator] = []


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors exit from inside main
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n") and "Traceback" not in captured.err
    return captured.err


def test_xml_bundle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "patient.xml"
    path.write_text('<?xml version="1.0"?>\n<Bundle xmlns="http://hl7.org/fhir"></Bundle>\n', encoding="utf-8")
    err = one_line(capsys, ["evaluate", "--bundle", str(path), "--as-of", "2026-11-01"])
    assert err == f"trial-adapter: error: {path} is XML: this command reads FHIR JSON\n"


def test_ndjson_bundle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bundle = json.loads((PATIENTS / "p-hiv.json").read_text(encoding="utf-8"))
    path = tmp_path / "Patient.ndjson"
    path.write_text("".join(json.dumps(e["resource"]) + "\n" for e in bundle["entry"]), encoding="utf-8")
    err = one_line(capsys, ["evaluate", "--bundle", str(path), "--as-of", "2026-11-01"])
    assert "looks like NDJSON (one resource per line): use `trial-adapter screen --ndjson DIR`" in err


def test_one_line_json_is_still_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "one-line.json"
    path.write_text(json.dumps(json.loads((PATIENTS / "p-hiv.json").read_text(encoding="utf-8"))) + "\n")
    assert main(["evaluate", "--bundle", str(path), "--as-of", "2026-11-01", "--format", "summary"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_plain_text_is_still_not_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("Hb 12.1 g/dL\nPLT 210\n", encoding="utf-8")
    assert "not JSON" in one_line(capsys, ["evaluate", "--bundle", str(path)])


def test_screen_ndjson_given_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    path.write_text('{"resourceType": "Patient", "id": "a"}\n', encoding="utf-8")
    err = one_line(capsys, ["screen", "--ndjson", str(path), "--out", str(tmp_path / "out")])
    assert f"--ndjson {path} is a file: pass the folder" in err and f"--ndjson {tmp_path})" in err


@pytest.mark.parametrize(("argv", "guess"), [
    (["evaluate", "--bundle", "x.json", "--as_of", "2026-11-01"], "(did you mean --as-of?)"),
    (["evaluate", "--bundel", "x.json"], "(did you mean --bundle?)"),
    (["evalute", "--bundle", "x.json"], "(did you mean evaluate?)"),
    (["evaluate", "--format", "sumary"], "(did you mean summary?)"),
    (["screen", "--ndjon", "dir", "--out", "o"], "(did you mean --ndjson?)"),
])
def test_misspelt_options_and_commands(capsys: pytest.CaptureFixture[str], argv: list[str], guess: str) -> None:
    err = one_line(capsys, argv)
    assert guess in err and "error:" in err


def test_serve_on_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = one_line(capsys, ["serve", "--allow-unauthenticated", "--port", str(port)])
    assert err == f"trial-adapter: error: port {port} on 127.0.0.1 is in use\n"


def test_serve_help_and_the_docs_agree_on_the_public_base_url(capsys: pytest.CaptureFixture[str]) -> None:
    """The JWT audience without --public-base-url is the address `serve` was started on, never the request's."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "http://HOST:PORT as started" in help_text and "never the request's Host header" in help_text
    assert "default: the request URL" not in help_text
    docs = " ".join((ROOT / "docs" / "cds-hooks.md").read_text(encoding="utf-8").split())
    assert "otherwise the address `serve` was started on" in docs
