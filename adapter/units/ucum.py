"""UCUM parsing (ucumvert's grammar on lark) and the pint registry built from ucumvert's definitions.

lark, ucumvert and pint cost ~0.5 s to import and build, so they are loaded on first use, once per
process. Normalisation only needs a parse's `ParseFacts` (valid or not, the error, the tokens), a plain
value that the persistent cache (`adapter.units.cache`) can supply without loading any library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from adapter.vocabulary import UCUM

if TYPE_CHECKING:
    import pint

UCUM_SYSTEM = UCUM  # kept as the units package's own name for it

MEMO_LIMIT = 4096  # bounded memos: a flood of junk units cannot grow memory without limit

_T = TypeVar("_T")
_lock = threading.Lock()
_built: dict[str, Any] = {}


def _once(name: str, build: Callable[[], _T]) -> _T:
    """Build a library object the first time it is asked for (double-checked: threads share one)."""
    value = _built.get(name)
    if value is None:
        with _lock:
            value = _built.get(name)
            if value is None:
                value = _built[name] = build()
    return value


def _build_parser() -> Any:
    from ucumvert import get_ucum_parser

    return get_ucum_parser()


def _build_registry() -> tuple[pint.UnitRegistry[Any], Any]:
    import pint
    import ucumvert
    from ucumvert import UcumToPintTransformer

    registry: pint.UnitRegistry[Any] = pint.UnitRegistry()
    registry.load_definitions(Path(ucumvert.__file__).resolve().parent / "pint_ucum_defs.txt")
    return registry, UcumToPintTransformer(ureg=registry)


def _build_arbitrary_atoms() -> frozenset[str]:
    from ucumvert.xml_util import get_units_with_full_definition

    return frozenset(u.code_cs for u in get_units_with_full_definition() if u.is_arbitrary)


def parser() -> Any:
    """The lark parser for UCUM."""
    return _once("parser", _build_parser)


def registry() -> tuple[pint.UnitRegistry[Any], Any]:
    """(registry, transformer): a private pint registry with ucumvert's UCUM definitions."""
    return _once("pint", _build_registry)


def arbitrary_atoms() -> frozenset[str]:
    """UCUM's arbitrary units (``[IU]``, ``[arb'U]``, ...): commensurable only with themselves."""
    return _once("arbitrary", _build_arbitrary_atoms)


@dataclass(frozen=True, slots=True)
class ParseFacts:
    """What a parse says about a unit string, without the tree."""

    error: str | None  # None when the unit is valid UCUM
    tokens: tuple[tuple[str, str], ...]  # (token type, value), in order; empty when invalid

    @property
    def valid(self) -> bool:
        return self.error is None


# unit -> facts; computed here or seeded from the persistent cache (both give the same value)
_facts: dict[str, ParseFacts] = {}


@lru_cache(maxsize=MEMO_LIMIT)
def _parse(unit: str) -> tuple[Any, ParseFacts]:
    """(lark tree or None, facts) for a unit string."""
    if not unit or unit != unit.strip():
        return None, ParseFacts("empty or padded unit", ())
    from lark import Token
    from ucumvert import InvalidUcumError, parse_ucum

    try:
        tree = parse_ucum(unit, parser())
    except InvalidUcumError as exc:
        return None, ParseFacts(str(exc).splitlines()[0], ())
    except Exception as exc:  # lark raises a few other error types on odd input
        return None, ParseFacts(f"{unit!r} is not a valid UCUM unit ({type(exc).__name__})", ())
    tokens = tuple((t.type, str(t)) for t in tree.scan_values(lambda v: isinstance(v, Token)))
    return tree, ParseFacts(None, tokens)


def parse_facts(unit: str) -> ParseFacts:
    """Validity and tokens of ``unit``; loads the parser only for a unit not seen (or seeded) before."""
    if not isinstance(unit, str):
        return ParseFacts(f"{unit!r} is not a unit", ())
    facts = _facts.get(unit)
    if facts is None:
        facts = _parse(unit)[1]
        remember_facts(unit, facts)
    return facts


def parse_tree(unit: str) -> Any:
    """The lark tree of a valid UCUM unit, None when invalid (always parses: pint needs the tree)."""
    return _parse(unit)[0]


def remember_facts(unit: str, facts: ParseFacts) -> None:
    """Memoise facts for a unit (also how the persistent cache seeds them); keeps an existing entry."""
    if unit not in _facts:
        if len(_facts) >= MEMO_LIMIT:
            _facts.clear()
        _facts[unit] = facts


def known_facts() -> dict[str, ParseFacts]:
    """A copy of the memoised facts (for the persistent cache)."""
    return dict(_facts)


def is_ucum(unit: str) -> bool:
    """True when ``unit`` is a syntactically valid UCUM code (case-sensitive)."""
    return parse_facts(unit).valid
