"""Bad requests, generated: every one is a 4xx with a JSON error, none a 5xx, none changes the database."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from alembic_drizzlesync.sync.protocol import DEFAULT_LIMITS
from tests.sync import seed

CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TABLES = ("teams", "memberships", "projects", "todos")
COLUMNS = ("id", "team_id", "project_id", "title", "done", "updated_at", "name", "user_id", "role")
SQLISH = st.sampled_from(
    [
        "todos; DROP TABLE todos",
        'todos" --',
        "public.todos'",
        "drizzlesync.change_log",
        "pg_catalog.pg_class",
        'title" = NULL, "team_id',
        "title = 1 --",
        "1); DELETE FROM todos; --",
        "users",
        "TODOS",
        "",
    ]
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
)
# 1.0 is an integer to JSON Schema (and JavaScript): not wrong, so not drawn.
not_an_int = json_values.filter(
    lambda v: isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer())
)
not_an_object = json_values.filter(lambda v: not isinstance(v, dict))
not_a_string = json_values.filter(lambda v: not isinstance(v, str))
unknown_name = (st.text(min_size=1, max_size=12) | SQLISH).filter(lambda name: name not in TABLES + COLUMNS)


def fingerprint(db: psycopg.Connection[Any], *, rows_only: bool = False) -> str:
    """A digest of the app's rows and (unless `rows_only`) the library's state."""
    library = [
        "drizzlesync.client",
        "drizzlesync.rejection",
        "drizzlesync.change_log",
        "drizzlesync.pull_cursor",
    ]
    tables = ["users", *TABLES, *([] if rows_only else library)]
    parts = [
        f"(SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {name} AS t)"
        for name in tables
    ]
    row = db.execute("SELECT " + " || ".join(parts)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def world(synced_db: str) -> Iterator[tuple[psycopg.Connection[Any], dict[str, str]]]:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, team = seed.user(db, "alice"), seed.team(db, "A")
        seed.join(db, user, team)
        todo = seed.todo(db, team, "existing")
        yield db, {"user": user, "team": team, "todo": todo}


def valid_push(names: dict[str, str]) -> dict[str, Any]:
    return {
        "protocol": 1,
        "schemaVersion": 1,
        "clientId": "fuzz",
        "mutations": [
            {
                "id": 1,
                "tx": 1,
                "table": "todos",
                "op": "patch",
                "pk": {"id": names["todo"]},
                "values": {"done": True},
            },
            {
                "id": 2,
                "tx": 1,
                "table": "todos",
                "op": "put",
                "pk": {"id": names["todo"]},
                "values": {"title": "t", "team_id": names["team"]},
            },
        ],
    }


def corruptions(names: dict[str, str]) -> st.SearchStrategy[tuple[str, Any]]:
    """(endpoint, body) pairs that are each wrong in at least one way."""
    push = valid_push(names)

    def with_header(key: str) -> st.SearchStrategy[tuple[str, Any]]:
        bad = {
            "protocol": json_values.filter(lambda v: v != 1 or isinstance(v, bool)),
            "schemaVersion": not_an_int
            | st.integers(max_value=0)
            | st.integers(min_value=2, max_value=2**40),
            "clientId": not_a_string
            | st.just("")
            | st.text(min_size=1).filter(lambda s: not CLIENT_ID.match(s)),
            "mutations": json_values.filter(lambda v: not isinstance(v, list)),
        }[key]
        return bad.map(lambda value: ("/push", {**push, key: value}))

    def with_mutation(field: str, bad: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
        def build(value: Any, index: int) -> tuple[str, Any]:
            mutations = [dict(m) for m in push["mutations"]]
            mutations[index][field] = value
            return ("/push", {**push, "mutations": mutations})

        return st.builds(build, bad, st.integers(0, 1))

    def dropping(field: str) -> st.SearchStrategy[tuple[str, Any]]:
        mutations = [dict(m) for m in push["mutations"]]
        del mutations[1][field]
        return st.just(("/push", {**push, "mutations": mutations}))

    ids_bad = st.sampled_from([[1, 1], [2, 1], [0, 1], [-5, 1], [1, 2**63]])
    first, second = push["mutations"]
    interleaved_transactions = [first, {**second, "tx": 2}, {**first, "id": 3}]
    pull = {"protocol": 1, "schemaVersion": 1, "clientId": "fuzz", "cursor": None, "limit": 10}
    return st.one_of(
        *(with_header(key) for key in ("protocol", "schemaVersion", "clientId", "mutations")),
        with_mutation("id", not_an_int),
        with_mutation(
            "tx",
            json_values.filter(
                lambda v: (
                    isinstance(v, bool | list | dict)
                    or v is None
                    or (isinstance(v, float) and not v.is_integer())
                )  # 0.0 is an integer id
            ),
        ),
        with_mutation("table", not_a_string),
        with_mutation("op", json_values.filter(lambda v: v not in ("put", "patch", "delete"))),
        with_mutation("pk", not_an_object | st.just({})),
        with_mutation("values", not_an_object),
        with_mutation("extra", json_values),
        with_mutation("values", st.text(max_size=3).map(lambda s: {"title": s + "\x00"})),
        st.sampled_from(["op", "pk", "values", "id", "tx", "table"]).flatmap(dropping),
        ids_bad.map(
            lambda ids: (
                "/push",
                {**push, "mutations": [m | {"id": i} for m, i in zip(push["mutations"], ids, strict=True)]},
            )
        ),
        st.just(("/push", {**push, "mutations": [{**push["mutations"][0], "id": i} for i in range(1, 60)]})),
        st.just(("/push", {**push, "mutations": interleaved_transactions})),
        st.sampled_from(["limit", "cursor", "schemaVersion", "clientId", "protocol"]).flatmap(
            lambda key: PULL_FIELDS[key].map(lambda v: ("/pull", {**pull, key: v}))
        ),
        st.text(min_size=1, max_size=50).map(lambda c: ("/pull", {**pull, "cursor": c})),
        st.builds(lambda k, v: ("/pull", {**pull, k: v}), unknown_name, json_values),
        not_an_object.map(lambda body: ("/push", body)),
        not_an_object.map(lambda body: ("/pull", body)),
        st.just(("/push", {**push, "schemaVersion": 7})),
        st.just(("/pull", {**pull, "schemaVersion": 7})),
    )


def misnamed(names: dict[str, str]) -> st.SearchStrategy[Any]:
    """Push bodies of the right shape whose one mutation names what its table does not have."""
    push = valid_push(names)
    name = unknown_name.filter(lambda n: n != "" and "\x00" not in n)  # else a bad string (400)
    value = json_scalars.filter(lambda v: not (isinstance(v, str) and "\x00" in v))
    pk_extra = st.builds(lambda n: {"id": names["todo"], n: 1}, name.filter(lambda n: n != "id"))
    values_bad = st.builds(lambda n, v: {"title": "ok", n: v}, name, value)
    values_pk_mismatch = st.just({"id": "00000000-0000-4000-8000-000000000000"})

    def build(field: str, value: Any, index: int) -> Any:
        mutations = [dict(m) for m in push["mutations"]]
        mutations[index][field] = value
        return {**push, "mutations": mutations}

    return st.one_of(
        st.builds(build, st.just("table"), name, st.integers(0, 1)),
        st.builds(build, st.just("pk"), pk_extra | st.just({"team_id": names["team"]}), st.integers(0, 1)),
        st.builds(build, st.just("values"), values_bad | values_pk_mismatch, st.integers(0, 1)),
    )


PULL_FIELDS = {
    # Over the hosts' max_changes (protocol/limits.json; neither suite's hosts set their own).
    "limit": not_an_int | st.integers(max_value=0) | st.integers(min_value=DEFAULT_LIMITS.max_changes + 1),
    "cursor": not_a_string.filter(lambda v: v is not None) | st.text(min_size=201, max_size=210),
    "schemaVersion": not_an_int | st.integers(max_value=0),
    "clientId": not_a_string | st.just("a b"),
    "protocol": st.integers(min_value=2) | st.just(True),
}

RAW = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(lambda s: s.encode()),
    st.just(b'{"protocol": 1, "mutations": [' * 2000),
    st.just(b"[" * 100_000),
    st.just(b'{"protocol": 1e999}'),
    st.just(b'{"clientId": "\\ud800"}'),
    st.just(
        b'{"protocol": 1, "schemaVersion": 1, "clientId": "x", "mutations": [], "pad": "'
        + b"x" * 70_000
        + b'"}'
    ),
)


def assert_refused(
    db: psycopg.Connection[Any], http: httpx.Client, path: str, content: bytes, headers: dict[str, str]
) -> None:
    """A 4xx with a JSON error, and not one row of the database changed."""
    before = fingerprint(db)
    response = http.post(path, content=content, headers=headers)
    assert 400 <= response.status_code < 500, (path, content[:300], response.text)
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    event(f"{response.status_code} {error['code']}")  # --hypothesis-show-statistics lists them
    assert fingerprint(db) == before, (path, content[:300], response.text)


def signed_in(names: dict[str, str]) -> dict[str, str]:
    return {"authorization": f"Bearer {names['user']}", "content-type": "application/json"}


@settings(max_examples=900)
@given(data=st.data())
def test_wrong_json_requests_are_4xx_and_change_nothing(
    data: st.DataObject, world: tuple[psycopg.Connection[Any], dict[str, str]], http: httpx.Client
) -> None:
    db, names = world
    path, body = data.draw(corruptions(names))
    assert_refused(db, http, path, json.dumps(body).encode(), signed_in(names))


@settings(max_examples=150)
@given(path=st.sampled_from(["/push", "/pull"]), content=RAW)
def test_bodies_that_are_not_json_are_4xx_and_change_nothing(
    path: str, content: bytes, world: tuple[psycopg.Connection[Any], dict[str, str]], http: httpx.Client
) -> None:
    db, names = world
    assert_refused(db, http, path, content, signed_in(names))


@settings(max_examples=20)
@given(headers=st.sampled_from([{}, {"authorization": "Bearer"}, {"authorization": "Basic x"}]))
def test_anonymous_requests_are_401_and_change_nothing(
    headers: dict[str, str], world: tuple[psycopg.Connection[Any], dict[str, str]], http: httpx.Client
) -> None:
    db, names = world
    assert_refused(db, http, "/push", json.dumps(valid_push(names)).encode(), headers)


def test_the_valid_push_the_corruptions_start_from_is_accepted(
    world: tuple[psycopg.Connection[Any], dict[str, str]], server_url: str
) -> None:
    db, names = world
    with httpx.Client(base_url=server_url) as http:
        response = http.post(
            "/push", json=valid_push(names), headers={"authorization": f"Bearer {names['user']}"}
        )
    assert response.json() == {"lastMutationId": 2, "rejected": []}
    assert db.execute("SELECT title, done FROM todos").fetchall() == [("t", True)]


REJECTED_NAMES = {"unknown_table", "invalid_key", "pk_mismatch", "unknown_column", "transaction_rolled_back"}


@settings(max_examples=150)
@given(data=st.data())
def test_a_mutation_naming_what_its_table_lacks_is_rejected_not_the_batch(
    data: st.DataObject, world: tuple[psycopg.Connection[Any], dict[str, str]], http: httpx.Client
) -> None:
    """Past shape validation nothing refuses a batch as a whole, which would wedge the client's queue:
    the bad mutation is rejected and its client transaction (both mutations, tx 1) rolled back."""
    db, names = world
    body = data.draw(misnamed(names))
    before = fingerprint(db, rows_only=True)
    response = http.post(
        "/push", json={**body, "clientId": f"fuzz-{uuid.uuid4().hex[:8]}"}, headers=signed_in(names)
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["lastMutationId"] == 2
    assert [r["id"] for r in result["rejected"]] == [1, 2]
    assert {r["code"] for r in result["rejected"]} <= REJECTED_NAMES
    event(" ".join(sorted({r["code"] for r in result["rejected"]})))
    assert fingerprint(db, rows_only=True) == before
