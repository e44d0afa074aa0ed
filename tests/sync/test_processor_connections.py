"""The processor borrows the engine's psycopg connections: each goes back to the pool as it came.

A request runs BEGIN, the call and COMMIT in one pipeline (or, with a libpq
too old for pipeline mode, one after the other) on the pool's connection in
autocommit mode. With one connection in the pool, every
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
from alembic_drizzlesync.sync import processor as processor_module
from tests.sync import seed


@pytest.fixture(params=[True, False], ids=["pipeline", "libpq without pipeline mode"])
def one_connection(
    synced_db: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setattr(processor_module, "PIPELINE", request.param)
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
