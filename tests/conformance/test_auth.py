"""Bearer JWTs on each host: every way a token fails is a 401 with its own code, and nothing is served.

Tokens are signed with the helpers of tests/sync/signing.py (PyJWT); the hosts
verify them with their own libraries (PyJWT, jose). Keys come from a shared
secret, or from the JWKS that tests/sync's `jwks` fixture serves on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt as pyjwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from alembic_drizzlesync.sync.contract import jwks_timings
from tests.conformance.hosts import HostRefused, Jwt, Settings, free_port
from tests.sync import seed
from tests.sync.signing import SECRET, KeyServer, claims, es256_key, forged_none, hs256

PULL = {"protocol": 1, "schemaVersion": 1, "clientId": "auth", "cursor": None}


@pytest.fixture
def alice(db: psycopg.Connection[Any]) -> str:
    user, team = seed.member(db, "alice", "A")
    seed.todo(db, team, "hello")
    return user


def pull(url: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return httpx.post(f"{url}/pull", json=PULL, headers=headers)


def test_a_valid_token_is_served(jwt_url: str, alice: str) -> None:
    response = pull(jwt_url, hs256(claims(alice)))
    assert response.status_code == 200
    assert any(change["table"] == "todos" for change in response.json()["changes"])


def test_a_token_expired_within_the_leeway_is_served(jwt_url: str, alice: str) -> None:
    assert pull(jwt_url, hs256(claims(alice, exp=int(time.time()) - 10))).status_code == 200


def hs512(payload: dict[str, Any]) -> str:
    """Refused for its alg before any key is tried, so any key of HS512's size signs it."""
    return pyjwt.encode(payload, "k" * 64, algorithm="HS512")


HS256_HEADER = b'{"alg": "HS256", "typ": "JWT"}'


def raw_signed(header: bytes, payload: dict[str, Any]) -> str:
    """An HS256 token with the header's bytes as given, signed with the hosts' secret."""
    signing_input = f"{b64url(header)}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


FAILURES: list[tuple[str, Any, str]] = [
    ("no header", None, "token_missing"),
    ("not a JWT", "not-a-jwt", "token_malformed"),
    ("HS512 where HS256 is accepted", lambda sub: hs512(claims(sub)), "token_unsupported_algorithm"),
    ("alg none", forged_none, "token_unsupported_algorithm"),
    ("another secret", lambda sub: hs256(claims(sub), secret="x" * 40), "token_invalid_signature"),
    ("expired", lambda sub: hs256(claims(sub, exp=int(time.time()) - 120)), "token_expired"),
    ("nbf ahead", lambda sub: hs256(claims(sub, nbf=int(time.time()) + 120)), "token_not_yet_valid"),
    ("iat ahead", lambda sub: hs256(claims(sub, iat=int(time.time()) + 120)), "token_not_yet_valid"),
    ("another audience", lambda sub: hs256(claims(sub, aud="someone-else")), "token_invalid_audience"),
    ("another issuer", lambda sub: hs256(claims(sub, iss="https://elsewhere.test")), "token_invalid_issuer"),
    ("no exp", lambda sub: hs256(claims(sub, exp=None)), "token_missing_claim"),
    ("no sub", lambda sub: hs256(claims(sub, sub=None)), "token_missing_claim"),
    ("no aud", lambda sub: hs256(claims(sub, aud=None)), "token_missing_claim"),
    # A JWS header is UTF-8 JSON (RFC 7515): PyJWT read one in UTF-16 too, which the Worker refused.
    (
        "UTF-16 header",
        lambda sub: raw_signed(HS256_HEADER.decode().encode("utf-16"), claims(sub)),
        "token_malformed",
    ),
    (
        "header not UTF-8",
        lambda sub: raw_signed(b'{"alg": "HS256", "x": "\xff"}', claims(sub)),
        "token_malformed",
    ),
]


@pytest.mark.parametrize(("case", "token", "code"), FAILURES, ids=[case for case, _, _ in FAILURES])
def test_each_bad_token_is_401_with_its_code(
    jwt_url: str, alice: str, case: str, token: Any, code: str
) -> None:
    response = pull(jwt_url, token(alice) if callable(token) else token)
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"]["code"] == code, case


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ("Bearer\t{token}", 200, None),
        ("bearer   {token}", 200, None),
        ("Bearer {token} junk", 401, "token_malformed"),
        ("Bearer{token}", 401, "token_missing"),
    ],
)
def test_the_authorization_header_reads_alike_on_every_host(
    jwt_url: str, alice: str, header: str, status: int, code: str | None
) -> None:
    """The scheme, any run of spaces or tabs, and a token without any: the Worker host took a tab
    and ignored text after the token, where the Python host refused both."""
    response = httpx.post(
        f"{jwt_url}/pull", json=PULL, headers={"authorization": header.format(token=hs256(claims(alice)))}
    )
    assert response.status_code == status, response.text
    assert code is None or response.json()["error"]["code"] == code


def rs256_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public: dict[str, Any] = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "alg": "RS256", "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[Any, dict[str, Any]]]:
    """An RSA and an EC key pair by kid, made once for the module."""
    return {"rsa-1": rs256_key("rsa-1"), "ec-1": es256_key("ec-1")}


def signed(keys: dict[str, tuple[Any, dict[str, Any]]], payload: dict[str, Any], kid: str) -> str:
    private, public = keys["rsa-1" if kid.startswith("rsa") else "ec-1"]
    return pyjwt.encode(payload, private, algorithm=public["alg"], headers={"kid": kid})


@pytest.fixture
def jwt(request: pytest.FixtureRequest) -> Jwt:
    if "jwks" in request.fixturenames:
        served: KeyServer = request.getfixturevalue("jwks")
        served.keys = [public for _, public in request.getfixturevalue("keys").values()]
        return Jwt(secret=None, jwks_url=served.url)
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
    jwks: KeyServer, jwt_url: str, keys: Any, alice: str, kid: str
) -> None:
    assert pull(jwt_url, signed(keys, claims(alice), kid)).status_code == 200


def test_a_kid_the_jwks_lacks_is_401(jwks: KeyServer, jwt_url: str, keys: Any, alice: str) -> None:
    response = pull(jwt_url, signed(keys, claims(alice), "rsa-unknown"))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_unknown_key")


def test_a_secret_signed_token_is_refused_where_keys_are_published(
    jwks: KeyServer, jwt_url: str, alice: str
) -> None:
    response = pull(jwt_url, hs256(claims(alice)))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_unsupported_algorithm")


def test_an_unreachable_key_server_is_503(host: Any, synced_db: str, keys: Any, alice: str) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/jwks.json"
    with host.serve(synced_db, Settings(jwt=Jwt(secret=None, jwks_url=unreachable))) as url:
        response = pull(url, signed(keys, claims(alice), "rsa-1"))
    assert (response.status_code, response.json()["error"]["code"]) == (503, "temporarily_unavailable")


@pytest.mark.parametrize(
    ("claim", "path"),
    [({"name": "Bob\x00"}, "claims.name"), ({"names": ["\ud800"]}, "claims.names[0]")],
    ids=["NUL", "unpaired surrogate"],
)
def test_a_signed_claim_the_database_cannot_store_is_401(
    jwt_url: str, alice: str, claim: dict[str, Any], path: str
) -> None:
    """A token carries whatever text a user could edit (a display name): a claim Postgres cannot
    take is refused naming it, where it failed every request of that user with a 500."""
    response = pull(jwt_url, hs256(claims(alice, **claim)))
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (401, "unauthenticated"), response.text
    assert error["message"].startswith(f"the identity cannot be stored: {path}: "), error


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b"[]", b'{"keys": []}'],
    ids=["not json", "not an object", "no keys"],
)
def test_a_key_endpoint_that_answers_no_key_set_is_503(
    jwks: KeyServer, jwt_url: str, keys: Any, alice: str, body: bytes
) -> None:
    """The endpoint answered 200, but not with keys: the provider's trouble, so the client retries,
    rather than a 401 that tells it its session is bad, or a 500."""
    jwks.body = body
    response = pull(jwt_url, signed(keys, claims(alice), "ec-1"))
    assert (response.status_code, response.json()["error"]["code"]) == (503, "temporarily_unavailable")


def test_a_key_set_over_the_size_limit_is_503(jwks: KeyServer, jwt_url: str, keys: Any, alice: str) -> None:
    """A key set is a few kilobytes: an answer past `protocol/jwks.json`'s maxBytes is refused, on
    every host, before it is read whole (a Worker's isolate has 128 MB), though it holds the keys."""
    padding = "x" * int(jwks_timings()["maxBytes"])
    jwks.body = json.dumps({"keys": jwks.keys, "padding": padding}).encode()
    response = pull(jwt_url, signed(keys, claims(alice), "ec-1"))
    assert (response.status_code, response.json()["error"]["code"]) == (503, "temporarily_unavailable")


def test_a_key_rotated_in_after_the_last_fetch_is_found(
    jwks: KeyServer, jwt_url: str, keys: Any, alice: str
) -> None:
    """Its kid refetches the keys at once, though they were fetched moments ago; a made-up kid in
    the cooldown that follows is told to retry (503), not that no such key exists."""
    rotated, rotated_public = es256_key("ec-2")
    published = jwks.keys
    assert pull(jwt_url, signed(keys, claims(alice), "ec-1")).status_code == 200
    jwks.keys = [*published, rotated_public]
    token = pyjwt.encode(claims(alice), rotated, algorithm="ES256", headers={"kid": "ec-2"})
    response = pull(jwt_url, token)
    assert response.status_code == 200, response.text
    response = pull(jwt_url, signed(keys, claims(alice), "ec-made-up"))
    assert (response.status_code, response.json()["error"]["code"]) == (503, "temporarily_unavailable")


def by_hand(payload: bytes, header: dict[str, Any] | None = None) -> str:
    """An HS256 token over any payload bytes and header: PyJWT writes only well-formed claims."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header or {'alg': 'HS256', 'typ': 'JWT'}).encode())}.{part(payload)}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def with_claims(**changes: Any) -> Callable[[str], str]:
    """A valid token's claims changed; a change to None makes the claim null."""
    return lambda sub: by_hand(json.dumps({**claims(sub), **changes}).encode())


def with_payload(payload: Callable[[bytes], bytes]) -> Callable[[str], str]:
    """A valid token's claims as bytes, changed."""
    return lambda sub: by_hand(payload(json.dumps(claims(sub)).encode()))


def with_header(**header: Any) -> Callable[[str], str]:
    return lambda sub: by_hand(json.dumps(claims(sub)).encode(), {"alg": "HS256", **header})


LATER = int(time.time()) + 3600

# Claims no identity provider means to send, and headers to match: each gets one answer behind
# either host. The Python host checked claims with PyJWT, the Worker with jose, and they parted:
# an `exp` of "1999999999" or `true`, a numeric `sub`, an `aud` of [], numbers past a double's
# range and a numeric `kid` were taken by one and refused by the other, or with another code.
EDGE_TOKENS: list[tuple[str, Callable[[str], str], int, str | None]] = [
    ("exp a fraction", with_claims(exp=LATER + 0.5), 200, None),
    ("exp near a double's limit", with_claims(exp=1e308), 200, None),
    ("exp a string of digits", with_claims(exp=str(LATER)), 401, "token_malformed"),
    ("exp true", with_claims(exp=True), 401, "token_malformed"),
    ("exp past a double's range", with_claims(exp=10**400), 401, "token_malformed"),
    ("exp null", with_claims(exp=None), 401, "token_missing_claim"),
    ("nbf a string", with_claims(nbf="0"), 401, "token_malformed"),
    ("nbf null", with_claims(nbf=None), 200, None),
    ("iat a string", with_claims(iat="0"), 401, "token_malformed"),
    ("iat past a double's range", with_claims(iat=10**400), 401, "token_malformed"),
    ("a NaN claim", with_claims(score=float("nan")), 401, "token_malformed"),
    ("aud one of several", with_claims(aud=["someone-else", "drizzlesync-tests"]), 200, None),
    ("aud []", with_claims(aud=[]), 401, "token_missing_claim"),
    ("aud a number", with_claims(aud=5), 401, "token_invalid_audience"),
    ("iss a number", with_claims(iss=5), 401, "token_invalid_issuer"),
    ("sub a number", with_claims(sub=42), 401, "token_malformed"),
    ("sub empty", with_claims(sub=""), 401, "token_missing_claim"),
    ("claims a list", with_payload(lambda _: b"[1]"), 401, "token_malformed"),
    ("claims not UTF-8", with_payload(lambda body: body[:-1] + b"\xff}"), 401, "token_malformed"),
    (
        "claims after a byte order mark",
        with_payload(lambda body: b"\xef\xbb\xbf" + body),
        401,
        "token_malformed",
    ),
    ("a kid that is a number", with_header(kid=5), 401, "token_malformed"),
    ("an unknown crit", with_header(crit=["x"], x=1), 401, "token_malformed"),
    ("an unencoded payload", with_header(b64=False, crit=["b64"]), 401, "token_malformed"),
]


@pytest.mark.parametrize(
    ("case", "token", "status", "code"), EDGE_TOKENS, ids=[row[0] for row in EDGE_TOKENS]
)
def test_odd_claims_get_one_answer_on_every_host(
    jwt_url: str, alice: str, case: str, token: Callable[[str], str], status: int, code: str | None
) -> None:
    response = pull(jwt_url, token(alice))
    assert response.status_code == status, (case, response.text)
    assert code is None or response.json()["error"]["code"] == code, (case, response.text)


@pytest.mark.parametrize(("aud", "status"), [([], 200), ("", 200), (5, 401)], ids=["[]", "empty", "a number"])
def test_an_empty_aud_is_no_aud_where_no_audience_is_configured(
    no_audience: None, jwt_url: str, alice: str, aud: Any, status: int
) -> None:
    response = pull(jwt_url, with_claims(aud=aud)(alice))
    assert response.status_code == status, response.text


def without_kid(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name != "kid"}


@pytest.mark.parametrize(
    ("published", "kid", "status"),
    [
        (["rsa-1"], None, 200),
        (["rsa-1", "ec-1"], None, 200),
        (["rsa-1", "rsa-2"], None, 401),
        (["rsa-1 without its kid"], None, 200),
        (["rsa-1 without its kid"], "rsa-1", 401),
    ],
    ids=[
        "one key",
        "one key of the token's type",
        "two keys of its type",
        "a key without a kid",
        "a kid the keys lack",
    ],
)
def test_a_token_without_a_kid_is_verified_by_the_one_key_that_fits(
    jwks: KeyServer, jwt_url: str, keys: Any, alice: str, published: list[str], kid: str | None, status: int
) -> None:
    """A key set may publish keys without a kid, and a token may name none (RFC 7515): its key is
    the one key of its type. The Python host answered such a key set 503 for good (it kept only keys
    with a kid) and such a token 401, where the Worker verified both."""
    private, public = keys["rsa-1"]
    other = rs256_key("rsa-2")[1]
    by_name = {
        "rsa-1": public,
        "ec-1": keys["ec-1"][1],
        "rsa-2": other,
        "rsa-1 without its kid": without_kid(public),
    }
    jwks.keys = [by_name[name] for name in published]
    token = pyjwt.encode(
        claims(alice), private, algorithm="RS256", headers=None if kid is None else {"kid": kid}
    )
    response = pull(jwt_url, token)
    assert response.status_code == status, response.text
    assert status == 200 or response.json()["error"]["code"] == "token_unknown_key"


@pytest.mark.parametrize("depth", [600, 5000], ids=["past the limit", "past Python's parser"])
def test_claims_nested_past_the_limit_are_401_naming_where(jwt_url: str, alice: str, depth: int) -> None:
    """A claim a user may edit (Supabase's user_metadata) nested 5,000 deep: the Worker host took
    it (and one 100,000 deep failed every request of that user with a 500 from Postgres), the
    Python host refused it as `token_malformed`. The claims are level 1, so the 512th array is past."""
    payload = json.dumps(claims(alice))[:-1] + ', "meta": ' + "[" * depth + "]" * depth + "}"
    response = pull(jwt_url, by_hand(payload.encode()))
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (401, "unauthenticated"), response.text
    where = "claims.meta" + "[0]" * 511
    assert (
        error["message"]
        == f"the identity cannot be stored: {where}: arrays and objects may nest at most 512 levels"
    )


def test_an_empty_secret_is_refused_when_the_host_is_configured(host: Any, synced_db: str) -> None:
    """An empty HS256 secret is the server's misconfiguration: the Worker answered every token 503
    (retried for ever), the Python host 401 `token_malformed`, blaming the user's token."""
    with pytest.raises(HostRefused, match="secret"), host.serve(synced_db, Settings(jwt=Jwt(secret=""))):
        pass


def test_two_authorization_headers_are_401_token_malformed(jwt_url: str, alice: str) -> None:
    """Which of two tokens proves who asks is anyone's guess: the Python host took the first, the
    Worker both joined by ", " (the Fetch rule, by which both hosts read a header)."""
    token = hs256(claims(alice))
    headers = [("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")]
    response = httpx.post(f"{jwt_url}/pull", json=PULL, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_malformed"), response.text


def rs256_weak_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    public: dict[str, Any] = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "alg": "RS256", "use": "sig"}


SHORT_KEY_SIGNS = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
"""PyJWT warns as it signs the tests' tokens with a short key."""


@SHORT_KEY_SIGNS
def test_an_rsa_key_under_2048_bits_is_never_used(
    jwks: KeyServer, jwt_url: str, keys: Any, alice: str
) -> None:
    """jose refuses such keys: the Worker answered their tokens 503, retried for ever, where the
    Python host verified them. Both leave them out of the set, so such a token finds no key."""
    weak, weak_public = rs256_weak_key("rsa-weak")
    jwks.keys = [*jwks.keys, weak_public]
    response = pull(
        jwt_url, pyjwt.encode(claims(alice), weak, algorithm="RS256", headers={"kid": "rsa-weak"})
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_unknown_key"), (
        response.text
    )
    assert pull(jwt_url, signed(keys, claims(alice), "rsa-1")).status_code == 200


@SHORT_KEY_SIGNS
def test_a_token_without_a_kid_passes_over_an_rsa_key_under_2048_bits(
    jwks: KeyServer, jwt_url: str, keys: Any, alice: str
) -> None:
    """Left out of the set, the short key is no second candidate for a token that names no kid."""
    private, public = keys["rsa-1"]
    jwks.keys = [without_kid(rs256_weak_key("rsa-weak")[1]), without_kid(public)]
    response = pull(jwt_url, pyjwt.encode(claims(alice), private, algorithm="RS256"))
    assert response.status_code == 200, response.text


def test_entries_of_a_key_set_that_are_no_objects_are_skipped(
    jwks: KeyServer, jwt_url: str, keys: Any, alice: str
) -> None:
    """RFC 7517 asks that keys a host cannot understand be ignored: the Worker skipped entries that
    are not JSON objects, the Python host refused the whole set (503) and with it every token."""
    jwks.body = json.dumps({"keys": ["x", 5, None, keys["ec-1"][1]]}).encode()
    response = pull(jwt_url, signed(keys, claims(alice), "ec-1"))
    assert response.status_code == 200, response.text
