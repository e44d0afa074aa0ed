"""Bearer JWTs on each host: every way a token fails is a 401 with its own code, and nothing is served.

Tokens are signed here with PyJWT; the hosts verify them with their own libraries
(PyJWT, jose). Keys come from a shared secret, or from a JWKS served on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt as pyjwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conformance.hosts import Jwt, Settings, free_port
from tests.sync import seed

CONFIGURED = Jwt()
PULL = {"protocol": 1, "schemaVersion": 1, "clientId": "auth", "cursor": None}


@pytest.fixture
def alice(db: psycopg.Connection[Any]) -> str:
    user, team = seed.member(db, "alice", "A")
    seed.todo(db, team, "hello")
    return user


def claims(sub: str | None, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": sub, "iss": CONFIGURED.issuer, "aud": CONFIGURED.audience, "iat": now, "exp": now + 300}
    return {key: value for key, value in {**base, **changes}.items() if value is not None}


def hs256(payload: dict[str, Any], secret: str = CONFIGURED.secret or "", algorithm: str = "HS256") -> str:
    return pyjwt.encode(payload, secret, algorithm=algorithm)


def pull(url: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return httpx.post(f"{url}/pull", json=PULL, headers=headers)


def test_a_valid_token_is_served(jwt_url: str, alice: str) -> None:
    response = pull(jwt_url, hs256(claims(alice)))
    assert response.status_code == 200
    assert any(change["table"] == "todos" for change in response.json()["changes"])


def test_a_token_expired_within_the_leeway_is_served(jwt_url: str, alice: str) -> None:
    assert pull(jwt_url, hs256(claims(alice, exp=int(time.time()) - 10))).status_code == 200


FAILURES: list[tuple[str, Any, str]] = [
    ("no header", None, "token_missing"),
    ("not a JWT", "not-a-jwt", "token_malformed"),
    (
        "HS512 where HS256 is accepted",
        lambda sub: hs256(claims(sub), algorithm="HS512"),
        "token_unsupported_algorithm",
    ),
    (
        "alg none",
        lambda sub: hs256(claims(sub), secret="", algorithm="none"),
        "token_unsupported_algorithm",
    ),
    ("another secret", lambda sub: hs256(claims(sub), secret="x" * 40), "token_invalid_signature"),
    ("expired", lambda sub: hs256(claims(sub, exp=int(time.time()) - 120)), "token_expired"),
    ("nbf ahead", lambda sub: hs256(claims(sub, nbf=int(time.time()) + 120)), "token_not_yet_valid"),
    ("iat ahead", lambda sub: hs256(claims(sub, iat=int(time.time()) + 120)), "token_not_yet_valid"),
    ("another audience", lambda sub: hs256(claims(sub, aud="someone-else")), "token_invalid_audience"),
    ("another issuer", lambda sub: hs256(claims(sub, iss="https://elsewhere.test")), "token_invalid_issuer"),
    ("no exp", lambda sub: hs256(claims(sub, exp=None)), "token_missing_claim"),
    ("no sub", lambda sub: hs256(claims(None)), "token_missing_claim"),
    ("no aud", lambda sub: hs256(claims(sub, aud=None)), "token_missing_claim"),
]


@pytest.mark.parametrize(("case", "token", "code"), FAILURES, ids=[case for case, _, _ in FAILURES])
def test_each_bad_token_is_401_with_its_code(
    jwt_url: str, alice: str, case: str, token: Any, code: str
) -> None:
    response = pull(jwt_url, token(alice) if callable(token) else token)
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"]["code"] == code, case


class Keys:
    """An RSA and an EC key pair, published as a JWKS by a little HTTP server."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        published = [
            {
                **json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())),
                "kid": "rsa-1",
                "alg": "RS256",
            },
            {
                **json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key())),
                "kid": "ec-1",
                "alg": "ES256",
            },
        ]
        self.body = json.dumps({"keys": published}).encode()

    def sign(self, payload: dict[str, Any], kid: str) -> str:
        key, algorithm = (self.rsa, "RS256") if kid.startswith("rsa") else (self.ec, "ES256")
        return pyjwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(keys.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # A new path per test: the Worker keeps a key set per URL for the life of its isolate.
    yield f"http://127.0.0.1:{server.server_address[1]}/{uuid.uuid4().hex}/jwks.json"
    server.shutdown()


@pytest.fixture
def jwt(request: pytest.FixtureRequest) -> Jwt:
    if "jwks_server" in request.fixturenames:
        return Jwt(secret=None, jwks_url=request.getfixturevalue("jwks_server"))
    if "no_audience" in request.fixturenames:
        return Jwt(audience=None)
    return Jwt()


@pytest.fixture
def no_audience() -> None:
    """Hosts configured without an audience."""


def test_a_token_with_an_aud_is_refused_where_no_audience_is_configured(
    no_audience: None, jwt_url: str, alice: str
) -> None:
    response = pull(jwt_url, hs256(claims(alice)))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_invalid_audience")
    assert pull(jwt_url, hs256(claims(alice, aud=None))).status_code == 200


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_tokens_signed_with_a_published_key_are_served(
    jwks_server: str, jwt_url: str, keys: Keys, alice: str, kid: str
) -> None:
    assert pull(jwt_url, keys.sign(claims(alice), kid)).status_code == 200


def test_a_kid_the_jwks_lacks_is_401(jwks_server: str, jwt_url: str, keys: Keys, alice: str) -> None:
    response = pull(jwt_url, keys.sign(claims(alice), "rsa-unknown"))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_unknown_key")


def test_a_secret_signed_token_is_refused_where_keys_are_published(
    jwks_server: str, jwt_url: str, alice: str
) -> None:
    response = pull(jwt_url, hs256(claims(alice)))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_unsupported_algorithm")


@pytest.fixture
def unreachable_jwks() -> str:
    return f"http://127.0.0.1:{free_port()}/jwks.json"


def test_an_unreachable_key_server_is_503(
    host: Any, synced_db: str, keys: Keys, alice: str, unreachable_jwks: str
) -> None:
    with host.serve(synced_db, Settings(jwt=Jwt(secret=None, jwks_url=unreachable_jwks))) as url:
        response = pull(url, keys.sign(claims(alice), "rsa-1"))
    assert (response.status_code, response.json()["error"]["code"]) == (503, "temporarily_unavailable")
