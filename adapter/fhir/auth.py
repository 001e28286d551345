"""Authentication for FHIR servers: a fixed bearer token, or SMART Backend Services.

SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html): the client-credentials grant
with a client assertion — a short-lived JWT signed with our private key (RS384 or ES384; nothing else is accepted,
in particular not `none` or HMAC) — POSTed as a form to the token endpoint. The access token is cached until
`expires_in - token_lifetime_margin` seconds after it was asked for; a 401 from the FHIR server fetches a new one
once and sends the request again. Token requests go to the token endpoint only, on their own connection, through
the project's HTTP seam (`adapter.http`): the one retry policy, a deadline, a capped body, https only.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapter.errors import AuthError, DeadlineExceeded, ResponseTooLarge, TransportError
from adapter.http import Reply, RetryPolicy, clean_text, new_client, require_secure, send
from adapter.http.body import decode_json_object

__all__ = ["ALGORITHMS", "ASSERTION_TYPE", "AuthError", "BearerToken", "SmartBackendAuth"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
ASSERTION_LIFETIME = 300  # seconds; SMART requires exp no more than five minutes ahead
DEFAULT_EXPIRES_IN = 300.0  # assumed when a token response leaves out expires_in
MIN_RSA_BITS = 2048
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024
DEFAULT_TOKEN_DEADLINE = 60.0  # seconds for one token request, retries and pauses included


class BearerToken(httpx.Auth):
    """`Authorization: Bearer <token>` on every request."""

    def __init__(self, token: str) -> None:
        token = token.strip() if isinstance(token, str) else ""
        if not token or any(ch.isspace() or not ch.isprintable() for ch in token):
            raise AuthError("the bearer token is empty or contains spaces or control characters")
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"


class SmartBackendAuth(httpx.Auth):
    """SMART Backend Services: a signed client assertion buys an access token, cached until it (nearly) expires.

    `private_key_pem` is an unencrypted PEM private key: RSA (at least 2048 bits) for RS384, EC P-384 for ES384.
    `kid` names the matching public key in the JWKS registered with the authorization server. `clock` and `sleep`
    are injectable for tests; `token_requests` counts the POSTs sent to the token endpoint.
    Errors from the token endpoint, and unusable settings, raise AuthError.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        private_key_pem: str | bytes,
        *,
        kid: str,
        algorithm: str = "RS384",
        scope: str = "system/*.read",
        token_lifetime_margin: float = 30.0,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        deadline: float = DEFAULT_TOKEN_DEADLINE,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise AuthError(
                f"SMART Backend Services assertions are signed with {' or '.join(ALGORITHMS)}; "
                f"refusing algorithm {algorithm!r}"
            )
        self.token_url = _checked_token_url(token_url)
        if not isinstance(client_id, str) or not client_id.strip():
            raise AuthError("SMART Backend Services needs a client id")
        if not isinstance(kid, str) or not kid.strip():
            raise AuthError("SMART Backend Services needs the key id (kid) registered for the signing key")
        self.client_id = client_id.strip()
        self.kid = kid.strip()
        self.algorithm = algorithm
        self.scope = scope
        self.token_lifetime_margin = token_lifetime_margin
        self._key = _load_key(private_key_pem, algorithm)
        self._timeout = timeout
        self._deadline = deadline
        # Asking again for a client-credentials token is harmless (at worst the server issues two), so the
        # token POST is retried like an idempotent request.
        self._policy = RetryPolicy(retries=retries, backoff=backoff, max_retry_after=max_retry_after)
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"SmartBackendAuth({self.token_url!r}, client_id={self.client_id!r}, kid={self.kid!r})"

    # -- httpx.Auth ------------------------------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(stale=token)}"
            yield request

    # -- tokens ----------------------------------------------------------------------------------------------

    def token(self, *, stale: str | None = None) -> str:
        """A valid access token: the cached one unless it has expired or is `stale` (refused by the server)."""
        with self._lock:
            if self._token is not None and self._token != stale and self._clock() < self._expires_at:
                return self._token
            self._token = None
            asked_at = self._clock()
            token, expires_in = self._fetch_token()
            self._token = token
            self._expires_at = asked_at + expires_in - self.token_lifetime_margin
            return token

    def assertion(self) -> str:
        """A fresh signed client assertion (new jti each time)."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "exp": now + ASSERTION_LIFETIME,
            "jti": secrets.token_urlsafe(24),
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": "JWT"})

    def _fetch_token(self) -> tuple[str, float]:
        where = f"token endpoint {self.token_url}"
        try:
            with new_client(transport=self._transport, timeout=self._timeout) as http:
                reply = send(
                    http, "POST", self.token_url, form=self._form, idempotent=True,
                    headers={"Accept": "application/json"}, policy=self._policy, timeout=self._timeout,
                    deadline=self._deadline, max_bytes=MAX_TOKEN_RESPONSE_BYTES, sleep=self._sleep,
                )  # fmt: skip
        except TransportError as exc:
            tried = f"gave up after {exc.attempts} attempts" if exc.gave_up else "request failed"
            raise AuthError(f"{where}: {exc.detail}; {tried}") from None
        except ResponseTooLarge:
            raise AuthError(f"{where}: the response is larger than {MAX_TOKEN_RESPONSE_BYTES} bytes") from None
        except DeadlineExceeded as exc:  # still an AuthError: callers handle token trouble in one place
            raise AuthError(f"{where}: no token within the {self._deadline:g}s deadline") from exc
        return self._parsed_token(self._checked_reply(reply, where))

    def _form(self) -> dict[str, str]:
        """The token request's form; called for every attempt, so each carries a new assertion (and jti)."""
        self.token_requests += 1
        return {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }

    def _checked_reply(self, reply: Reply, where: str) -> dict[str, Any] | None:
        data = decode_json_object(reply.body)
        if reply.gave_up:
            raise AuthError(f"{where}: HTTP {reply.status}; gave up after {reply.attempts} attempts")
        if reply.status != 200:
            error = clean_text(data.get("error") or "", 100) if data else ""
            description = clean_text(data.get("error_description") or "", 300) if data else ""
            detail = ": ".join(part for part in (error, description) if part) or reply.reason
            raise AuthError(f"{where} refused the request: HTTP {reply.status}: {detail}")
        return data

    def _parsed_token(self, data: dict[str, Any] | None) -> tuple[str, float]:
        where = f"token endpoint {self.token_url}"
        if data is None:
            raise AuthError(f"{where}: the token response is not a JSON object")
        token = data.get("access_token")
        if not isinstance(token, str) or not token or any(ch.isspace() or not ch.isprintable() for ch in token):
            raise AuthError(f"{where}: the token response has no usable access_token")
        token_type = data.get("token_type", "bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise AuthError(f"{where}: expected a bearer token, got token_type {clean_text(token_type, 40)!r}")
        expires_in = data.get("expires_in", DEFAULT_EXPIRES_IN)
        if isinstance(expires_in, str):
            try:
                expires_in = float(expires_in)
            except ValueError:
                expires_in = None
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not expires_in > 0:
            raise AuthError(f"{where}: unusable expires_in {clean_text(data.get('expires_in'), 40)!r}")
        return token, float(expires_in)


def _checked_token_url(token_url: str) -> str:
    try:
        url = httpx.URL(token_url.strip())
    except (httpx.InvalidURL, AttributeError, TypeError):
        raise AuthError(f"{token_url!r} is not a usable token endpoint URL") from None
    if url.scheme not in ("http", "https") or not url.host or url.userinfo:
        raise AuthError(f"{token_url!r} is not a usable token endpoint URL (expected https://host/path)")
    require_secure(str(url), "client assertion for token endpoint", error=AuthError)
    return str(url)


def _load_key(private_key_pem: str | bytes, algorithm: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    data = private_key_pem.encode("utf-8") if isinstance(private_key_pem, str) else private_key_pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise AuthError("the SMART signing key is encrypted; give an unencrypted PEM private key") from None
    except (ValueError, AttributeError):
        raise AuthError("the SMART signing key is not a PEM private key") from None
    if algorithm == "RS384":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise AuthError("RS384 needs an RSA private key")
        if key.key_size < MIN_RSA_BITS:
            raise AuthError(f"the RSA key has {key.key_size} bits; SMART requires at least {MIN_RSA_BITS}")
        return key
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
        raise AuthError("ES384 needs an EC private key on the P-384 curve")
    return key
