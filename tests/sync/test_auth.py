"""Bearer JWTs with real signatures: HS256 with a secret, ES256 from a JWKS served on 127.0.0.1.

Every failing token is a 401 with a code of its own and applies nothing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import anyio
import httpx
import jwt
import psycopg
import pytest

from alembic_drizzlesync.config import AuthConfig, ConfigError, parse_config
from alembic_drizzlesync.sync import SyncProcessor
from alembic_drizzlesync.sync.asgi import create_app
from alembic_drizzlesync.sync.errors import SyncError
from alembic_drizzlesync.sync.jwks import RETRY_SECONDS, KeysUnavailable, SigningKeys, UnknownKey
from alembic_drizzlesync.sync.tokens import JWTAuthenticator
from tests.sync import seed
from tests.sync.signing import (
    AUDIENCE,
    ISSUER,
    SECRET,
    KeyServer,
    claims,
    es256_key,
    forged_none,
    hmac_signed,
    hs256,
)


@pytest.fixture
def alice(db: psycopg.Connection[Any]) -> tuple[str, str]:
    return seed.member(db, "alice", "A")


def push_body(team: str) -> dict[str, Any]:
    todo = {"id": str(uuid.uuid4())}
    mutation = {
        "id": 1,
        "tx": 1,
        "table": "todos",
        "op": "put",
        "pk": todo,
        "values": {"team_id": team, "title": "t"},
    }
    return {"protocol": 1, "schemaVersion": 1, "clientId": "jwt-1", "mutations": [mutation]}


def applied(db: psycopg.Connection[Any]) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT (SELECT count(*) FROM todos), (SELECT count(*) FROM drizzlesync.client)"
    ).fetchone()
    assert row is not None
    return tuple(row)


def push(
    processor: SyncProcessor, authenticator: JWTAuthenticator, team: str, token: str | None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    transport = httpx.ASGITransport(app=create_app(processor, authenticator))

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.post("/push", json=push_body(team), headers=headers)

    return anyio.run(post)


@pytest.fixture
def secret_auth() -> JWTAuthenticator:
    return JWTAuthenticator(secret=SECRET, issuer=ISSUER, audience=AUDIENCE)


def test_a_valid_hs256_token_is_the_user_and_its_claims(
    processor: SyncProcessor,
    db: psycopg.Connection[Any],
    alice: tuple[str, str],
    secret_auth: JWTAuthenticator,
) -> None:
    user, team = alice
    token = hs256(claims(user, org="acme"))
    response = push(processor, secret_auth, team, token)
    assert response.status_code == 200, response.text
    assert applied(db) == (1, 1)
    identity = secret_auth.identity(f"Bearer {token}")
    assert identity.user_id == user and identity.claims["org"] == "acme"


def test_a_valid_es256_token_from_the_jwks(
    processor: SyncProcessor, db: psycopg.Connection[Any], alice: tuple[str, str], jwks: KeyServer
) -> None:
    user, team = alice
    private, public = es256_key("k1")
    jwks.keys = [public]
    auth = JWTAuthenticator(jwks_url=jwks.url, issuer=ISSUER, audience=AUDIENCE)
    token = jwt.encode(claims(user), private, algorithm="ES256", headers={"kid": "k1"})
    for _ in range(3):
        assert push(processor, auth, team, token).status_code == 200
    assert applied(db) == (1, 1)
    assert jwks.fetches == 1  # cached


def test_a_rotated_key_is_fetched_on_its_unknown_kid(
    processor: SyncProcessor, alice: tuple[str, str], jwks: KeyServer
) -> None:
    user, team = alice
    old, old_public = es256_key("old")
    new, new_public = es256_key("new")
    jwks.keys = [old_public]
    auth = JWTAuthenticator(jwks_url=jwks.url, issuer=ISSUER, audience=AUDIENCE, jwks_refresh_cooldown=0)
    assert (
        push(processor, auth, team, jwt.encode(claims(user), old, "ES256", {"kid": "old"})).status_code == 200
    )
    jwks.keys = [old_public, new_public]
    assert (
        push(processor, auth, team, jwt.encode(claims(user), new, "ES256", {"kid": "new"})).status_code == 200
    )
    assert jwks.fetches == 2


BAD_SECRET_TOKENS = {
    "token_missing": lambda user: None,
    "token_malformed": lambda user: "not.a.jwt",
    "token_expired": lambda user: hs256(
        claims(user, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "token_not_yet_valid": lambda user: hs256(claims(user, nbf=int(time.time()) + 3600)),
    "token_invalid_audience": lambda user: hs256(claims(user, aud="someone-else")),
    "token_invalid_issuer": lambda user: hs256(claims(user, iss="https://evil.example")),
    "token_invalid_signature": lambda user: hs256(claims(user), secret="another-secret-of-at-least-32-bytes"),
    "token_unsupported_algorithm": forged_none,
    "token_missing_claim": lambda user: hs256(claims(user, sub=None)),
}


@pytest.mark.parametrize("code", sorted(BAD_SECRET_TOKENS))
def test_each_bad_hs256_token_is_401_with_its_code_and_applies_nothing(
    processor: SyncProcessor,
    db: psycopg.Connection[Any],
    alice: tuple[str, str],
    secret_auth: JWTAuthenticator,
    code: str,
) -> None:
    user, team = alice
    response = push(processor, secret_auth, team, BAD_SECRET_TOKENS[code](user))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert applied(db) == (0, 0)


def test_an_expired_token_within_the_leeway_is_accepted(
    processor: SyncProcessor, alice: tuple[str, str], secret_auth: JWTAuthenticator
) -> None:
    user, team = alice
    token = hs256(claims(user, exp=int(time.time()) - 5))
    assert push(processor, secret_auth, team, token).status_code == 200


@pytest.mark.parametrize(
    "case", ["unknown kid", "alg none", "hs256 signed with the public key", "bad signature", "expired"]
)
def test_each_bad_jwks_token_is_401_with_its_code_and_applies_nothing(
    processor: SyncProcessor, db: psycopg.Connection[Any], alice: tuple[str, str], jwks: KeyServer, case: str
) -> None:
    user, team = alice
    private, public = es256_key("k1")
    stranger, _ = es256_key("k1")
    jwks.keys = [public]
    auth = JWTAuthenticator(jwks_url=jwks.url, issuer=ISSUER, audience=AUDIENCE)
    expired = claims(user, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    token, code = {
        "unknown kid": (jwt.encode(claims(user), private, "ES256", {"kid": "k2"}), "token_unknown_key"),
        "alg none": (forged_none(user), "token_unsupported_algorithm"),
        "hs256 signed with the public key": (
            hmac_signed(claims(user), key=json.dumps(public).encode()),
            "token_unsupported_algorithm",
        ),
        "bad signature": (
            jwt.encode(claims(user), stranger, "ES256", {"kid": "k1"}),
            "token_invalid_signature",
        ),
        "expired": (jwt.encode(expired, private, "ES256", {"kid": "k1"}), "token_expired"),
    }[case]
    response = push(processor, auth, team, token)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert applied(db) == (0, 0)


def test_an_unreachable_key_server_is_503(processor: SyncProcessor, alice: tuple[str, str]) -> None:
    user, team = alice
    private, _ = es256_key("k1")
    auth = JWTAuthenticator(jwks_url="http://127.0.0.1:9/jwks.json")
    response = push(processor, auth, team, jwt.encode(claims(user), private, "ES256", {"kid": "k1"}))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "temporarily_unavailable"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"[]",
        b'{"keys": []}',
        b'{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1"}]}',
    ],
    ids=["not json", "not an object", "no keys", "a key that cannot be read"],
)
def test_a_key_endpoint_that_answers_no_key_set_is_503(
    processor: SyncProcessor,
    db: psycopg.Connection[Any],
    alice: tuple[str, str],
    jwks: KeyServer,
    body: bytes,
) -> None:
    """The endpoint answered 200, but not with keys: the provider's trouble, not the token's (a 401
    would tell the client its session is bad), and never a 500."""
    user, team = alice
    private, _ = es256_key("k1")
    jwks.body = body
    auth = JWTAuthenticator(jwks_url=jwks.url)
    response = push(processor, auth, team, jwt.encode(claims(user), private, "ES256", {"kid": "k1"}))
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "temporarily_unavailable"
    assert applied(db) == (0, 0)


def test_requests_waiting_on_a_hanging_key_endpoint_fail_together(jwks: KeyServer) -> None:
    """One fetch times out and the requests that queued behind it answer 503 at once, where each
    used to wait out a timeout of its own in turn."""
    private, public = es256_key("k1")
    jwks.keys, jwks.delay = [public], 2.0
    auth = JWTAuthenticator(jwks_url=jwks.url, jwks_timeout_seconds=0.25)
    header = f"Bearer {jwt.encode(claims('u1'), private, 'ES256', {'kid': 'k1'})}"
    answers: list[int] = []

    def verify() -> None:
        try:
            auth.identity(header)
            answers.append(200)
        except SyncError as error:
            answers.append(error.status)

    started = time.monotonic()
    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [503] * 8
    assert time.monotonic() - started < 1.0  # one timeout, not eight (2 s)
    assert jwks.fetches == 1


def test_a_key_endpoint_trickling_its_answer_is_given_up_within_the_timeout(jwks: KeyServer) -> None:
    """A byte every 50 ms never trips a socket timeout of 0.25 s: the whole fetch is bounded, where
    every request waited until the endpoint finished (PyJWKClient's read had no deadline)."""
    private, public = es256_key("k1")
    jwks.keys, jwks.drip = [public], 0.05
    auth = JWTAuthenticator(jwks_url=jwks.url, jwks_timeout_seconds=0.25)
    header = f"Bearer {jwt.encode(claims('u1'), private, 'ES256', {'kid': 'k1'})}"
    started = time.monotonic()
    with pytest.raises(SyncError) as refused:
        auth.identity(header)
    assert refused.value.status == 503
    assert time.monotonic() - started < 2.0  # the key set's ~300 bytes would take 15 s


def test_a_key_rotated_in_after_the_last_fetch_is_found(
    processor: SyncProcessor, alice: tuple[str, str], jwks: KeyServer
) -> None:
    """With the default cooldown: the first unknown kid after a fetch refetches at once; a made-up
    kid in the cooldown that follows is told to retry (503), not that its key does not exist."""
    user, team = alice
    old, old_public = es256_key("old")
    new, new_public = es256_key("new")
    made_up, _ = es256_key("made-up")
    jwks.keys = [old_public]
    auth = JWTAuthenticator(jwks_url=jwks.url, issuer=ISSUER, audience=AUDIENCE)
    assert (
        push(processor, auth, team, jwt.encode(claims(user), old, "ES256", {"kid": "old"})).status_code == 200
    )
    jwks.keys = [old_public, new_public]
    response = push(processor, auth, team, jwt.encode(claims(user), new, "ES256", {"kid": "new"}))
    assert response.status_code == 200, response.text
    assert jwks.fetches == 2
    response = push(processor, auth, team, jwt.encode(claims(user), made_up, "ES256", {"kid": "made-up"}))
    assert response.status_code == 503, response.text
    assert jwks.fetches == 2


def test_keys_fetched_before_stay_in_use_while_their_refetch_fails(jwks: KeyServer) -> None:
    """Past the cache's lifespan the set is fetched again; an endpoint down then does not sign every
    user out: the keys it published last still verify, and it is asked again after a pause."""
    now = [0.0]
    private, public = es256_key("k1")
    jwks.keys = [public]
    keys = SigningKeys(jwks.url, lifespan=300, timeout=1, refresh_cooldown=30, clock=lambda: now[0])
    assert keys.key("ES256", "k1").key_id == "k1"
    jwks.body = b"<html>503</html>"
    now[0] = 301.0
    assert keys.key("ES256", "k1").key_id == "k1"
    assert keys.key("ES256", "k1").key_id == "k1"
    assert jwks.fetches == 2  # the second lookup waits out RETRY_SECONDS
    with pytest.raises(KeysUnavailable):
        keys.key("ES256", "k2")  # unknown, and no refetch can tell yet
    now[0] += RETRY_SECONDS
    jwks.body = None
    with pytest.raises(UnknownKey):
        keys.key("ES256", "k2")
    assert jwks.fetches == 3


def test_the_secret_comes_from_the_environment_variable_the_config_names() -> None:
    config = parse_config({"auth": {"secret_env": "MY_JWT_SECRET", "audience": AUDIENCE}}).auth
    assert config == AuthConfig(secret_env="MY_JWT_SECRET", audience=(AUDIENCE,))
    with pytest.raises(ConfigError, match="MY_JWT_SECRET is not set"):
        JWTAuthenticator.from_config(config, {})
    auth = JWTAuthenticator.from_config(config, {"MY_JWT_SECRET": SECRET})
    assert auth.identity(f"Bearer {hs256(claims('u1', iss=None))}").user_id == "u1"


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"secret": "hunter2"}, r"tool\.drizzlesync\.auth\.secret: secrets do not belong"),
        ({"secret_env": "X", "jwks_url": "https://a/jwks"}, "set exactly one of secret_env"),
        ({}, "set exactly one of secret_env"),
        ({"secret_env": "not a name!"}, r"auth\.secret_env: names the environment variable"),
        (
            {"jwks_url": "https://a/jwks", "algorithms": ["HS256"]},
            r"auth\.algorithms: 'HS256' cannot be used",
        ),
        ({"jwks_url": "https://a/jwks", "leeway": 5}, r"auth\.leeway: unknown key"),
        ({"jwks_url": "https://a/jwks", "leeway_seconds": 3600}, r"auth\.leeway_seconds: expected 0 to 300"),
        ({"jwks_url": "ftp://a/jwks"}, r"auth\.jwks_url: expected an https:// URL"),
        ("https://a/jwks", r"tool\.drizzlesync\.auth: expected a table"),
    ],
)
def test_bad_auth_config_names_the_key(auth: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"auth": auth})
