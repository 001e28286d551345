"""CDS Hooks client authentication: a JWT signed by a trusted EHR (ES384 or RS384), checked with PyJWT.

Order of checks (the first failure wins, each with a short reason for the 401):
`Authorization: Bearer <jwt>` present; the header parses; `alg` is ES384 or RS384 (so `none` and HMAC are refused
before anything is verified); `kid` present; `iss` is a trusted client; `kid` names one of that client's keys, of
the key type the algorithm needs; signature; `aud` is the URL of the endpoint called; `exp`, `iat`, `jti`
present; not expired, not issued in the future (small leeway), lifetime bounded; `jti` not seen before while the
token is alive (replay, in a `ReplayStore`: memory, SQLite or Redis — a full store raises StoreFull, a 503).

A trusted client whose JWKS came from a URL has its keys fetched again when a token names an unknown `kid`
(key rotation), at most once per `refresh_interval` per issuer and process; a failed fetch keeps the old keys.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapter.errors import AdapterError
from adapter.http.jwks import JwksRefresher
from adapter.service.state import DEFAULT_REPLAY_ENTRIES, Replayed, ReplayStore
from adapter.service.state.memory import MemoryReplayStore

log = logging.getLogger("adapter.service.security")

ALGORITHMS = frozenset({"ES384", "RS384"})
MIN_RSA_BITS = 2048
MAX_TOKEN_CHARS = 16 * 1024
MAX_REPLAY_ENTRIES = DEFAULT_REPLAY_ENTRIES


class AuthFailure(Exception):
    """A request that must be answered 401; `reason` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _public_key(jwk: Mapping[str, Any], where: str) -> Any:
    try:
        key = jwt.PyJWK.from_dict(dict(jwk)).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise AdapterError(f"{where}: unusable key ({exc})") from None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise AdapterError(f"{where}: a private key; publish only public keys")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise AdapterError(f"{where}: RSA key shorter than {MIN_RSA_BITS} bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP384R1):
            raise AdapterError(f"{where}: EC key not on P-384 (ES384 needs P-384)")
    else:
        raise AdapterError(f"{where}: key type {jwk.get('kty')!r} cannot verify ES384/RS384")
    return key


def _keys_of(iss: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for position, jwk in enumerate(jwks.get("keys") or []):
        where = f"JWKS of {iss}, key {position}"
        if not isinstance(jwk, Mapping):
            raise AdapterError(f"{where}: not a JSON object")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AdapterError(f"{where}: no 'kid' (CDS clients select their key by kid)")
        if jwk.get("use") not in (None, "sig"):
            continue
        keys[kid] = _public_key(jwk, where)
    if not keys:
        raise AdapterError(f"JWKS of {iss}: no signing key")
    return keys


class TokenVerifier:
    """Checks CDS Hooks client JWTs against the trusted clients' keys; records each `jti` in `replay`.

    `replay` must be shared by every process that serves the same clients (SQLite or Redis); the default is
    this process's memory. `jwks_urls` maps an issuer to the URL its keys came from, for key rotation.
    """

    def __init__(
        self,
        trusted_clients: Mapping[str, Mapping[str, Any]],
        *,
        leeway: int = 30,
        max_lifetime: int = 3600,
        clock: Any = time.time,
        replay: ReplayStore | None = None,
        jwks_urls: Mapping[str, str] | None = None,
        refresh_interval: float = 60.0,
    ) -> None:
        self._keys = {iss: _keys_of(iss, jwks) for iss, jwks in trusted_clients.items()}
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._clock = clock
        # `is None`, not `or`: a store with __len__ is falsy while empty
        self._replay: ReplayStore = MemoryReplayStore(MAX_REPLAY_ENTRIES, clock=clock) if replay is None else replay
        self.refreshers = {iss: JwksRefresher(url, min_interval=refresh_interval)
                           for iss, url in (jwks_urls or {}).items() if iss in self._keys}
        self._refresh_locks = {iss: threading.Lock() for iss in self.refreshers}

    @property
    def issuers(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, authorization: str | None, audience: str | Iterable[str]) -> dict[str, Any]:
        """The token's claims, or AuthFailure."""
        token = _bearer(authorization)
        alg, kid = _header(token)
        iss, key = self._key_for(token, alg, kid)
        now = self._clock()
        claims = self._decode(token, key, alg, iss, audience)
        jti, exp, iat = claims["jti"], claims["exp"], claims["iat"]
        if not isinstance(jti, str) or not jti:
            raise AuthFailure("invalid jti")
        if not _is_number(exp) or not _is_number(iat):
            raise AuthFailure("invalid exp or iat")
        # The lifetime is bounded both ways: no far-future exp, and no token issued long ago (the README's ≤ 1 h).
        if exp - now > self._max_lifetime + self._leeway or exp - iat > self._max_lifetime:
            raise AuthFailure("token lifetime too long")
        if now - iat > self._max_lifetime + self._leeway:
            raise AuthFailure("token issued too long ago")
        try:  # StoreFull / StateUnavailable pass through: the caller answers 503, not 401
            self._replay.claim(iss, jti, float(exp) + self._leeway)
        except Replayed:
            raise AuthFailure("token replayed (jti already used)") from None
        return claims

    def _key_for(self, token: str, alg: str, kid: str) -> tuple[str, Any]:
        """(issuer, public key): the trusted issuer named in the (still unverified) claims, and its key `kid`."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthFailure("malformed token") from None
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self._keys:
            raise AuthFailure("issuer not trusted")
        key = self._keys[iss].get(kid) or self._refreshed_key(iss, kid)
        if key is None:
            raise AuthFailure("unknown kid for this issuer")
        if (alg == "ES384") != isinstance(key, ec.EllipticCurvePublicKey):
            raise AuthFailure(f"key {kid} cannot verify {alg}")
        return iss, key

    def _decode(self, token: str, key: Any, alg: str, iss: str, audience: str | Iterable[str]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_iat": True},
            )
        except jwt.InvalidSignatureError:
            raise AuthFailure("bad signature") from None
        except jwt.ExpiredSignatureError:
            raise AuthFailure("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthFailure("token issued in the future") from None
        except jwt.InvalidAudienceError:
            raise AuthFailure("wrong audience (aud must be this endpoint's URL)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthFailure(f"missing claim {exc.claim}") from None
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise AuthFailure(f"invalid token ({type(exc).__name__})") from None
        return claims

    def _refreshed_key(self, iss: str, kid: str) -> Any:
        """The key `kid` after fetching the issuer's JWKS again (rate-limited), or None."""
        refresher = self.refreshers.get(iss)
        if refresher is None:
            return None
        with self._refresh_locks[iss]:  # one fetch at a time; a waiter then sees the new keys
            key = self._keys[iss].get(kid)
            if key is not None:
                return key
            jwks = refresher.refresh()
            if jwks is None:
                return None
            try:
                self._keys[iss] = _keys_of(iss, jwks)
            except AdapterError as exc:
                log.warning("refreshed JWKS of %s unusable, keeping the old keys: %s", iss, exc)
                return None
            log.info("JWKS of %s refreshed: kids %s", iss, sorted(self._keys[iss]))
            return self._keys[iss].get(kid)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN is no time


def _header(token: str) -> tuple[str, str]:
    """(alg, kid) from the JOSE header, each checked for type before use: a list or an object where a string
    belongs is a malformed token, never an exception further on."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, TypeError, ValueError):
        raise AuthFailure("malformed token") from None
    if not isinstance(header, dict):
        raise AuthFailure("malformed token")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        shown = alg[:20] if isinstance(alg, str) else type(alg).__name__
        raise AuthFailure(f"algorithm {shown!r} not allowed (ES384 or RS384)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthFailure("no kid in the token header")
    return alg, kid


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthFailure("missing bearer token")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthFailure("missing bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthFailure("malformed token")
    return token
