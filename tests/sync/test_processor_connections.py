"""Both processors borrow a pool's psycopg connections: each goes back to the pool as it came.

A request runs BEGIN, the call and COMMIT as one simple query, its values
quoted by psycopg, on the pool's connection in autocommit mode:
`SyncProcessor` on a SQLAlchemy engine's, `AsyncSyncProcessor` on a
psycopg_pool `AsyncConnectionPool`'s. With one connection in the pool, every
request and every other user of the pool gets that same connection, so
a request that left it in a failed transaction, or in autocommit, would
show in the next one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, PoolClosed
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from alembic_drizzlesync import localdb
from alembic_drizzlesync.sync import AsyncSyncProcessor, Identity, Response, SyncProcessor
from tests.sync import seed

T = TypeVar("T")


class Processor(Protocol):
    def push(self, identity: Identity | None, body: bytes) -> Response: ...
    def pull(self, identity: Identity | None, body: bytes) -> Response: ...


class InLoop:
    """An `AsyncSyncProcessor` called from blocking test code: its pool lives in an event loop
    on a thread of its own, as in a host's."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, wait_for_connections: bool = True) -> None:
        self.pool = pool
        self.processor = AsyncSyncProcessor(pool)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.wait(pool.open(wait=wait_for_connections))

    def submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    def wait(self, work: Coroutine[Any, Any, T]) -> T:
        return self.submit(work).result(timeout=60)

    def push(self, identity: Identity | None, body: bytes) -> Response:
        return self.wait(self.processor.push(identity, body))

    def pull(self, identity: Identity | None, body: bytes) -> Response:
        return self.wait(self.processor.pull(identity, body))

    def close(self) -> None:
        self.wait(self.pool.close())
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture
def one_connection(synced_db: str) -> Iterator[Engine]:
    engine = create_engine(localdb.sqlalchemy_url(synced_db), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def one_connection_pool(synced_db: str, **kwargs: Any) -> InLoop:
    return InLoop(AsyncConnectionPool(synced_db, min_size=1, max_size=1, open=False, **kwargs))


@pytest.fixture(params=["engine", "async pool", "async pool in autocommit"])
def processor(request: pytest.FixtureRequest, synced_db: str) -> Iterator[Processor]:
    """Either processor on a pool of one connection; the async pool's connections as a host
    would configure them (autocommit) or as the application's other users may want them."""
    if request.param == "engine":
        yield SyncProcessor(request.getfixturevalue("one_connection"))
        return
    autocommit = request.param == "async pool in autocommit"
    looped = one_connection_pool(synced_db, kwargs={"autocommit": autocommit})
    yield looped
    looped.close()


def pull(processor: Processor, user: str, client_id: str) -> tuple[int, dict[str, Any]]:
    body = {"protocol": 1, "schemaVersion": 1, "clientId": client_id, "cursor": None}
    response = processor.pull(Identity(user), json.dumps(body).encode())
    return response.status, json.loads(response.body)


def test_a_request_the_database_refused_leaves_the_connection_usable(
    synced_db: str, processor: Processor
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, _ = seed.member(db, "alice", "A")
        bob, _ = seed.member(db, "bob", "B")
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


def test_an_autocommit_engine_s_other_users_get_their_connection_back_in_autocommit(synced_db: str) -> None:
    """An engine made with isolation_level="AUTOCOMMIT", shared with the application: a request
    that left its connection out of autocommit would have the application's next write rolled
    back when SQLAlchemy returns the connection to the pool."""
    engine = create_engine(
        localdb.sqlalchemy_url(synced_db), pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT"
    )
    try:
        with psycopg.connect(synced_db, autocommit=True) as db:
            alice, team = seed.member(db, "alice", "A")
        assert pull(SyncProcessor(engine), alice, "alice-1")[0] == 200
        with engine.connect() as connection:  # no commit(): the engine's connections autocommit
            connection.execute(
                text("INSERT INTO todos (team_id, title) VALUES (:team, 'kept')"), {"team": team}
            )
        with psycopg.connect(synced_db) as db:
            assert db.execute("SELECT count(*) FROM todos").fetchone() == (1,)
    finally:
        engine.dispose()


def test_an_engine_whose_connections_are_all_busy_is_503(synced_db: str) -> None:
    """SQLAlchemy's pool timeout is transient, as the async pool's is: the client retries."""
    engine = create_engine(localdb.sqlalchemy_url(synced_db), pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        with psycopg.connect(synced_db, autocommit=True) as db:
            alice, _ = seed.member(db, "alice", "A")
        with engine.connect():  # the application holds the pool's only connection
            status, body = pull(SyncProcessor(engine), alice, "alice-1")
        assert (status, body["error"]["code"]) == (503, "temporarily_unavailable")
        assert pull(SyncProcessor(engine), alice, "alice-1")[0] == 200
    finally:
        engine.dispose()


def test_the_async_pool_s_other_users_get_their_connection_back_as_it_came(synced_db: str) -> None:
    """Out of autocommit, after a request that succeeded and one the database refused."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, team = seed.member(db, "alice", "A")
        bob, _ = seed.member(db, "bob", "B")
    looped = one_connection_pool(synced_db)
    try:
        assert pull(looped, alice, "alice-1")[0] == 200
        assert pull(looped, bob, "alice-1")[0] == 403

        async def insert_and_roll_back() -> tuple[bool, psycopg.pq.TransactionStatus]:
            async with looped.pool.connection() as connection:
                await connection.execute("INSERT INTO todos (team_id, title) VALUES (%s, 'undone')", (team,))
                state = (connection.autocommit, connection.info.transaction_status)
                await connection.rollback()
                return state

        assert looped.wait(insert_and_roll_back()) == (False, psycopg.pq.TransactionStatus.INTRANS)
    finally:
        looped.close()
    with psycopg.connect(synced_db) as db:
        assert db.execute("SELECT count(*) FROM todos").fetchone() == (0,)


def test_an_unreachable_database_is_503_for_the_async_processor() -> None:
    """The pool cannot connect: a request waits the pool's timeout, then the client is told to retry."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        "postgresql://postgres@127.0.0.1:9/none", min_size=1, timeout=0.5, open=False
    )
    looped = InLoop(pool, wait_for_connections=False)  # it never gets one
    try:
        status, body = pull(looped, "alice", "alice-1")
    finally:
        looped.close()
    assert (status, body["error"]["code"]) == (503, "temporarily_unavailable")


def test_requests_beyond_the_pool_s_size_take_turns(synced_db: str) -> None:
    """Eight pulls at once on a pool of two: each waits for a turn and is answered, and the pool
    never opens a connection beyond its two (a turn not given back would leave the rest to time
    out with 503)."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        users = [seed.member(db, f"user{i}", f"T{i}")[0] for i in range(8)]
    looped = InLoop(AsyncConnectionPool(synced_db, min_size=2, max_size=2, timeout=10, open=False))
    body = {"protocol": 1, "schemaVersion": 1, "cursor": None}

    async def pull_all() -> list[Response]:
        return await asyncio.gather(
            *(
                looped.processor.pull(Identity(user), json.dumps({**body, "clientId": f"{user}-1"}).encode())
                for user in users
            )
        )

    try:
        responses = looped.wait(pull_all())
        opened = looped.pool.get_stats()["connections_num"]
    finally:
        looped.close()
    assert [response.status for response in responses] == [200] * 8
    assert opened == 2


def test_a_request_that_waits_past_the_pool_s_timeout_for_its_turn_is_503(synced_db: str) -> None:
    """One connection, held by a pull that waits on a lock: the next pull waits for its turn as
    long as the pool's timeout, then is told to retry; the first is answered once the lock goes."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, _ = seed.member(db, "alice", "A")
        bob, _ = seed.member(db, "bob", "B")
    looped = InLoop(AsyncConnectionPool(synced_db, min_size=1, max_size=1, timeout=0.5, open=False))
    body = {"protocol": 1, "schemaVersion": 1, "cursor": None}
    with psycopg.connect(synced_db) as locker:
        locker.execute("LOCK TABLE drizzlesync.pull_cursor IN ACCESS EXCLUSIVE MODE")
        first = looped.submit(
            looped.processor.pull(Identity(alice), json.dumps({**body, "clientId": "alice-1"}).encode())
        )
        waits = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        for _ in range(100):
            if locker.execute(waits).fetchone() == (1,):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the first pull never waited on the lock")
        second = looped.pull(Identity(bob), json.dumps({**body, "clientId": "bob-1"}).encode())
        locker.rollback()
    try:
        answered = first.result(timeout=30)
    finally:
        looped.close()
    assert (second.status, json.loads(second.body)["error"]["code"]) == (503, "temporarily_unavailable")
    assert answered.status == 200, answered.body


def test_a_lost_connection_s_kept_cursor_goes_with_it(synced_db: str) -> None:
    """Each connection keeps its cursor; when the server drops the connection, that request is
    503, the pool opens another, the next request is answered on it, and the processor keeps
    no cursor of the lost connection (a kept one would hold it for good)."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, _ = seed.member(db, "alice", "A")
        looped = one_connection_pool(synced_db, kwargs={"autocommit": True})
        try:
            assert pull(looped, alice, "alice-1")[0] == 200
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert pull(looped, alice, "alice-1")[0] == 503
            assert pull(looped, alice, "alice-1")[0] == 200
            kept_open = [not connection.closed for connection in looped.processor._cursors]
        finally:
            looped.close()
    assert kept_open == [True]


def test_a_pool_never_opened_is_the_host_s_bug_not_a_503(synced_db: str) -> None:
    """Retrying would never help: it surfaces (the ASGI app answers 500 and logs it)."""
    processor = AsyncSyncProcessor(AsyncConnectionPool(synced_db, open=False))
    body = {"protocol": 1, "schemaVersion": 1, "clientId": "c", "cursor": None}
    with pytest.raises(PoolClosed):
        asyncio.run(processor.pull(Identity("alice"), json.dumps(body).encode()))


def test_an_engine_on_another_driver_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"psycopg 3 \(postgresql\+psycopg://...\), not sqlite\+pysqlite"):
        SyncProcessor(create_engine("sqlite://"))


# Values that a hand-rolled quoting would get wrong: quotes, backslashes under
# both string syntaxes, dollar quotes, a statement's end, non-ASCII.
AWKWARD = "it's \\' \\\\ E'\\n' $$ $q$ '); DROP TABLE todos; -- ünï 😀"


def test_values_reach_the_functions_exactly_as_sent(synced_db: str, processor: Processor) -> None:
    """The call's values are quoted into the query text (one simple query): whatever the claims, a
    pushed value or a cursor hold arrives byte for byte, and nothing else runs."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, team = seed.member(db, "alice", "A")
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


@pytest.mark.parametrize("kind", ["engine", "async pool"])
def test_a_statement_timeout_is_503_and_logged_without_the_request_s_data(
    synced_db: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The client retries a 503 without a word, so the host's log is where an operator learns that
    statements time out: it said nothing. The line names the cause, never the user or a row."""
    slow = "-c statement_timeout=200"
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, _ = seed.member(db, "alice-secret-id", "A")
    looped: InLoop | None = None
    engine = create_engine(localdb.sqlalchemy_url(synced_db), connect_args={"options": slow})
    if kind == "async pool":
        looped = one_connection_pool(synced_db, kwargs={"autocommit": True, "options": slow})
    host: Processor = looped if looped is not None else SyncProcessor(engine)
    try:
        with psycopg.connect(synced_db) as locker:
            locker.execute("LOCK TABLE todos IN ACCESS EXCLUSIVE MODE")
            with caplog.at_level("WARNING", logger="alembic_drizzlesync"):
                status, body = pull(host, alice, "alice-1")
        assert (status, body["error"]["code"]) == (503, "temporarily_unavailable")
        logged = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
        assert logged == [
            "drizzlesync: answered 503, retry later: "
            "canceling statement due to statement timeout (SQLSTATE 57014)"
        ]
        assert pull(host, alice, "alice-1")[0] == 200  # the lock gone, the same connection serves
    finally:
        if looped is not None:
            looped.close()
        engine.dispose()


def test_the_async_processor_s_readiness_is_its_pool_s() -> None:
    """`ready()` is what a request would get from the pool: 503 while it cannot connect."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        "postgresql://postgres@127.0.0.1:9/none", min_size=1, timeout=0.5, open=False
    )
    looped = InLoop(pool, wait_for_connections=False)
    try:
        response = looped.wait(looped.processor.ready())
    finally:
        looped.close()
    assert (response.status, json.loads(response.body)["error"]["code"]) == (503, "temporarily_unavailable")


def test_the_async_processor_is_ready_on_a_pool_that_connects(synced_db: str) -> None:
    looped = one_connection_pool(synced_db, kwargs={"autocommit": True})
    try:
        response = looped.wait(looped.processor.ready())
    finally:
        looped.close()
    assert (response.status, json.loads(response.body)) == (200, {"status": "ready"})


def test_a_misconfiguration_is_logged_with_what_is_missing_and_none_of_the_user_s_data(
    synced_db: str, one_connection: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator reads which relation is missing and in which function; the log held the whole
    server message, whose QUERY line carried the user's scope keys (team ids) as literals."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        alice, team = seed.member(db, "alice", "A")
        seed.todo(db, team, "hello")
        db.execute("ALTER TABLE todos RENAME TO by_hand")
    with caplog.at_level("ERROR", logger="alembic_drizzlesync"):
        status, body = pull(SyncProcessor(one_connection), alice, "alice-1")
    assert (status, body["error"]["code"]) == (503, "server_misconfigured")
    (logged,) = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert logged.startswith(
        'drizzlesync: the database does not match its sync setup: relation "public.todos" does not exist'
        " (SQLSTATE 42P01)"
    )
    assert "PL/pgSQL function drizzlesync." in logged  # where, for the operator
    assert team not in logged and alice not in logged
