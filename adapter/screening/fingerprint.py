"""The compiled-trial hash: what decides whether a stored result of a trial is still the result a fresh screen
would give. It covers everything a result line depends on besides the patient's own lines — the trial's
EvidenceVariable, its mapping, the concept library, units table and site reference ranges it reads, its record
(title, status, draft), the as-of date, the MRN system, and the engine's own code — so a changed mapping, a new
concept, another `--as-of` or another version of the adapter each make the stored results stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.screening.patient import JobRecipe


def _canonical(value: Any) -> bytes:
    """A stable serialisation: pydantic models as their JSON, anything else (frozen dataclasses of tuples,
    mappings) as its repr, which is deterministic for them."""
    if value is None:
        return b"null"
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump()).encode()
    return repr(value).encode()


@cache
def engine_fingerprint() -> str:
    """The hash of the adapter's Python sources: an edited rule must re-evaluate everyone (a version number is
    not bumped for every change in a checkout)."""
    import adapter

    root = Path(adapter.__file__).parent
    digest = hashlib.sha256(adapter.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def trial_hashes(trials: Sequence[Trial], recipe: JobRecipe) -> dict[str, str]:
    """Each trial's compiled hash for this run (trial order kept)."""
    shared: dict[int, bytes] = {}  # trials of one catalog share their concept library and units: hashed once

    def once(value: Any) -> bytes:
        key = id(value)
        if key not in shared:
            shared[key] = hashlib.sha256(_canonical(value)).digest()
        return shared[key]

    context = orjson.dumps([recipe.as_of.isoformat(), recipe.mrn_system, recipe.terminology_server,
                            engine_fingerprint()])
    hashes: dict[str, str] = {}
    for trial in trials:
        digest = hashlib.sha256(context)
        digest.update(orjson.dumps(trial.evidence_variable, option=orjson.OPT_SORT_KEYS, default=str))
        digest.update(_canonical(trial.mapping))
        digest.update(_canonical(trial.record))
        digest.update(once(trial.concepts))
        digest.update(once(trial.units))
        digest.update(once(trial.reference_ranges))
        hashes[trial.nct_id] = digest.hexdigest()
    return hashes


def trial_set_hash(hashes: dict[str, str]) -> str:
    """One hash for the run's trials in their order: a patient's stored error holds for exactly this set."""
    return hashlib.sha256(orjson.dumps(list(hashes.items()))).hexdigest()
