"""The HTTP face of each host: content type, size limits, contract errors with their extras, CORS, routes."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from alembic_drizzlesync.sync.contract import contract
from tests.conformance.hosts import ORIGIN, HostRefused, Settings, free_port
from tests.sync import seed

PULL = {"protocol": 1, "schemaVersion": 1, "clientId": "conformance", "cursor": None}
LIMITS = Settings().limits
MISCONFIGURED = contract()["sqlstates"]["misconfigured"]["message"]


@pytest.fixture
def alice(db: psycopg.Connection[Any]) -> str:
    user, team = seed.member(db, "alice", "A")
    seed.todo(db, team, "hello")
    return user


@pytest.fixture
def signed_in(alice: str) -> dict[str, str]:
    return {"authorization": f"Bearer {alice}", "content-type": "application/json"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    return error


def push(mutations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"protocol": 1, "schemaVersion": 1, "clientId": "conformance", "mutations": mutations}


def test_a_pull_is_served(http: httpx.Client, signed_in: dict[str, str]) -> None:
    response = http.post("/pull", content=json.dumps(PULL), headers=signed_in)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert {c["table"] for c in response.json()["changes"]} == {"teams", "memberships", "todos"}
    assert response.json()["estimatedTotal"] == 3  # the SQL function's field, passed through


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/jsonx"]
)
def test_only_json_bodies_are_read(http: httpx.Client, alice: str, content_type: str) -> None:
    headers = {"authorization": f"Bearer {alice}", "content-type": content_type}
    response = http.post("/push", content=json.dumps(push([])), headers=headers)
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def json_from(user: str) -> dict[str, str]:
    return {"authorization": f"Bearer {user}", "content-type": "application/json"}


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "gzip, identity"])
def test_an_encoded_body_is_415(http: httpx.Client, alice: str, encoding: str) -> None:
    """Neither host decodes a compressed body: it says so, where reading the bytes as JSON gave
    400 malformed_json (or, for a body that happens to parse, read something else)."""
    body = json.dumps(PULL).encode()
    body = gzip.compress(body) if "gzip" in encoding else body
    response = http.post("/pull", content=body, headers={**json_from(alice), "content-encoding": encoding})
    assert response.status_code == 415, response.text
    assert error_of(response)["code"] == "unsupported_media_type"
    assert f"Content-Encoding must be identity (got {encoding})" in error_of(response)["message"]


def test_identity_encoding_is_no_encoding(http: httpx.Client, alice: str) -> None:
    headers = {**json_from(alice), "content-encoding": "Identity"}
    assert http.post("/pull", content=json.dumps(PULL), headers=headers).status_code == 200


def test_json_with_parameters_is_json(http: httpx.Client, alice: str) -> None:
    headers = {"authorization": f"Bearer {alice}", "content-type": "Application/JSON; charset=utf-8"}
    assert http.post("/pull", content=json.dumps(PULL), headers=headers).status_code == 200


def test_identity_is_checked_first(http: httpx.Client) -> None:
    response = http.post("/push", content="x", headers={"content-type": "text/plain"})
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "unauthenticated", "message": "sign in to sync"}}


def test_a_connection_outlives_refused_requests(http: httpx.Client, signed_in: dict[str, str]) -> None:
    """Answers that never needed the body (401, 415, 404) leave the keep-alive connection usable."""
    refused = [
        ({"content-type": "application/json"}, "/pull", 401),
        ({**signed_in, "content-type": "text/plain"}, "/pull", 415),
        (signed_in, "/elsewhere", 404),
    ]
    for _ in range(30):
        for headers, path, status in refused:
            assert http.post(path, content=json.dumps(PULL), headers=headers).status_code == status
        assert http.post("/pull", content=json.dumps(PULL), headers=signed_in).status_code == 200


def padded(size: int) -> bytes:
    return json.dumps({**PULL, "pad": "x" * size}).encode()


def test_bodies_over_the_limit_are_413_declared_or_streamed(
    server_url: str, signed_in: dict[str, str]
) -> None:
    big = padded(LIMITS.max_body_bytes)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    def post(content: bytes | Iterator[bytes]) -> httpx.Response:
        # A connection of its own: a server that answers before reading the whole body may close
        # it (workerd sometimes does), and the next request must not ride on it.
        with httpx.Client(base_url=server_url) as http:
            return http.post("/push", content=content, headers=signed_in)

    for response in (post(big), post(chunks())):
        assert response.status_code == 413
        error = error_of(response)
        assert (error["code"], error["maxBytes"]) == ("request_too_large", LIMITS.max_body_bytes)


def test_a_body_at_the_limit_is_read(http: httpx.Client, signed_in: dict[str, str]) -> None:
    body = padded(0)
    body = padded(LIMITS.max_body_bytes - len(body))
    assert len(body) == LIMITS.max_body_bytes
    response = http.post("/pull", content=body, headers=signed_in)
    assert (response.status_code, error_of(response)["code"], error_of(response)["path"]) == (
        400,
        "unknown_field",
        "pad",
    )


def test_batches_over_the_limit_are_413(http: httpx.Client, signed_in: dict[str, str]) -> None:
    mutations = [
        {"id": i, "tx": i, "table": "todos", "op": "delete", "pk": {"id": "x"}}
        for i in range(1, LIMITS.max_mutations + 2)
    ]
    response = http.post("/push", content=json.dumps(push(mutations)), headers=signed_in)
    assert response.status_code == 413
    error = error_of(response)
    assert (error["code"], error["path"], error["maxMutations"]) == (
        "batch_too_large",
        "mutations",
        LIMITS.max_mutations,
    )


DEEP = json.loads("[" * 300 + "]" * 300)
"""An array nested 300 deep."""


@pytest.mark.parametrize(
    ("path", "body", "code", "where"),
    [
        ("/pull", {**PULL, "protocol": 2}, "protocol_unsupported", "protocol"),
        ("/pull", {**PULL, "limit": LIMITS.max_changes + 1}, "out_of_range", "limit"),
        ("/pull", {**PULL, "clientId": "a b"}, "invalid_client_id", "clientId"),
        ("/pull", {**PULL, "cursor": 5}, "invalid_type", "cursor"),
        # Past jsonschema-rs's recursion limit, where the Python host answered 500.
        ("/pull", {**PULL, "cursor": DEEP}, "invalid_type", "cursor"),
        (
            "/push",
            push(
                [
                    {
                        "id": 1,
                        "tx": 1,
                        "table": "todos",
                        "op": "put",
                        "pk": {"id": "x"},
                        "values": {"t": DEEP},
                        "x": 1,
                    }
                ]
            ),
            "unknown_field",
            "mutations[0].x",
        ),
        ("/pull", {"protocol": 1, "clientId": "c"}, "missing_field", "schemaVersion"),
        (
            "/push",
            push([{"id": 1, "tx": 1, "table": "todos", "op": "put", "pk": {"id": "x"}}]),
            "missing_field",
            "mutations[0].values",
        ),
        (
            "/push",
            push([{"id": 1, "tx": 1, "table": "todos", "op": "upsert", "pk": {"id": "x"}}]),
            "invalid_op",
            "mutations[0].op",
        ),
        (
            "/push",
            push([{"id": 1, "tx": 1, "table": "todos", "op": "delete", "pk": {}}]),
            "invalid_pk",
            "mutations[0].pk",
        ),
        (
            "/push",
            push([{"id": 1, "tx": 1, "table": "todos", "op": "delete", "pk": {"id": [1]}}]),
            "invalid_pk",
            "mutations[0].pk.id",
        ),
        (
            "/push",
            push(
                [
                    {"id": 2, "tx": 1, "table": "todos", "op": "delete", "pk": {"id": "x"}},
                    {"id": 2, "tx": 1, "table": "todos", "op": "delete", "pk": {"id": "y"}},
                ]
            ),
            "duplicate_mutation_id",
            "mutations[1].id",
        ),
        (
            "/push",
            push(
                [
                    {
                        "id": 1,
                        "tx": 1,
                        "table": "todos",
                        "op": "patch",
                        "pk": {"id": "x"},
                        "values": {"title": "a\u0000"},
                    }
                ]
            ),
            "invalid_string",
            "mutations[0].values.title",
        ),
    ],
)
def test_contract_errors_carry_their_code_path_and_status(
    http: httpx.Client, signed_in: dict[str, str], path: str, body: dict[str, Any], code: str, where: str
) -> None:
    response = http.post(path, content=json.dumps(body), headers=signed_in)
    error = error_of(response)
    assert (response.status_code, error["code"], error.get("path")) == (400, code, where), response.text
    if code == "protocol_unsupported":
        assert error["supported"] == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{", "malformed_json"),
        (b"\xef\xbb\xbf{}", "missing_field"),
        (b"\xff", "malformed_json"),
        # JSON between systems is UTF-8 (RFC 8259): UTF-16 and UTF-32, with a BOM or without, are not
        # read, nor a surrogate encoded as UTF-8 bytes (CESU-8).
        (json.dumps(PULL).encode("utf-16"), "malformed_json"),
        (json.dumps(PULL).encode("utf-16-le"), "malformed_json"),
        (json.dumps(PULL).encode("utf-32"), "malformed_json"),
        (b'{"clientId": "\xed\xa0\x80"}', "malformed_json"),
        (b'{"protocol": 1e999}', "invalid_number"),
        (b'{"clientId": "\\ud800"}', "invalid_string"),
    ],
)
def test_bodies_json_cannot_carry_are_400(
    http: httpx.Client, signed_in: dict[str, str], content: bytes, code: str
) -> None:
    response = http.post("/pull", content=content, headers=signed_in)
    assert (response.status_code, error_of(response)["code"]) == (400, code)


LONG = "9" * 5_000
"""An integer longer than Python's int() reads (4,300 digits), which the Worker reads as Infinity."""


LONG_ID = (
    '{"protocol": 1, "schemaVersion": 1, "clientId": "c", "mutations": '
    f'[{{"id": {LONG}, "tx": 1, "table": "todos", "op": "delete", "pk": {{"id": "x"}}}}]}}'
)
PULL_HEAD = '{"protocol": 1, "schemaVersion": 1, "clientId": "c", "cursor": null, "limit": '


@pytest.mark.parametrize(
    ("path", "content", "code", "where"),
    [
        ("/push", LONG_ID, "out_of_range", "mutations[0].id"),
        ("/push", f'{{"protocol": 1, "schemaVersion": 1, "clientId": {LONG}, "mutations": []}}',
         "invalid_type", "clientId"),
        ("/pull", PULL_HEAD + LONG + "}", "out_of_range", "limit"),
        ("/pull", PULL_HEAD + "0e1073741823}", "invalid_number", "limit"),
        ("/pull", PULL_HEAD + "1e-16384}", "invalid_number", "limit"),
    ],
)  # fmt: skip
def test_odd_numbers_outside_values_get_one_answer(
    http: httpx.Client, signed_in: dict[str, str], path: str, content: str, code: str, where: str
) -> None:
    """The Python host answered a long integer in a field its schema checks 500 (its validator
    reads no float subclass) and a pull's long integer `malformed_json`, and read a pull's numbers
    without the checks a push's get: each host now answers each body alike."""
    response = http.post(path, content=content, headers=signed_in)
    error = error_of(response)
    assert (response.status_code, error["code"], error.get("path")) == (400, code, where), response.text


def nested_title(depth: int) -> bytes:
    """A push of one put whose title is an array nested `depth` deep, written out by hand (Python's
    own json cannot write one some 900 deep)."""
    head = json.dumps(
        push([{"id": 1, "tx": 1, "table": "todos", "op": "put", "pk": {"id": "x"}, "values": {}}])
    )
    return head.replace('"values": {}', '"values": {"title": ' + "[" * depth + "]" * depth + "}").encode()


@pytest.mark.parametrize(
    "depth",
    [600, 20_000],
    ids=["past the limit", "past Python's parser and Postgres's jsonb"],
)
def test_values_nested_past_the_limit_are_400_at_the_first_array_past_it(
    http: httpx.Client, signed_in: dict[str, str], depth: int
) -> None:
    """The body is level 1, its mutations 2, a mutation 3, its values 4, the title's arrays 5 on:
    the 509th array is the 513th level. The Worker host handed Postgres a title nested 20,000 deep,
    whose jsonb parser failed the whole statement (a 500); the Python host answered one nested
    past its parser's recursion 400 `malformed_json` without a path, though the JSON was valid."""
    response = http.post("/push", content=nested_title(depth), headers=signed_in)
    error = error_of(response)
    assert (response.status_code, error["code"]) == (400, "nesting_too_deep"), response.text
    assert error["path"] == "mutations[0].values.title" + "[0]" * 508


def test_values_nested_to_the_limit_are_read(http: httpx.Client, signed_in: dict[str, str]) -> None:
    """The 512th level is read, and the title refused by the database as what it is: not text."""
    response = http.post("/push", content=nested_title(508), headers=signed_in)
    assert response.status_code == 200, response.text
    assert [rejection["code"] for rejection in response.json()["rejected"]] == ["invalid_value"]


@pytest.mark.parametrize(
    "renamed",
    ["todos", "memberships"],
    ids=["a synced table", "the table the scope rule reads"],
)
def test_a_table_renamed_by_hand_is_503_until_put_back(
    http: httpx.Client, signed_in: dict[str, str], alice: str, db: psycopg.Connection[Any], renamed: str
) -> None:
    """The database, not the request, is wrong: 503 with the contract's message, nothing applied,
    and the client's retry after the operator's fix goes through."""
    membership = db.execute("SELECT team_id::text FROM memberships WHERE user_id = %s", (alice,))
    (team,) = membership.fetchone() or ()
    todo_id = str(uuid.uuid4())
    write = push([{"id": 1, "tx": 1, "table": "todos", "op": "put", "pk": {"id": todo_id},
                   "values": {"team_id": team, "title": "written offline"}}])  # fmt: skip
    db.execute(sql.SQL("ALTER TABLE {} RENAME TO by_hand").format(sql.Identifier(renamed)))
    for path, body in (("/pull", PULL), ("/push", write)):
        response = http.post(path, content=json.dumps(body), headers=signed_in)
        assert response.status_code == 503, response.text
        assert error_of(response) == {"code": "server_misconfigured", "message": MISCONFIGURED}
        assert response.headers["retry-after"] == str(contract()["retryAfter"]["seconds"])
    db.execute(sql.SQL("ALTER TABLE by_hand RENAME TO {}").format(sql.Identifier(renamed)))
    assert db.execute("SELECT count(*) FROM todos WHERE id = %s", (todo_id,)).fetchone() == (0,)
    retried = http.post("/push", content=json.dumps(write), headers=signed_in)
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"lastMutationId": 1, "rejected": []}
    pulled = http.post("/pull", content=json.dumps(PULL), headers=signed_in)
    assert todo_id in [c["row"]["id"] for c in pulled.json()["changes"] if c["table"] == "todos"]


def test_unknown_routes_and_methods(http: httpx.Client, signed_in: dict[str, str]) -> None:
    assert http.post("/elsewhere", content=b"{}", headers=signed_in).status_code == 404
    # The path as sent names the endpoint: the Python host's ASGI server decodes it, the Worker not.
    assert http.post("/pul%6c", content=json.dumps(PULL), headers=signed_in).status_code == 404
    assert http.get("/pull", headers=signed_in).status_code == 405


def test_cors_preflight_and_response_headers(http: httpx.Client, alice: str) -> None:
    preflight = http.options(
        "/push",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    response = http.post("/pull", json=PULL, headers={"authorization": f"Bearer {alice}", "origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    # Retry-After is no CORS-safelisted header: a page on another origin reads a 503's only if exposed.
    assert response.headers["access-control-expose-headers"].lower() == "retry-after"
    for stranger in (
        http.options(
            "/push", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
        ),
        http.post(
            "/pull", json=PULL, headers={"authorization": f"Bearer {alice}", "origin": "https://evil.example"}
        ),
    ):
        assert "access-control-allow-origin" not in stranger.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com/",
        "https://app.example.com/sync",
        "https://App.example.com",
        "https://app.example.com:443",
        "app.example.com",
        "*",
    ],
)
def test_an_origin_no_browser_sends_is_refused_at_start(host: Any, origin: str) -> None:
    """Origins are compared as exact strings: with one copied from the address bar, every
    preflight was refused and the page's client stayed offline, with nothing in any log."""
    with pytest.raises(HostRefused, match="never equals a browser's Origin header"):
        with host.serve("postgresql://postgres@127.0.0.1:9/none", Settings(cors_origins=(origin,))):
            pass


@pytest.mark.parametrize("origin", ["http://localhost:5173", "capacitor://localhost", "http://[::1]:8080"])
def test_origins_as_browsers_send_them_are_served(host: Any, synced_db: str, origin: str) -> None:
    with host.serve(synced_db, Settings(cors_origins=(origin,))) as url:
        preflight = httpx.options(
            f"{url}/pull", headers={"origin": origin, "access-control-request-method": "POST"}
        )
    assert preflight.headers["access-control-allow-origin"] == origin


def test_two_content_types_are_415(http: httpx.Client, alice: str) -> None:
    """Which of two types describes the body is anyone's guess: the Python host took the first,
    the Worker both joined by ", " (the Fetch rule, by which both hosts read a header)."""
    headers = [
        ("authorization", f"Bearer {alice}"),
        ("content-type", "application/json"),
        ("content-type", "text/plain"),
    ]
    response = http.post("/pull", content=json.dumps(PULL), headers=headers)
    assert response.status_code == 415, response.text
    assert error_of(response)["code"] == "unsupported_media_type"


def test_an_options_request_without_an_origin_is_no_preflight(http: httpx.Client) -> None:
    """Only a browser's cross-origin request is preflighted, and it names its Origin: the Worker
    answered this one 400 "Disallowed CORS origin", the Python host (Starlette) 405."""
    response = http.options("/push", headers={"access-control-request-method": "POST"})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert "access-control-allow-origin" not in response.headers


def test_two_authorization_headers_name_neither_user_in_development_mode(
    http: httpx.Client, alice: str
) -> None:
    """`Bearer <user id>` twice reads as one value, joined by ", " as the Worker's `Headers.get`
    joins it: the Python host served the first header's user."""
    headers = [
        ("authorization", f"Bearer {alice}"),
        ("authorization", f"Bearer {alice}"),
        ("content-type", "application/json"),
    ]
    response = http.post("/pull", content=json.dumps(PULL), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["changes"] == []


@pytest.mark.parametrize("path", ["/pull", "/push"])
def test_a_database_that_cannot_be_reached_is_503(host: Any, path: str) -> None:
    """Nothing listens where the database should be: the client retries (503), on every host; the
    Worker's socket error (workerd's `connection attempt failed`, which has no code) was a 500."""
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with host.serve(unreachable, Settings()) as url:
        body = PULL if path == "/pull" else push([])
        response = httpx.post(f"{url}{path}", json=body, headers={"authorization": "Bearer u"}, timeout=60)
    assert (response.status_code, error_of(response)["code"]) == (503, "temporarily_unavailable")
    # Said when to retry, for the client and any proxy in between: neither host did.
    assert response.headers["retry-after"] == str(contract()["retryAfter"]["seconds"])
