"""`trial-adapter evaluate`: the report contract on stdout, readable text, and one-line errors with exit 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapter.cli import main

pytestmark: list[pytest.MarkDecorator] = []

ROOT = Path(__file__).resolve().parents[1]
PATIENTS = ROOT / "fixtures" / "patients"
AS_OF = "2026-11-01"
CRITERION_KEYS = {"id", "type", "text", "result", "reason", "codes", "evidence"}


def bundle(name: str) -> str:
    return str(PATIENTS / f"{name}.json")


def evaluate(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["evaluate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def evaluate_json(capsys, name: str, trial: str = "NCT03787251") -> dict:
    """The report of one trial: `--format json` prints a list, one element per trial, even for one."""
    code, out, err = evaluate(capsys, "--trial", trial, "--bundle", bundle(name), "--as-of", AS_OF)
    assert code == 0 and err == ""
    (report,) = json.loads(out)
    return report


# ------------------------------------------------------------------------------------------ JSON


def test_json_report_matches_the_contract(capsys):
    report = evaluate_json(capsys, "p-eligible-us-units")
    assert {"trial", "patient", "as_of", "recruiting", "verdict", "criteria"} <= set(report)
    assert report["trial"] == "NCT03787251"
    assert report["patient"] == "Patient/p-eligible-us-units"
    assert report["as_of"] == AS_OF
    assert report["recruiting"] is False
    assert report["overall_status"] == "WITHDRAWN"
    assert report["verdict"] == "potentially-eligible"
    assert report["summary"] == {k: sum(c["result"] == k for c in report["criteria"])
                                 for k in ("pass", "fail", "unknown", "manual")}
    assert report["criteria"]
    for c in report["criteria"]:
        assert set(c) >= CRITERION_KEYS, c
        assert c["type"] in ("inclusion", "exclusion")
        assert c["result"] in ("pass", "fail", "unknown", "manual")
        assert isinstance(c["text"], str) and c["text"]
        assert isinstance(c["reason"], str) and c["reason"]
        assert isinstance(c["codes"], list) and all(isinstance(x, str) and "|" in x for x in c["codes"])
        for e in c["evidence"]:
            assert isinstance(e["reference"], str) and "/" in e["reference"]
    ids = [c["id"] for c in report["criteria"]]
    assert len(ids) == len(set(ids))


def test_codes_of_age_and_hemoglobin(capsys):
    for trial in ("NCT03787251", "NCT03320629"):
        criteria = {c["id"]: c for c in evaluate_json(capsys, "p-eligible-si-units", trial)["criteria"]}
        assert "http://snomed.info/sct|424144002" in criteria["inc-age"]["codes"]
        assert "http://loinc.org|718-7" in criteria["inc-hemoglobin"]["codes"]
        assert "http://loinc.org|59260-0" in criteria["inc-hemoglobin"]["codes"]


def test_json_evidence_is_traceable(capsys):
    criteria = {c["id"]: c for c in evaluate_json(capsys, "p-eligible-si-units", "NCT03320629")["criteria"]}
    (hb,) = criteria["inc-hemoglobin"]["evidence"]
    assert hb == {"reference": "Observation/eligible-si-units-hb", "value": 8.1, "unit": "mmol/L",
                  "date": "2026-10-27T08:30:00+08:00", "normalized": {"value": 130.491, "unit": "g/L"}}
    age = criteria["inc-age"]["evidence"][0]
    assert age == {"reference": "Patient/p-eligible-si-units", "value": 55, "unit": "a", "note": "born 1971-06-20"}


@pytest.mark.parametrize(
    "name, verdict",
    [("p-eligible-us-units", "potentially-eligible"), ("p-hiv", "ineligible"),
     ("p-missing-platelets", "insufficient-data")],
)
def test_exit_0_whatever_the_verdict(capsys, name, verdict):
    assert evaluate_json(capsys, name)["verdict"] == verdict


def test_unknown_criteria_say_what_is_missing(capsys):
    criteria = {c["id"]: c for c in evaluate_json(capsys, "p-missing-platelets")["criteria"]}
    assert criteria["inc-platelets"]["missing"] == ["Platelet count (777-3, 26515-7)"]
    assert "missing" not in criteria["inc-age"]


def test_every_trial_when_none_is_named(capsys):
    code, out, err = evaluate(capsys, "--bundle", bundle("p-hiv"), "--as-of", AS_OF)
    assert code == 0 and err == ""
    reports = json.loads(out)
    assert [r["trial"] for r in reports] == ["NCT03320629", "NCT03787251"]
    assert [r["verdict"] for r in reports] == ["potentially-eligible", "ineligible"]


def test_trial_id_is_case_insensitive(capsys):
    code, out, _ = evaluate(capsys, "--trial", "nct03320629", "--bundle", bundle("p-hiv"), "--as-of", AS_OF)
    assert code == 0 and [r["trial"] for r in json.loads(out)] == ["NCT03320629"]


def test_bundle_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO((PATIENTS / "p-apatinib-allergy.json").read_text()))
    code, out, err = evaluate(capsys, "--trial", "NCT03320629", "--bundle", "-", "--as-of", AS_OF)
    assert code == 0 and err == ""
    assert [r["verdict"] for r in json.loads(out)] == ["ineligible"]


def test_notes_about_ignored_data(capsys):
    report = evaluate_json(capsys, "p-foreign-and-future-results")
    assert report["notes"] == ["1 resource belonging to another patient was ignored."]


# ------------------------------------------------------------------------------------------ text


def test_text_output_is_a_readable_checklist(capsys):
    code, out, err = evaluate(capsys, "--trial", "NCT03787251", "--bundle", bundle("p-hiv"), "--as-of", AS_OF,
                              "--format", "text", "--verbose")  # every criterion, though the patient is ineligible
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "NCT03787251  patient Patient/p-hiv  as of 2026-11-01"
    assert lines[1].startswith("verdict: ineligible   (") and "trial not recruiting (WITHDRAWN)" in lines[1]
    assert "INCLUSION CRITERIA" in lines and "EXCLUSION CRITERIA" in lines
    assert any(line.startswith("  [PASS   ] inc-age:") for line in lines)
    assert any(line.startswith("  [FAIL   ] exc-immunodeficiency:") for line in lines)
    assert any(line.startswith("  [REVIEW ] exc-investigator-judgment:") for line in lines)
    assert "↳ Observation/hiv-hb 13.2 g/dL  2026-10-27" in out
    assert "\033[" not in out  # no colour when stdout is not a terminal
    # failures first within a section
    exclusion = lines[lines.index("EXCLUSION CRITERIA") + 1]
    assert exclusion.startswith("  [FAIL   ] exc-immunodeficiency")


def test_text_output_for_two_trials(capsys):
    code, out, _ = evaluate(capsys, "--bundle", bundle("p-stale-blood-count"), "--as-of", AS_OF, "--format", "text")
    assert code == 0
    assert out.count("verdict: insufficient-data") == 2
    assert "[UNKNOWN] inc-hemoglobin" in out and "stale" in out


# ----------------------------------------------------------------------------------------- errors


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("trial-adapter: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_missing_file(capsys, tmp_path):
    missing = tmp_path / "nope.json"
    assert_one_line_error(*evaluate(capsys, "--bundle", str(missing), "--as-of", AS_OF), "no such file")


def test_not_json(capsys, tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("Hb 12.1 g/dL on 27 Oct\n")
    assert_one_line_error(*evaluate(capsys, "--bundle", str(path), "--as-of", AS_OF), "not JSON")


def test_not_utf8(capsys, tmp_path):
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00{")
    assert_one_line_error(*evaluate(capsys, "--bundle", str(path), "--as-of", AS_OF), "cannot read")


def test_json_that_is_not_fhir(capsys):
    assert_one_line_error(*evaluate(capsys, "--bundle", bundle("p-not-fhir"), "--as-of", AS_OF),
                          "not a FHIR resource")


@pytest.mark.parametrize("data", [[1, 2], "a string", 42, {"resourceType": 7}])
def test_other_json_that_is_not_fhir(capsys, tmp_path, data):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(*evaluate(capsys, "--bundle", str(path), "--as-of", AS_OF))


def test_no_patient(capsys, tmp_path):
    source = json.loads((PATIENTS / "p-eligible-us-units.json").read_text())
    source["entry"] = [e for e in source["entry"] if e["resource"]["resourceType"] != "Patient"]
    path = tmp_path / "no-patient.json"
    path.write_text(json.dumps(source))
    assert_one_line_error(*evaluate(capsys, "--bundle", str(path), "--as-of", AS_OF), "no Patient")


def test_two_patients(capsys):
    assert_one_line_error(*evaluate(capsys, "--bundle", bundle("p-two-patients"), "--as-of", AS_OF),
                          "more than one Patient", "Patient/p-two-patients-a", "Patient/p-two-patients-b")


@pytest.mark.parametrize("as_of", ["2026-13-01", "01/11/2026", "tomorrow", ""])
def test_bad_as_of(capsys, as_of):
    assert_one_line_error(*evaluate(capsys, "--bundle", bundle("p-hiv"), "--as-of", as_of), "--as-of", "YYYY-MM-DD")


def test_unknown_trial(capsys):
    assert_one_line_error(*evaluate(capsys, "--trial", "NCT00000000", "--bundle", bundle("p-hiv"),
                                    "--as-of", AS_OF), "unknown trial NCT00000000", "NCT03787251")


def test_no_bundle(capsys):
    assert_one_line_error(*evaluate(capsys, "--as-of", AS_OF), "--bundle")


# ------------------------------------------------------------------------------------- subprocess


def test_python_dash_m_adapter_evaluate():
    completed = subprocess.run(
        [sys.executable, "-m", "adapter", "evaluate", "--trial", "NCT03320629", "--bundle",
         bundle("p-crcl-exactly-50"), "--as-of", AS_OF],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (report,) = json.loads(completed.stdout)
    assert report["verdict"] == "ineligible"
    renal = next(c for c in report["criteria"] if c["id"] == "inc-renal-function")
    assert renal["result"] == "fail" and "50 mL/min ≤ 50 mL/min" in renal["reason"]


def test_python_dash_m_adapter_error_has_no_traceback():
    completed = subprocess.run(
        [sys.executable, "-m", "adapter", "evaluate", "--bundle", bundle("p-two-patients"), "--as-of", AS_OF],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr


@pytest.mark.parametrize(("content", "fragment"), [
    ("[" * 10_000 + "]" * 10_000, "nested"),
    ('{"resourceType": "Bundle", "total": ' + "9" * 5000 + "}", "digits"),
    ('{"a": ' + "[" * 100 + "]" * 100 + "}", "nested deeper"),
])
def test_hostile_json_is_one_line_not_a_traceback(capsys, tmp_path, content, fragment):
    path = tmp_path / "hostile.json"
    path.write_text(content)
    assert_one_line_error(*evaluate(capsys, "--bundle", str(path), "--as-of", AS_OF), fragment)


# ------------------------------------------------------------------- --server: who answers, and how long it may take

SERVER = "https://fhir.test/fhir"


def _searchset(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


def _batch_response(patient: dict, observations: dict | None = None, searches: int = 7) -> dict:
    entries = [{"resource": patient, "response": {"status": "200 OK"}},
               {"resource": observations or _searchset(), "response": {"status": "200 OK"}}]
    entries += [{"resource": _searchset(), "response": {"status": "200 OK"}} for _ in range(searches - 1)]
    return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}


def test_a_server_that_answers_about_another_patient_is_refused(capsys):
    """Issue 10 (10): `--patient p1`, and the batch comes back with Patient/someone-else (and their results)."""
    import httpx
    import respx

    other = {"resourceType": "Patient", "id": "someone-else", "gender": "female", "birthDate": "1960-01-01"}
    hb = {"resourceType": "Observation", "id": "hb", "status": "final",
          "subject": {"reference": "Patient/someone-else"},
          "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
          "effectiveDateTime": "2026-10-27T08:00:00Z",
          "valueQuantity": {"value": 12.1, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"}}
    with respx.mock(assert_all_called=True) as router:
        router.post(SERVER + "/").mock(return_value=httpx.Response(
            200, json=_batch_response(other, _searchset(hb)), headers={"Content-Type": "application/fhir+json"}))
        result = evaluate(capsys, "--trial", "NCT03787251", "--server", SERVER, "--patient", "p1", "--as-of", AS_OF)
    assert_one_line_error(*result, "p1")
    assert "someone-else" in result[2]


class _SlowPages:
    """A FHIR server on 127.0.0.1 whose every answer takes 0.6 s: the batch, then Observation pages 2…5."""

    delay = 0.6

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1960-01-01"}
                observations = {**_searchset(), "link": [{"relation": "next", "url": outer.page(2)}]}
                self._answer(_batch_response(patient, observations))

            def do_GET(self) -> None:
                page = int(self.path.rsplit("page=", 1)[1])
                links = [{"relation": "next", "url": outer.page(page + 1)}] if page < 5 else []
                self._answer({**_searchset(), "link": links})

            def _answer(self, body: dict) -> None:
                time.sleep(outer.delay)
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, n: int) -> str:
        return f"{self.base}/Observation?page={n}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_pages():
    server = _SlowPages()
    yield server
    server.close()


def test_timeout_bounds_the_whole_pull_not_each_request(capsys, slow_pages):
    """Five answers of 0.6 s each: every one is within --timeout 1.5, the pull as a whole (3 s) is not."""
    started = time.monotonic()
    result = evaluate(capsys, "--trial", "NCT03787251", "--server", slow_pages.base, "--patient", "p1",
                      "--as-of", AS_OF, "--timeout", "1.5")
    took = time.monotonic() - started
    assert_one_line_error(*result, "1.5s deadline")
    assert took < 1.5 + 1.0, took


def test_a_timeout_long_enough_for_the_whole_pull_succeeds(capsys, slow_pages):
    code, out, err = evaluate(capsys, "--trial", "NCT03787251", "--server", slow_pages.base, "--patient", "p1",
                              "--as-of", AS_OF, "--timeout", "10")
    assert code == 0, err
    assert json.loads(out)[0]["patient"] == "Patient/p1"


# ------------------------------------------------------------------------------ --reference-ranges


def test_reference_ranges_bad_file_is_one_line_exit_2(capsys, tmp_path) -> None:
    bad = tmp_path / "ranges.yaml"
    bad.write_text("sources: {lab: {title: t}}\nrows:\n  - {loinc: 2160-0, sex: woman, unit: mg/dL, high: 1, "
                   "source: lab}\n", encoding="utf-8")
    code, out, err = evaluate(capsys, "--trial", "NCT03320629", "--bundle", bundle("p-edge-629-pass"),
                              "--as-of", AS_OF, "--reference-ranges", str(bad))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"reference ranges {bad}: row 1 (sex)" in err


def test_reference_ranges_serve_a_result_sent_without_one(capsys, tmp_path) -> None:
    import copy

    data = json.loads((PATIENTS / "p-edge-629-pass.json").read_text(encoding="utf-8"))
    patient = copy.deepcopy(data)
    for entry in patient["entry"]:
        resource = entry["resource"]
        if resource.get("id") == "edge-629-pass-cr":
            resource.pop("referenceRange")
    path = tmp_path / "no-range.json"
    path.write_text(json.dumps(patient), encoding="utf-8")
    example = ROOT / "docs" / "reference-ranges.example.yaml"
    code, out, _ = evaluate(capsys, "--trial", "NCT03320629", "--bundle", str(path), "--as-of", AS_OF,
                            "--reference-ranges", str(example))
    assert code == 0
    renal = next(c for c in json.loads(out)[0]["criteria"] if c["id"] == "inc-renal-function")
    assert "site default ULN 1.22 mg/dL for male" in renal["reason"] and "reference-ranges" in renal["reason"]


def test_a_bundle_past_the_resource_cap_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    import adapter.limits as limits
    from adapter.cli import main

    monkeypatch.setattr(limits, "MAX_RESOURCES_PER_PATIENT", 3)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p"}},
        *({"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final"}} for i in range(5))]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    assert main(["evaluate", "--trial", "NCT03320629", "--bundle", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "patient record has 6 resources, limit 3" in err
