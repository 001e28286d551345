"""The one URL policy: when a URL counts as "under" a base URL, and when plain http is acceptable.

`is_under` decides on the raw (percent-encoded) path as written, never on a decoded or dot-resolved one: what
matters is what a server may make of it, and servers differ in when they decode `%2e` or `%2f`. So a URL whose
path has a dot segment in any spelling (`.`, `..`, `%2e%2e`, `.%2E`, `..;x`), an encoded slash or backslash,
a literal backslash, userinfo or a fragment is never under anything.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from adapter.errors import FetchError

DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_ESCAPE = re.compile(r"%(?P<hex>[0-9A-Fa-f]{2})|%")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9\-_.]*[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    path: str  # normalized raw path, never empty
    query: str


def is_under(base: str, url: str) -> bool:
    """`url` is `base` or below it: same scheme, host (any case), effective port, and the base path as a prefix
    of the URL's on a segment boundary (`/fhir/r4x` is not under `/fhir/r4`; trailing slashes do not matter)."""
    origin, target = _parse(base), _parse(url)
    if origin is None or target is None or origin.query:
        return False
    if (origin.scheme, origin.host, origin.port) != (target.scheme, target.host, target.port):
        return False
    prefix = origin.path.rstrip("/")
    return not prefix or target.path == prefix or target.path.startswith(prefix + "/")


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL (lower case, the port always written), or None when `is_under`
    would refuse the URL outright (userinfo, a fragment, dot segments, …)."""
    parsed = _parse(url)
    if parsed is None:
        return None
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}:{parsed.port}"


def parse_origin(text: str) -> str:
    """An origin given by a person (`https://files.example`, a port if not the default): normalised as
    `origin_of` writes it. ValueError for anything else (a path, a query, another scheme)."""
    parts = urlsplit(text.strip())
    found = origin_of(text.strip())
    if found is None or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"{text!r} is not an origin such as https://files.example or http://127.0.0.1:8080")
    return found


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): traffic that never leaves this machine."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure(url: str, what: str, *, error: type[FetchError] = FetchError) -> None:
    """Raise `error` unless `url` is https, or plain http to a loopback host (e.g. a local test server).

    Used wherever something secret or trusted travels: credentials, client assertions, signing keys.
    """
    parsed = _parse(url)
    if parsed is None:
        raise error(f"{what} {url!r} is not a usable http(s) URL")
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise error(f"{what} {url}: plain http is refused except to a loopback host; use https")


def join_raw(page: str, link: str) -> str:
    """`link` resolved against the absolute URL `page` (RFC 3986 reference forms) WITHOUT removing dot segments,
    so that `is_under` still sees them and refuses them. Absolute links are returned as they are."""
    link = link.strip()
    if _SCHEME.match(link):
        return link
    parts = urlsplit(page)
    if link.startswith("//"):
        return f"{parts.scheme}:{link}"
    origin = f"{parts.scheme}://{parts.netloc}"
    if link.startswith("/"):
        return origin + link
    if link.startswith("?"):
        return origin + parts.path + link
    if link.startswith("#") or not link:
        return origin + parts.path + (f"?{parts.query}" if parts.query else "") + link
    directory = parts.path[: parts.path.rfind("/") + 1] or "/"
    return origin + directory + link


def _parse(url: object) -> _Origin | None:
    """The parts `is_under` compares, or None for anything it refuses outright."""
    if not isinstance(url, str) or "\\" in url or "#" in url:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or "@" in parts.netloc or not _usable_host(host):
        return None
    path = _normalized_path(parts.path or "/")
    if path is None:
        return None
    return _Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme], path, parts.query)


def _usable_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal (urlsplit has taken off the brackets)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return _HOST_NAME.fullmatch(host) is not None


def _normalized_path(path: str) -> str | None:
    """The raw path with escapes in one spelling (unreserved characters decoded, hex upper-case), or None if any
    segment could be read as a dot segment or hides a slash, backslash or control character."""
    if not path.startswith("/"):
        return None
    segments = []
    for segment in path.split("/"):
        normalized = _normalized_escapes(segment)
        if normalized is None:
            return None
        if not _harmless(unquote(normalized)):
            return None
        segments.append(normalized)
    return "/".join(segments)


def _harmless(decoded: str) -> bool:
    """A decoded segment no server could take for a dot segment or a separator, even decoding it once more."""
    for text in (decoded, unquote(decoded)):
        # `..;x` is `..` to servlet containers that strip path parameters.
        if text.split(";", 1)[0] in (".", "..") or "/" in text or "\\" in text:
            return False
        if any(not ch.isprintable() for ch in text):
            return False
    return True


def _normalized_escapes(segment: str) -> str | None:
    malformed = False

    def one(match: re.Match[str]) -> str:
        nonlocal malformed
        if match["hex"] is None:  # a lone '%'
            malformed = True
            return "%"
        char = chr(int(match["hex"], 16))
        return char if char in _UNRESERVED else f"%{match['hex'].upper()}"

    normalized = _ESCAPE.sub(one, segment)
    return None if malformed else normalized
