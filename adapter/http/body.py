"""Reading response bodies: one capped, streamed, deadline-aware reader, and JSON decoding with clear errors."""

from __future__ import annotations

from typing import Any

import httpx

from adapter.http.retry import Deadline


class BodyTooLarge(Exception):
    """The body is (or declares itself) larger than the cap; reading was stopped at the cap."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"response larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class NotJson(ValueError):
    """A body that is not JSON (or not UTF-8); `snippet` is its start, printable, for the message."""

    def __init__(self, body: bytes) -> None:
        self.snippet = clean_text(body[:60].decode("utf-8", "replace"), 60)
        super().__init__(f"not valid JSON (starts {self.snippet!r})")


def read_body(
    response: httpx.Response, max_bytes: int, *, deadline: Deadline | None = None, where: str = "response"
) -> bytes:
    """The (decoded) body of a streamed response; BodyTooLarge past `max_bytes`, DeadlineExceeded past `deadline`.

    The cap counts decoded bytes, so a small compressed body cannot unpack into a huge one. The deadline is
    checked between chunks: a server trickling a byte at a time cannot keep the call alive past it (each wait
    for a chunk is already bounded by the read timeout the request was sent with).
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if deadline is not None:
            deadline.check(where)
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def read_capped(response: httpx.Response, max_bytes: int, *, deadline: Deadline | None = None) -> bytes | None:
    """The (decoded) body of a streamed response, or None as soon as it proves larger than `max_bytes`."""
    try:
        return read_body(response, max_bytes, deadline=deadline)
    except BodyTooLarge:
        return None


def decode_json(body: bytes) -> Any:
    """The JSON value of a UTF-8 body (a BOM is allowed); NotJson if it is not JSON, not UTF-8, or beyond the
    project's bounds (adapter.jsonio: nesting depth, integer length, lone surrogates)."""
    from adapter.jsonio import JsonInputError, parse_json

    try:  # the body was already read under its own size cap
        return parse_json(body.removeprefix(b"\xef\xbb\xbf"), "the body", max_bytes=len(body) + 1)
    except JsonInputError:
        raise NotJson(body) from None


def decode_json_object(body: bytes) -> dict[str, Any] | None:
    """The JSON object in a body, or None when it is empty, not JSON, or JSON but not an object (best effort)."""
    if not body.strip():
        return None
    try:
        data = decode_json(body)
    except NotJson:
        return None
    return data if isinstance(data, dict) else None


def clean_text(text: Any, limit: int = 500) -> str:
    """Remote text made safe for one terminal line: no control characters, whitespace collapsed, cut at `limit`."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
