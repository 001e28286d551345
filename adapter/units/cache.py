"""A persistent cache of what unit handling learnt in one process, so the next need not load pint/ucumvert.

Building the UCUM parser and pint's registry costs ~0.5 s, more than a whole CLI run otherwise takes.
What a run needs of them is small: for each unit string whether it is valid UCUM and its tokens (for
normalisation), and for each (from, to, molar mass) the factor and offset, or the refusal. Those are
plain values, memoised in `adapter.units.ucum` and `adapter.units.convert`; this module turns the memos
into JSON text and back. It does no file I/O: the caller (the CLI) reads and writes the file::

    seed_conversion_cache(path.read_bytes())      # before the run; False = ignored (missing, foreign, corrupt)
    ...
    text = conversion_cache_snapshot()            # after the run; write it (atomically) if it changed

Nothing in a document is trusted unless all of it checks: the format, a fingerprint of the library
versions (ucumvert, pint, lark), the Python version and this package's parsing and conversion code,
a SHA-256 checksum of the content, and every entry's types and Decimal spelling. Entries depend on no
units table (normalisation reruns its rules from the cached parse facts), so one cache serves every
table. A seeded factor gives the same Decimal as a fresh computation: Decimals round-trip through
their canonical strings exactly.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from adapter.units import ucum

# by module path: `from adapter.units import convert` would be the exported function, not the module
from adapter.units.convert import Conversion, ConversionKey, known_conversions, remember_conversion

FORMAT = "trial-fhir-adapter/units-cache/1"
_KEYS = frozenset({"format", "fingerprint", "checksum", "parses", "conversions"})
_LIBRARIES = ("ucumvert", "pint", "lark")
_CODE = ("ucum.py", "convert.py")  # the modules whose results are cached


class _Invalid(Exception):
    """The document is not one this process wrote, or not intact."""


def _distribution(name: str) -> str | None:
    """``name-version`` of an installed library, from its dist-info folder (importlib.metadata costs ~20 ms)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    found = [p.name for p in Path(spec.origin).parent.parent.glob(f"{name}-*.dist-info")]
    return found[0].removesuffix(".dist-info") if len(found) == 1 else None


@lru_cache(maxsize=1)
def _fingerprint() -> str | None:
    """What cached entries depend on; None (caching off) when it cannot be told."""
    import hashlib  # ~4 ms (OpenSSL); only a process that uses the cache pays it

    parts = [FORMAT, f"python {sys.version_info[0]}.{sys.version_info[1]}"]
    for name in _LIBRARIES:
        dist = _distribution(name)
        if dist is None:
            return None
        parts.append(dist)
    here = Path(__file__).parent
    try:
        parts.extend(hashlib.sha256((here / name).read_bytes()).hexdigest() for name in _CODE)
    except OSError:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _checksum(fingerprint: str, parses: Any, conversions: Any) -> str:
    import hashlib

    canonical = json.dumps([FORMAT, fingerprint, parses, conversions], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def conversion_cache_snapshot() -> str:
    """JSON text of the memoised parse facts and conversions; deterministic, so equal text = nothing new.

    An empty string when caching is off (library versions or code cannot be fingerprinted).
    """
    fingerprint = _fingerprint()
    if fingerprint is None:
        return ""
    parses = {
        unit: [facts.error, [list(token) for token in facts.tokens]]
        for unit, facts in ucum.known_facts().items()
        if isinstance(unit, str)
    }
    conversions = sorted(
        (
            _conversion_entry(key, value)
            for key, value in known_conversions().items()
            if isinstance(key[0], str) and isinstance(key[1], str) and (key[2] is None or key[2].is_finite())
        ),
        key=lambda entry: entry[:3],
    )
    document = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "checksum": _checksum(fingerprint, parses, conversions),
        "parses": parses,
        "conversions": conversions,
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _conversion_entry(key: ConversionKey, value: Conversion) -> list[Any]:
    from_unit, to_unit, molar_mass = key
    result = {"error": value} if isinstance(value, str) else {"factor": str(value[0]), "offset": str(value[1])}
    return [from_unit, to_unit, "" if molar_mass is None else str(molar_mass), result]


def seed_conversion_cache(data: str | bytes) -> bool:
    """Memoise the entries of a document written by `conversion_cache_snapshot`.

    All or nothing: returns False, and seeds nothing, for anything not intact and not written by this
    code with these libraries (bad JSON, another format or version, a changed byte, a malformed entry).
    Entries this process already computed are kept.
    """
    try:
        document = json.loads(data)
        facts, conversions = _read(document)
    except (_Invalid, ValueError, TypeError, RecursionError):
        return False
    for unit, fact in facts.items():
        ucum.remember_facts(unit, fact)
    for key, value in conversions.items():
        remember_conversion(key, value)
    return True


def _read(document: Any) -> tuple[dict[str, ucum.ParseFacts], dict[ConversionKey, Conversion]]:
    fingerprint = _fingerprint()
    if not isinstance(document, dict) or set(document) != _KEYS:
        raise _Invalid("not a units cache")
    if fingerprint is None or document["format"] != FORMAT or document["fingerprint"] != fingerprint:
        raise _Invalid("written by other code or libraries")
    parses, conversions = document["parses"], document["conversions"]
    if document["checksum"] != _checksum(fingerprint, parses, conversions):
        raise _Invalid("content changed")
    if not isinstance(parses, dict) or not isinstance(conversions, list):
        raise _Invalid("malformed")
    if len(parses) > ucum.MEMO_LIMIT or len(conversions) > ucum.MEMO_LIMIT:
        raise _Invalid("more entries than this code ever memoises")
    return ({_str(u): _facts(entry) for u, entry in parses.items()}, dict(_conversion(e) for e in conversions))


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("not a string")
    return value


def _decimal(text: Any) -> Decimal:
    """A finite Decimal in its canonical spelling (Decimal() would also take ' 1', '1_0', 'Infinity')."""
    try:
        value = Decimal(_str(text))
    except InvalidOperation:
        raise _Invalid("not a number") from None
    if not value.is_finite() or str(value) != text:
        raise _Invalid("not a canonical finite number")
    return value


def _facts(entry: Any) -> ucum.ParseFacts:
    if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
        raise _Invalid("malformed parse entry")
    error = None if entry[0] is None else _str(entry[0])
    tokens = []
    for token in entry[1]:
        if not isinstance(token, list) or len(token) != 2:
            raise _Invalid("malformed token")
        tokens.append((_str(token[0]), _str(token[1])))
    if (error is None) != bool(tokens):  # a valid unit has tokens, an invalid one none
        raise _Invalid("inconsistent parse entry")
    return ucum.ParseFacts(error, tuple(tokens))


def _conversion(entry: Any) -> tuple[ConversionKey, Conversion]:
    if not isinstance(entry, list) or len(entry) != 4 or not isinstance(entry[3], dict):
        raise _Invalid("malformed conversion entry")
    from_unit, to_unit, molar_mass, result = _str(entry[0]), _str(entry[1]), _str(entry[2]), entry[3]
    key = (from_unit, to_unit, _decimal(molar_mass) if molar_mass else None)
    if set(result) == {"error"}:
        return key, _str(result["error"])
    if set(result) == {"factor", "offset"}:
        return key, (_decimal(result["factor"]), _decimal(result["offset"]))
    raise _Invalid("malformed conversion result")
