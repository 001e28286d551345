"""Fetch a study record live from the ClinicalTrials.gov API v2, and save it as a fixture-style file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from adapter.atomic import write_atomic
from adapter.ctgov.model import NCT_ID_PATTERN
from adapter.ctgov.parse import parse_record
from adapter.errors import FetchError, RecordFormatError
from adapter.http import USER_AGENT, NotJson, RetryPolicy, new_client, send
from adapter.jsonio import JsonInputError, NotJsonError, parse_json

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
MAX_BODY_BYTES = 10 * 1024 * 1024
# A server asking for a longer pause than this is treated as if it asked for this long.
MAX_RETRY_AFTER = 60.0
DEFAULT_DEADLINE = 120.0  # seconds for the whole fetch, retries and pauses included

__all__ = ["DEFAULT_BASE_URL", "MAX_BODY_BYTES", "MAX_RETRY_AFTER", "USER_AGENT", "fetch_record", "save_record"]


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
    deadline: float = DEFAULT_DEADLINE,
) -> dict[str, Any]:
    """GET {base_url}/studies/{nct_id} and return the study record, checked by `parse_record`.

    Retried under the project's one policy (`adapter.http.retry`): connection errors, timeouts, 429, 502, 503
    and 504, up to `retries` times, waiting `backoff * 2**n` seconds or what `Retry-After` asks (at most
    MAX_RETRY_AFTER); the whole call ends within `deadline` seconds. Redirects are not followed.
    """
    nct = nct_id.strip().upper()
    if not NCT_ID_PATTERN.fullmatch(nct):
        raise FetchError(f"{nct_id!r} is not an NCT number (NCT followed by 8 digits, e.g. NCT03320629)")
    url = f"{base_url.rstrip('/')}/studies/{nct}"
    policy = RetryPolicy(retries=retries, backoff=backoff, max_retry_after=MAX_RETRY_AFTER)
    http = client if client is not None else new_client(timeout=timeout)
    try:
        reply = send(
            http, "GET", url, params={"format": "json"}, headers={"Accept": "application/json"},
            max_bytes=max_bytes, policy=policy, timeout=timeout, deadline=deadline, sleep=sleep,
        )  # fmt: skip
    finally:
        if client is None:
            http.close()
    _check_status(reply.status, reply.attempts if reply.gave_up else None, reply.headers.get("Location"), url)
    return _checked_record(reply.body, url, nct)


def _check_status(status: int, gave_up_after: int | None, location: str | None, url: str) -> None:
    if status == 200:
        return
    if gave_up_after is not None:
        raise FetchError(f"{url}: HTTP {status}; gave up after {gave_up_after} attempts")
    if status == 404:
        raise FetchError(f"{url}: no such study on ClinicalTrials.gov (HTTP 404)")
    if 300 <= status < 400:
        raise FetchError(f"{url}: HTTP {status} redirect to {location!r}; redirects are not followed")
    raise FetchError(f"{url}: HTTP {status} from ClinicalTrials.gov")


def _checked_record(body: bytes, url: str, nct: str) -> dict[str, Any]:
    try:  # the project's one bounded decoder: depth, integer length, lone surrogates
        data = parse_json(body, url, max_bytes=len(body) + 1)
    except NotJsonError:
        raise FetchError(f"{url}: response is not JSON (starts {NotJson(body).snippet!r})") from None
    except JsonInputError as exc:
        raise RecordFormatError(str(exc)) from None
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
    try:
        return write_atomic(target, text)
    except UnicodeEncodeError:
        raise RecordFormatError(f"{record.nct_id}: the record holds text that is not Unicode (a lone surrogate)") \
            from None
