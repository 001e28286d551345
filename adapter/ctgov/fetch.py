"""Fetch a study record live from the ClinicalTrials.gov API v2, and save it as a fixture-style file."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from adapter import __version__
from adapter.ctgov.record import NCT_ID_PATTERN, parse_record
from adapter.errors import FetchError, RecordFormatError
from adapter.http import read_capped, retry_after_seconds

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
MAX_BODY_BYTES = 10 * 1024 * 1024
# A server asking for a longer pause than this is treated as if it asked for this long.
MAX_RETRY_AFTER = 60.0
USER_AGENT = f"trial-fhir-adapter/{__version__}"

_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _Retryable(Exception):
    """One failed attempt that may succeed if tried again, after `delay` seconds if the server said so."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


def fetch_record(
    nct_id: str,
    *,
    client: httpx.Client | None = None,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 20.0,
    retries: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    max_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any]:
    """GET {base_url}/studies/{nct_id} and return the study record, checked by `parse_record`.

    Connection errors, timeouts, 429 and 5xx are retried up to `retries` times, waiting
    `backoff * 2**n` seconds, or what a 429/503 `Retry-After` asks (at most MAX_RETRY_AFTER).
    """
    nct = nct_id.strip().upper()
    if not NCT_ID_PATTERN.fullmatch(nct):
        raise FetchError(f"{nct_id!r} is not an NCT number (NCT followed by 8 digits, e.g. NCT03320629)")
    url = f"{base_url.rstrip('/')}/studies/{nct}"
    own_client = client is None
    if client is None:
        client = httpx.Client(follow_redirects=True, headers={"User-Agent": USER_AGENT})
    try:
        body = _get_with_retries(client, url, timeout, retries, backoff, sleep, max_bytes)
    finally:
        if own_client:
            client.close()
    return _checked_record(body, url, nct)


def _get_with_retries(
    client: httpx.Client,
    url: str,
    timeout: float,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
    max_bytes: int,
) -> bytes:
    attempts = max(retries, 0) + 1
    for attempt in range(attempts):
        try:
            return _get_once(client, url, timeout, max_bytes)
        except _Retryable as failure:
            if attempt + 1 == attempts:
                raise FetchError(f"{url}: {failure.reason}; gave up after {attempts} attempts") from None
            sleep(failure.delay if failure.delay is not None else backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _get_once(client: httpx.Client, url: str, timeout: float, max_bytes: int) -> bytes:
    try:
        with client.stream(
            "GET", url, params={"format": "json"}, headers={"Accept": "application/json"}, timeout=timeout
        ) as response:
            _check_status(response, url)
            body = read_capped(response, max_bytes)
            if body is None:
                raise FetchError(f"{url}: response larger than {max_bytes} bytes; refusing to read it")
            return body
    except _RETRYABLE_ERRORS as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: request failed: {type(exc).__name__}: {exc}") from None


def _check_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status == 404:
        raise FetchError(f"{url}: no such study on ClinicalTrials.gov (HTTP 404)")
    if status == 429 or status >= 500:
        retry_after = response.headers.get("Retry-After") if status in (429, 503) else None
        delay = retry_after_seconds(retry_after, MAX_RETRY_AFTER)
        raise _Retryable(f"HTTP {status}", delay)
    if status != 200:
        raise FetchError(f"{url}: HTTP {status} from ClinicalTrials.gov")


def _checked_record(body: bytes, url: str, nct: str) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        snippet = body[:60].decode("utf-8", "replace").strip()
        raise FetchError(f"{url}: response is not JSON (starts {snippet!r})") from None
    if not isinstance(data, dict):
        raise RecordFormatError(f"{url}: expected a JSON object (an API v2 study record)")
    record = parse_record(data, url)
    aliases = record.raw.get("identificationModule", {}).get("nctIdAliases") or ()
    if record.nct_id != nct and nct not in aliases:
        raise FetchError(f"{url}: asked for {nct} but the response describes {record.nct_id}")
    return data


def save_record(data: Mapping[str, Any], out_dir: Path) -> Path:
    """Write a record as `{out_dir}/NCT….json` (pretty, UTF-8), replacing any earlier copy atomically."""
    record = parse_record(data, "record to save")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{record.nct_id}.json"
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{record.nct_id}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a saved record is ordinary data
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
