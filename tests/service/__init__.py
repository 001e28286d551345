"""Helpers for the service tests: client keys and JWKS, signed CDS Hooks tokens, prefetch from fixtures."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.support.prefetch import prefetch_from_resources
from tests.support.trials import PATIENTS

ISS = "https://ehr.example.org"
SERVICE_PATH = "/cds-services/trial-eligibility"
AUD = "http://testserver" + SERVICE_PATH  # the URL TestClient calls
_DROP = object()


class Signer:
    """A CDS client's key pair: ES384 (P-384), RS384 (RSA 2048); ES256 (P-256) for a key the service refuses."""

    def __init__(self, alg: str = "ES384", kid: str = "es-1", iss: str = ISS) -> None:
        self.alg, self.kid, self.iss = alg, kid, iss
        if alg.startswith("ES"):
            self.private: Any = ec.generate_private_key(ec.SECP256R1() if alg == "ES256" else ec.SECP384R1())
            self.jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk.update({"kid": kid, "use": "sig", "alg": alg})

    def token(self, aud: str = AUD, *, alg: str | None = None, kid: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.iss, "sub": "client-1", "aud": aud, "exp": now + 300, "iat": now,
                                   "jti": str(uuid.uuid4())}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not _DROP}
        headers = {"kid": self.kid if kid is None else kid, "typ": "JWT"}
        return jwt.encode(payload, self.private, algorithm=alg or self.alg,
                          headers={k: v for k, v in headers.items() if v is not _DROP})

    def headers(self, aud: str = AUD, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(aud, **claims)}"}


DROP = _DROP


def write_jwks(path: Path, *signers: Signer) -> Path:
    path.write_text(json.dumps({"keys": [s.jwk for s in signers]}), encoding="utf-8")
    return path


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


def good_claims(aud: str = AUD) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}


def fixture_bundle(name: str) -> dict[str, Any]:
    return json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8"))


def patient_id(bundle: dict[str, Any]) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def fixture_prefetch(name: str) -> tuple[str, dict[str, Any]]:
    bundle = fixture_bundle(name)
    return patient_id(bundle), prefetch_from_resources(e["resource"] for e in bundle["entry"])


def hook_body(pid: str, prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                            "context": {"userId": "Practitioner/1", "patientId": pid}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body
