"""Every code of `protocol/errors.json` answered over HTTP, by the ASGI app on a real database.

Each listed error code has a request here that provokes it, answered with
the listed status and a body the error-response schema accepts; a code added
to the contract without such a request fails `test_every_listed_code_has_a_case`.
The rejection codes are provoked the same way, inside a 200 push response.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import jwt
import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from starlette.requests import Request

from alembic_drizzlesync import localdb
from alembic_drizzlesync.config import load_config
from alembic_drizzlesync.sync import Identity, Limits, SyncProcessor
from alembic_drizzlesync.sync.asgi import Authenticate, bearer_user_for_development, create_app
from alembic_drizzlesync.sync.contract import contract, error_codes, validator
from alembic_drizzlesync.sync.tokens import JWTAuthenticator
from tests.sync import seed
from tests.sync.conftest import EXAMPLE
from tests.sync.errortable import DOC, render, section
from tests.sync.signing import AUDIENCE, ISSUER, SECRET, KeyServer, claims, es256_key, forged_none, hs256

LIMITS = Limits(max_body_bytes=8000, max_mutations=3, max_changes=100)


@dataclass
class World:
    alice: str
    bob: str
    team: str
    others_team: str
    todo: str


@dataclass
class Call:
    """One request: a JSON body (or raw bytes) to a path, under one of the apps below."""

    body: Any = None
    path: str = "/push"
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: str = "dev"
    as_user: str = "alice"


def header(body: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    return {"protocol": 1, "schemaVersion": 1, "clientId": "codes-1", **(body or {}), **changes}


def put(w: World, mutation_id: int = 1, tx: int = 1, **values: Any) -> dict[str, Any]:
    row = {"team_id": w.team, "title": "t", **values}
    return {
        "id": mutation_id,
        "tx": tx,
        "table": "todos",
        "op": "put",
        "pk": {"id": str(uuid.uuid4())},
        "values": row,
    }


def push(*mutations: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return header({"mutations": list(mutations)}, **changes)


def token(w: World, **changes: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {hs256(claims(w.alice, **changes))}"}


ERRORS: dict[str, Callable[[World], Call]] = {
    "malformed_json": lambda w: Call(content=b'{"protocol": 1,'),
    "invalid_type": lambda w: Call(push(mutations="all of them")),
    "missing_field": lambda w: Call({"protocol": 1, "schemaVersion": 1, "mutations": []}),
    "unknown_field": lambda w: Call(push(put(w), force=True)),
    "out_of_range": lambda w: Call(header(cursor=None, limit=LIMITS.max_changes + 1), "/pull"),
    "invalid_string": lambda w: Call(push(put(w, title="nul \x00 inside"))),
    "invalid_number": lambda w: Call(content=b'{"protocol": 1, "schemaVersion": NaN}'),
    "nesting_too_deep": lambda w: Call(content=b'{"cursor": ' + b"[" * 600 + b"]" * 600 + b"}", path="/pull"),
    "protocol_unsupported": lambda w: Call(push(protocol=2)),
    "invalid_client_id": lambda w: Call(push(clientId="my device")),
    "invalid_op": lambda w: Call(push({**put(w), "op": "upsert"})),
    "invalid_pk": lambda w: Call(push({**put(w), "pk": {}})),
    "duplicate_mutation_id": lambda w: Call(push(put(w, 1), put(w, 1))),
    "unordered_mutation_ids": lambda w: Call(push(put(w, 2), put(w, 1))),
    "tx_not_contiguous": lambda w: Call(push(put(w, 1, tx=1), put(w, 2, tx=2), put(w, 3, tx=1))),
    "invalid_cursor": lambda w: Call(header(cursor="not-a-cursor"), "/pull"),
    "unauthenticated": lambda w: Call(push(put(w)), as_user=""),
    "token_missing": lambda w: Call(push(put(w)), auth="jwt"),
    "token_malformed": lambda w: Call(push(put(w)), headers={"authorization": "Bearer abc"}, auth="jwt"),
    "token_unsupported_algorithm": lambda w: Call(
        push(put(w)), headers={"authorization": f"Bearer {forged_none(w.alice)}"}, auth="jwt"
    ),
    "token_unknown_key": lambda w: Call(push(put(w)), auth="jwks"),
    "token_invalid_signature": lambda w: Call(
        push(put(w)),
        headers={"authorization": f"Bearer {hs256(claims(w.alice), 'x' * 32)}"},
        auth="jwt",
    ),
    "token_expired": lambda w: Call(push(put(w)), headers=token(w, exp=1, iat=0), auth="jwt"),
    "token_not_yet_valid": lambda w: Call(push(put(w)), headers=token(w, nbf=4102444800), auth="jwt"),
    "token_invalid_audience": lambda w: Call(push(put(w)), headers=token(w, aud="other"), auth="jwt"),
    "token_invalid_issuer": lambda w: Call(push(put(w)), headers=token(w, iss="https://other"), auth="jwt"),
    "token_missing_claim": lambda w: Call(push(put(w)), headers=token(w, sub=None), auth="jwt"),
    "client_id_taken": lambda w: Call(push(put(w), clientId="alices-device"), as_user="bob"),
    "schema_version_unsupported": lambda w: Call(push(put(w), schemaVersion=99)),
    "mutation_gap": lambda w: Call(push(put(w, 7))),
    "request_too_large": lambda w: Call(push(put(w, title="x" * LIMITS.max_body_bytes))),
    "batch_too_large": lambda w: Call(push(*(put(w, i) for i in range(1, LIMITS.max_mutations + 2)))),
    "unsupported_media_type": lambda w: Call(
        content=json.dumps(push(put(w))).encode(), headers={"content-type": "text/plain"}
    ),
    "internal": lambda w: Call(push(put(w)), auth="broken"),
    "server_misconfigured": lambda w: Call(push(put(w)), auth="not migrated"),
    "temporarily_unavailable": lambda w: Call(push(put(w)), auth="no database"),
}


@pytest.fixture
def world(db: psycopg.Connection[Any]) -> World:
    alice, team = seed.member(db, "alice", "A")
    bob, others_team = seed.member(db, "bob", "B")
    # alice's device has pushed before: bob may not use its client id (client_id_taken)
    db.execute("INSERT INTO drizzlesync.client (client_id, user_id) VALUES ('alices-device', %s)", (alice,))
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.title = 'refuse me' THEN RAISE EXCEPTION 'refused by the app'; END IF; RETURN NEW; END $$"
    )
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON todos FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    return World(alice, bob, team, others_team, seed.todo(db, team, "existing"))


def broken(request: Request) -> Identity:
    raise RuntimeError("a bug in the application's authenticate")


@pytest.fixture
def unreachable_engine() -> Iterator[Engine]:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:9/none")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def unmigrated_engine(pg_server: str) -> Iterator[Engine]:
    """A database the migrations never ran on: no library schema, no functions."""
    with localdb.temporary_database(pg_server, prefix="drizzlesync_unmigrated") as url:
        engine = create_engine(localdb.sqlalchemy_url(url))
        yield engine
        engine.dispose()


@pytest.fixture
def send(
    engine: Engine, unreachable_engine: Engine, unmigrated_engine: Engine, world: World, jwks: KeyServer
) -> Callable[[Call], httpx.Response]:
    config = load_config(EXAMPLE / "pyproject.toml")
    jwks.keys = [es256_key("published")[1]]
    unpublished = es256_key("unpublished")[0]
    apps: dict[str, tuple[Engine, Authenticate]] = {
        "dev": (engine, bearer_user_for_development),
        "jwt": (engine, JWTAuthenticator(secret=SECRET, issuer=ISSUER, audience=AUDIENCE)),
        "jwks": (engine, JWTAuthenticator(jwks_url=jwks.url)),
        "broken": (engine, broken),
        "no database": (unreachable_engine, bearer_user_for_development),
        "not migrated": (unmigrated_engine, bearer_user_for_development),
    }
    users = {"alice": world.alice, "bob": world.bob, "": ""}

    def authorization(request: Call) -> dict[str, str]:
        if request.auth == "jwks":
            signed = jwt.encode(
                claims(world.alice), unpublished, algorithm="ES256", headers={"kid": "unpublished"}
            )
            return {"authorization": f"Bearer {signed}"}
        if request.auth == "jwt" or not request.as_user:
            return {}  # the case brings its token, or none
        return {"authorization": f"Bearer {users[request.as_user]}"}

    def call(request: Call) -> httpx.Response:
        db_engine, authenticate = apps[request.auth]
        app = create_app(SyncProcessor.from_config(db_engine, config, LIMITS), authenticate)
        headers = {"content-type": "application/json", **authorization(request)}
        headers.update(request.headers)
        content = request.content if request.content is not None else json.dumps(request.body).encode()

        async def post() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                return await http.post(request.path, content=content, headers=headers)

        return anyio.run(post)

    return call


ERROR_RESPONSE = validator("error-response")


def test_every_listed_code_has_a_case() -> None:
    assert sorted(ERRORS) == sorted(error_codes())


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_each_error_code_is_answered_over_http(
    code: str, send: Callable[[Call], httpx.Response], world: World, db: psycopg.Connection[Any]
) -> None:
    before = db.execute("SELECT count(*) FROM todos").fetchone()
    response = send(ERRORS[code](world))
    assert (response.status_code, response.json()["error"]["code"]) == (error_codes()[code].status, code), (
        response.text
    )
    ERROR_RESPONSE.validate(response.json())
    for name in error_codes()[code].extra:
        assert name in response.json()["error"]
    assert db.execute("SELECT count(*) FROM todos").fetchone() == before


def rejecting(w: World, code: str) -> list[dict[str, Any]]:
    missing = {
        "id": 2,
        "tx": 2,
        "table": "todos",
        "op": "patch",
        "pk": {"id": str(uuid.uuid4())},
        "values": {},
    }
    return {
        "unknown_table": [{**put(w, 1), "table": "pg_authid"}],
        "invalid_key": [{**put(w, 1), "pk": {"title": "t"}}],
        "pk_mismatch": [put(w, 1, id=str(uuid.uuid4()))],
        "unknown_column": [put(w, 1, secret_flag=True)],
        "forbidden": [put(w, 1, team_id=w.others_team)],
        "not_found": [put(w, 1), missing],
        "constraint_violation": [put(w, 1, title=None)],
        "invalid_value": [put(w, 1, done="maybe")],
        "rejected": [put(w, 1, title="refuse me")],
        "transaction_rolled_back": [put(w, 1, tx=1), put(w, 2, tx=1, done="maybe")],
    }[code]


@pytest.mark.parametrize("code", [row["code"] for row in contract()["rejections"]])
def test_each_rejection_code_is_answered_in_a_push(
    code: str, send: Callable[[Call], httpx.Response], world: World, db: psycopg.Connection[Any]
) -> None:
    response = send(Call(push(*rejecting(world, code), clientId="codes-2")))
    assert response.status_code == 200, response.text
    assert code in [rejection["code"] for rejection in response.json()["rejected"]]


def test_the_error_tables_of_docs_sync_md_are_the_contracts() -> None:
    assert section(DOC.read_text(encoding="utf-8")) == render(), "run `python -m tests.sync.errortable`"


def test_a_database_the_migrations_never_ran_on_is_logged_for_the_operator(
    send: Callable[[Call], httpx.Response], world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The client hears a fixed message; the database's own, which names what is missing, goes to the log."""
    response = send(ERRORS["server_misconfigured"](world))
    assert response.status_code == 503
    assert "drizzlesync" not in response.json()["error"]["message"]
    logged = [record for record in caplog.records if record.levelname == "ERROR"]
    assert ['schema "drizzlesync" does not exist' in record.getMessage() for record in logged] == [True]
