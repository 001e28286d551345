"""Service settings: one frozen dataclass, built from command-line values with environment fallbacks.

Trusted CDS clients are `ISS=JWKS` pairs, where JWKS is a file path or an http(s) URL; both are read once, at
start-up (a URL with httpx). Environment: `TRIAL_ADAPTER_TRUSTED_CLIENTS` (`iss=path,iss2=url`),
`TRIAL_ADAPTER_ALLOWED_FHIR_SERVERS` (comma-separated prefixes), `TRIAL_ADAPTER_API_TOKEN` (optional bearer
token for the REST API). Anything unusable is an AdapterError naming the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

import httpx

from adapter.errors import AdapterError
from adapter.http.jwks import load_jwks as _load_jwks

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_JWKS_BYTES = 1024 * 1024
ENV_TRUSTED = "TRIAL_ADAPTER_TRUSTED_CLIENTS"
ENV_ALLOWED = "TRIAL_ADAPTER_ALLOWED_FHIR_SERVERS"
ENV_API_TOKEN = "TRIAL_ADAPTER_API_TOKEN"


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the service is configured with. `trusted_clients` maps a client's `iss` to its JWKS (a dict)."""

    trusted_clients: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    allowed_fhir_servers: tuple[str, ...] = ()
    allow_unauthenticated: bool = False
    include_closed_trials: bool = False
    as_of: date | None = None  # None: today, per request
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    public_base_url: str | None = None  # e.g. https://cds.example.org/trials; None: bind_url (below)
    api_token: str | None = None  # when set, the REST API (not /healthz) needs `Authorization: Bearer <token>`
    fhir_timeout: float = 30.0
    jwt_leeway: int = 30  # seconds of clock skew allowed for exp / iat
    max_token_lifetime: int = 3600  # seconds; longer-lived CDS tokens are refused (bounds the replay cache)
    feedback_limit: int = 1000  # items kept
    # State (adapter.service.state): SQLite in state_dir (survives restarts, shared by local workers), replay
    # memory in Redis for several hosts; both None: this process's memory.
    state_dir: str | None = None
    redis_url: str | None = None
    replay_max_entries: int = 100_000  # live jtis; when full, new tokens get 503 (a live jti is never forgotten)
    feedback_max_bytes: int = 16 * 1024 * 1024
    feedback_max_item_bytes: int = 64 * 1024  # a larger single feedback item is refused with 413
    feedback_max_age: float = 90 * 86400.0  # seconds
    jwks_urls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # iss -> URL, for rotation
    jwks_refresh_interval: float = 60.0  # at most one JWKS re-fetch per issuer per interval (unknown kid)
    terminology_server: str | None = None  # FHIR R4 terminology server base URL (adapter.terminology); None: none
    reference_ranges: str | None = None  # the site's default reference-range table file (--reference-ranges)
    # The URL `serve` was started on (http://{host}:{port}); with public_base_url, the only sources of the JWT
    # audience (None: the address the connection reached, from the server socket — never the Host header).
    bind_url: str | None = None
    hook_deadline: float = 20.0  # seconds one hook's fhirServer pull may take in all; then 412
    hook_concurrency: int = 16  # hooks worked on at once (own thread pool); more get 503 + Retry-After at once
    hook_retry_after: int = 5  # seconds, in that 503

    def evaluation_date(self) -> date:
        return self.as_of or date.today()


def parse_trusted_client(spec: str) -> tuple[str, str]:
    """`ISS=JWKS_FILE_OR_URL` -> (iss, source)."""
    iss, sep, source = spec.partition("=")
    iss, source = iss.strip(), source.strip()
    if not sep or not iss or not source:
        raise AdapterError(f"--trusted-client {spec!r}: expected ISS=JWKS_FILE_OR_URL")
    return iss, source


def load_jwks(source: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """A JWKS from a file or an https URL (plain http only to a loopback host); see `adapter.http.jwks`."""
    return _load_jwks(source, timeout=timeout)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def check_fhir_server_prefix(prefix: str) -> str:
    url = httpx.URL(prefix)
    if url.scheme not in {"http", "https"} or not url.host:
        raise AdapterError(f"--allow-fhir-server {prefix!r}: not an http(s) URL")
    return prefix.rstrip("/")


def load_settings(
    *,
    trusted_clients: Sequence[str] = (),
    allowed_fhir_servers: Sequence[str] = (),
    allow_unauthenticated: bool = False,
    include_closed_trials: bool = False,
    as_of: date | None = None,
    public_base_url: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    environ: Mapping[str, str] | None = None,
    state_dir: str | None = None,
    redis_url: str | None = None,
    terminology_server: str | None = None,
    **limits: Any,
) -> ServiceSettings:
    """Settings from command-line values; the environment adds trusted clients and FHIR server prefixes."""
    env = os.environ if environ is None else environ
    specs = [*trusted_clients, *_split(env.get(ENV_TRUSTED))]
    clients: dict[str, Mapping[str, Any]] = {}
    urls: dict[str, str] = {}
    for spec in specs:
        iss, source = parse_trusted_client(spec)
        clients[iss] = load_jwks(source)
        if source.lower().startswith(("http://", "https://")):
            urls[iss] = source  # fetched again on an unknown kid (key rotation)
    if not clients and not allow_unauthenticated:
        raise AdapterError("no trusted CDS client: give --trusted-client ISS=JWKS (or --allow-unauthenticated)")
    prefixes = tuple(check_fhir_server_prefix(p) for p in [*allowed_fhir_servers, *_split(env.get(ENV_ALLOWED))])
    if public_base_url is not None:
        url = httpx.URL(public_base_url)
        if url.scheme not in {"http", "https"} or not url.host or url.query:
            raise AdapterError(f"--public-base-url {public_base_url!r}: not an http(s) base URL")
        public_base_url = public_base_url.rstrip("/")
    if max_body_bytes <= 0:
        raise AdapterError("the body size limit must be positive")
    limit_fields = {"feedback_limit", "replay_max_entries", "feedback_max_bytes", "feedback_max_item_bytes",
                    "feedback_max_age", "jwks_refresh_interval"}
    for name, value in limits.items():  # see ServiceSettings
        if name not in limit_fields or not isinstance(value, int | float) or value <= 0:
            raise AdapterError(f"{name.replace('_', '-')} {value!r}: expected a positive number")
    return ServiceSettings(
        trusted_clients=MappingProxyType(clients),
        allowed_fhir_servers=prefixes,
        allow_unauthenticated=allow_unauthenticated,
        include_closed_trials=include_closed_trials,
        as_of=as_of,
        public_base_url=public_base_url,
        max_body_bytes=max_body_bytes,
        api_token=env.get(ENV_API_TOKEN) or None,
        state_dir=state_dir,
        redis_url=redis_url,
        jwks_urls=MappingProxyType(urls),
        terminology_server=terminology_server,
        **limits,
    )
