"""The Spark engine reads a hostile export folder through the same listing and reader as the local engine: the
same refusals, the same error lines, the same results — in local mode and on a standalone master and worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.catalog import TrialCatalog
from adapter.screening.source import ReadLimits
from tests.screening.test_hostile_export import _gzip_bomb, _long_line_file, _screen, hostile_folder, patient

SPARK = True  # conftest: spark and java markers
pytestmark = [pytest.mark.spark, pytest.mark.java]


def _key(lines: list[dict]) -> list[str]:
    return sorted(str(sorted(line.items())) for line in lines)


@pytest.mark.parametrize("where", ["local-mode", "standalone-cluster"])
def test_spark_refuses_and_reports_exactly_as_the_local_engine(tmp_path: Path, catalog: TrialCatalog,
                                                               request: pytest.FixtureRequest, where: str) -> None:
    master = request.getfixturevalue("spark_master") if where == "standalone-cluster" else None
    export = hostile_folder(tmp_path)
    (export / "Patient[s].ndjson").write_bytes(patient("p-bracket") + b"\n")
    _long_line_file(export / "Observation.3.ndjson", 5000)
    _gzip_bomb(export / "Condition.2.ndjson.gz", 8 << 20)
    # an unreadable line naming a patient: that patient is reported, not screened, by both engines
    (export / "Patient.9.ndjson").write_bytes(patient("p-tainted") + b"\n")
    (export / "Condition.9.ndjson").write_bytes(
        b'{"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/p-tainted"}, "code": '
        b'{"text": "\\ud800"}}\n')
    limits = ReadLimits(max_line_bytes=1 << 20)
    local = _screen(export, tmp_path / "local", catalog, limits=limits)
    spark = _screen(export, tmp_path / "spark", catalog, limits=limits, engine="spark", spark_master=master)
    assert _key(local[0]) == _key(spark[0])
    assert _key(local[1]) == _key(spark[1])
    kinds = sorted(e["kind"] for e in spark[1])
    assert kinds.count("refused-file") == 4 and "unreadable-line" in kinds
    assert all("PRIVATE-NAME" not in str(e) for e in spark[1])
    assert any(e["kind"] == "patient-data" and e["patient"] == "Patient/p-tainted" for e in spark[1])
    assert all(line["patient"] != "Patient/p-tainted" for line in spark[0])
