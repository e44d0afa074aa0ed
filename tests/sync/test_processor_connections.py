"""The processor borrows the engine's psycopg connections: each goes back to the pool as it came.

A request runs BEGIN, the call and COMMIT as one simple query, its values
quoted by psycopg, on the pool's connection in autocommit mode. With one
connection in the pool, every
request and every other user of the engine gets that same connection, so
a request that left it in a failed transaction, or in autocommit, would
show in the next one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from alembic_drizzlesync import localdb
from alembic_drizzlesync.sync import Identity, SyncProcessor
from tests.sync import seed


@pytest.fixture
def one_connection(synced_db: str) -> Iterator[Engine]:
    engine = create_engine(localdb.sqlalchemy_url(synced_db), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def pull(processor: SyncProcessor, user: str, client_id: str) -> tuple[int, dict[str, Any]]:
    body = {"protocol": 1, "schemaVersion": 1, "clientId": client_id, "cursor": None}
    response = processor.pull(Identity(user), json.dumps(body).encode())
    return response.status, json.loads(response.body)


def test_a_request_the_database_refused_leaves_the_connection_usable(
    synced_db: str, one_connection: Engine
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, _ = seed.member(db, "alice", "A")
        bob, _ = seed.member(db, "bob", "B")
    processor = SyncProcessor(one_connection)
    assert pull(processor, alice, "alice-1")[0] == 200
    status, body = pull(processor, bob, "alice-1")  # raised inside the function's transaction
    assert (status, body["error"]["code"]) == (403, "client_id_taken")
    status, body = pull(processor, bob, "bob-1")
    assert status == 200, body


def test_the_engine_s_other_users_get_their_connection_back_in_transactions(
    synced_db: str, one_connection: Engine
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, team = seed.member(db, "alice", "A")
    assert pull(SyncProcessor(one_connection), alice, "alice-1")[0] == 200
    with one_connection.connect() as connection:
        connection.execute(
            text("INSERT INTO todos (team_id, title) VALUES (:team, 'undone')"), {"team": team}
        )
        connection.rollback()
    with psycopg.connect(synced_db) as db:
        assert db.execute("SELECT count(*) FROM todos").fetchone() == (0,)


def test_an_engine_on_another_driver_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"psycopg 3 \(postgresql\+psycopg://...\), not sqlite\+pysqlite"):
        SyncProcessor(create_engine("sqlite://"))


# Values that a hand-rolled quoting would get wrong: quotes, backslashes under
# both string syntaxes, dollar quotes, a statement's end, non-ASCII.
AWKWARD = "it's \\' \\\\ E'\\n' $$ $q$ '); DROP TABLE todos; -- ünï 😀"


def test_values_reach_the_functions_exactly_as_sent(synced_db: str, one_connection: Engine) -> None:
    """The call's values are quoted into the query text (one simple query): whatever the claims, a
    pushed value or a cursor hold arrives byte for byte, and nothing else runs."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, team = seed.member(db, "alice", "A")
    processor = SyncProcessor(one_connection)
    client_id = "alice-1"
    todo_id = "6f1c1b52-5d9e-4f0e-9d7e-0b7a2f4c9a11"
    values = {"team_id": team, "title": AWKWARD}
    mutation = {"id": 1, "tx": 1, "table": "todos", "op": "put", "pk": {"id": todo_id}, "values": values}
    body = {"protocol": 1, "schemaVersion": 1, "clientId": client_id, "mutations": [mutation]}
    identity = Identity(alice, {"note": AWKWARD})
    pushed = processor.push(identity, json.dumps(body).encode())
    assert pushed.status == 200, pushed.body
    with psycopg.connect(synced_db) as db:
        assert db.execute("SELECT title FROM todos").fetchall() == [(AWKWARD,)]
        assert db.execute(
            "SELECT count(*) FROM drizzlesync.change_log WHERE client_id = %s", (client_id,)
        ).fetchone() == (1,)
    request = {"protocol": 1, "schemaVersion": 1, "clientId": client_id, "cursor": AWKWARD}
    refused = processor.pull(identity, json.dumps(request).encode())
    assert refused.status == 400, refused.body  # a cursor the server never issued, named as such
    status, page = pull(processor, alice, client_id)
    assert status == 200, page
    titles = [change["row"]["title"] for change in page["changes"] if change["table"] == "todos"]
    assert titles == [AWKWARD]
