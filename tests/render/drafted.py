"""A site folder holding a drafted trial, for the tests of what drafts look like in every output.

Not the drafter's output (which changes as the drafter learns): the reviewed seed mapping of NCT03787251 marked
`draft: true`, with `needs_review` on two thresholds a fixture patient settles — inc-neutrophils (ANC ≥ 1.5 × 10⁹/L)
and inc-platelets (PLT ≥ 80 × 10⁹/L) — so every result below is known in advance.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from adapter.catalog import TrialCatalog, load_catalog
from tests.support.trials import MAPPINGS

NCT = "NCT03787251"
FLAGGED = {"inc-neutrophils": "ANC read as neutrophils of any kind",
           "inc-platelets": "the record writes 109 / L; read as 10⁹/L"}


def drafted_site(folder: Path, *, draft: bool = True, flagged: dict[str, str] | None = None) -> Path:
    """`folder` with NCT03787251.yaml (`draft`, `needs_review` per `flagged`) and its record beside it."""
    flagged = FLAGGED if flagged is None else flagged
    text = (MAPPINGS / f"{NCT}.yaml").read_text(encoding="utf-8")
    if draft:
        text = text.replace(f"\ntrial: {NCT}\n", f"\ntrial: {NCT}\ndraft: true\n", 1)
    for criterion, why in flagged.items():
        head = f"  - id: {criterion}\n    type: inclusion\n"
        assert head in text, criterion
        text = text.replace(head, f"{head}    needs_review: \"{why}\"\n", 1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NCT}.yaml").write_text(text, encoding="utf-8")
    shutil.copy(MAPPINGS / f"{NCT}.json", folder / f"{NCT}.json")
    return folder


def drafted_catalog(folder: Path) -> TrialCatalog:
    return load_catalog([drafted_site(folder)])
