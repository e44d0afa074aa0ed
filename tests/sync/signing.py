"""Real signed tokens for the auth tests: HS256 with a test secret, ES256 keys published as a JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

SECRET = "a-test-secret-of-at-least-32-bytes!!"
ISSUER = "https://issuer.example"
AUDIENCE = "drizzlesync-tests"


@dataclass
class KeyServer:
    """A JWKS endpoint whose key set a test may change; it counts the fetches."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    url: str = ""
    body: bytes | None = None
    """Served instead of the key set when set (a broken endpoint)."""
    delay: float = 0.0
    """Seconds each answer waits first (a hanging endpoint)."""
    drip: float = 0.0
    """Seconds between the bytes of an answer's body (an endpoint trickling it)."""


def es256_key(kid: str) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    public: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "alg": "ES256", "use": "sig"}


def claims(user: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def hmac_signed(payload: dict[str, Any], key: bytes) -> str:
    """An HS256 token signed by hand: PyJWT itself refuses a public key as an HMAC secret."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = part(json.dumps(payload).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(signature)}"


def forged_none(user: str) -> str:
    return jwt.encode(claims(user), None, algorithm="none")
