"""JSON from outside (files, stdin, request bodies), parsed once and bounded: size, nesting depth, number length.

The standard parser would raise RecursionError on deeply nested input and ValueError on integer literals over
4,300 digits; both are input errors here, named, never a traceback or a 500. It also accepts `"\\ud800"` (a lone
surrogate escape), which then crashes every UTF-8 writer far from the input; refused here too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from adapter.errors import PatientDataError

MAX_DEPTH = 64  # FHIR resources nest a dozen levels; a Bundle of Bundles a few more
MAX_NUMBER_CHARS = 40  # digits of an integer literal; a lab value never needs more
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


# A \\uD800-\\uDFFF escape in the raw text: only then can a parsed string hold a surrogate (raw UTF-8 cannot
# encode one), so the walk below is skipped on ordinary input. A pair (an emoji) is fine: json joins it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


class JsonInputError(PatientDataError):
    """Input that is not JSON, or JSON beyond the limits."""


class NotJsonError(JsonInputError):
    """Input that is not JSON at all (syntax, encoding), as opposed to JSON beyond the limits."""


def _bounded_int(text: str) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonInputError(f"an integer literal of {len(text)} digits")
    return int(text)


def parse_json(content: bytes | str, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_depth: int = MAX_DEPTH, error: type[Exception] = JsonInputError) -> Any:
    """The parsed value, or `error` (JsonInputError unless the caller names its own, e.g. RecordFormatError)
    naming `source` and what is wrong."""
    try:
        return _parse(content, source, max_bytes, max_depth)
    except JsonInputError as exc:
        if error is JsonInputError:
            raise
        raise error(str(exc)) from None


def _parse(content: bytes | str, source: str, max_bytes: int, max_depth: int) -> Any:
    if len(content) > max_bytes:
        raise JsonInputError(f"{source}: larger than {max_bytes} bytes")
    try:
        value = json.loads(content, parse_int=_bounded_int)
    except JsonInputError as exc:
        raise JsonInputError(f"{source}: not usable JSON ({exc})") from None
    except json.JSONDecodeError as exc:
        raise NotJsonError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise NotJsonError(f"{source}: not UTF-8 text") from None
    except RecursionError:
        raise JsonInputError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an over-long float literal
        raise JsonInputError(f"{source}: not usable JSON ({exc})") from None
    if depth_exceeds(value, max_depth):
        raise JsonInputError(f"{source}: JSON nested deeper than {max_depth} levels")
    if _may_hold_surrogates(content) and has_lone_surrogate(value):
        raise JsonInputError(f"{source}: a string holds a lone surrogate (\\ud800-\\udfff), not Unicode text")
    return value


def _may_hold_surrogates(content: bytes | str) -> bool:
    if isinstance(content, bytes):
        return _SURROGATE_ESCAPE_BYTES.search(content) is not None
    # Text may carry a raw surrogate too (e.g. stdin decoded with surrogateescape); one C-speed encode tells.
    return _SURROGATE_ESCAPE.search(content) is not None or (not content.isascii() and _unencodable(content))


def has_lone_surrogate(value: Any) -> bool:
    """True when a string (key or value) anywhere in `value` holds a surrogate code point (iterative)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and _unencodable(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_line(line: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """One export line (NDJSON), parsed with orjson — fast, and it already refuses lone surrogates and integers
    past 64 bits — with the nesting bounded as `parse_json` bounds it (orjson allows 1,024 levels, deeper than
    any walker here should meet). JsonInputError when it is not usable JSON."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise NotJsonError(f"not JSON ({exc})") from None
    brackets = line.count(b"{") + line.count(b"[") if isinstance(line, bytes) else line.count("{") + line.count("[")
    if brackets > max_depth and depth_exceeds(value, max_depth):  # counting is cheap: walk only when it may be deep
        raise JsonInputError(f"JSON nested deeper than {max_depth} levels")
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
