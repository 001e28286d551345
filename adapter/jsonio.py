"""JSON from outside (files, stdin, request bodies), parsed once and bounded: size, nesting depth, number length.

The standard parser would raise RecursionError on deeply nested input and ValueError on integer literals over
4,300 digits; both are input errors here, named, never a traceback or a 500.
"""

from __future__ import annotations

import json
from typing import Any

from adapter.errors import PatientDataError

MAX_DEPTH = 64  # FHIR resources nest a dozen levels; a Bundle of Bundles a few more
MAX_NUMBER_CHARS = 40  # digits of an integer literal; a lab value never needs more
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class JsonInputError(PatientDataError):
    """Input that is not JSON, or JSON beyond the limits."""


def _bounded_int(text: str) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonInputError(f"an integer literal of {len(text)} digits")
    return int(text)


def parse_json(content: bytes | str, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_depth: int = MAX_DEPTH) -> Any:
    """The parsed value, or JsonInputError naming `source` and what is wrong."""
    if len(content) > max_bytes:
        raise JsonInputError(f"{source}: larger than {max_bytes} bytes")
    try:
        value = json.loads(content, parse_int=_bounded_int)
    except JsonInputError as exc:
        raise JsonInputError(f"{source}: not usable JSON ({exc})") from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise JsonInputError(f"{source}: not UTF-8 text") from None
    except RecursionError:
        raise JsonInputError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an over-long float literal
        raise JsonInputError(f"{source}: not usable JSON ({exc})") from None
    if depth_exceeds(value, max_depth):
        raise JsonInputError(f"{source}: JSON nested deeper than {max_depth} levels")
    return value


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit` (iterative: no recursion on hostile input)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False
