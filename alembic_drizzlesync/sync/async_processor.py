"""The sync processor for asyncio hosts: the same requests, run in the event loop.

`SyncProcessor` blocks on its connection, so an ASGI host runs it in a
thread pool; the hop there and back (a queue, a condition variable, a
thread's wake-up) cost as much host CPU as the rest of an empty pull's
request (docs/performance.md, "Host concurrency"). This one awaits a psycopg
`AsyncConnection` from a `psycopg_pool.AsyncConnectionPool` instead, and
sends the same one query: what a request becomes is `ProtocolQueries`'s,
shared with `SyncProcessor`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from ..config import DEFAULT_LIBRARY_SCHEMA, SyncConfig
from .errors import SyncError
from .processor import READY, Identity, ProtocolQueries, Query, Response, error_response
from .protocol import DEFAULT_LIMITS, Limits

IDLE = psycopg.pq.TransactionStatus.IDLE


class AsyncSyncProcessor:
    """Serves push and pull in the event loop, on connections of `pool`.

    The pool is the caller's: open it before the first request and close it
    at shutdown (an app's lifespan; `create_app(..., lifespan=...)`). A
    request takes a connection for one query and gives it back as it came:
    in autocommit mode if the pool's connections are (`kwargs={"autocommit":
    True}`, which saves switching it on and off), any failed transaction
    rolled back. A request that waits longer than the pool's `timeout` for a
    connection, or finds the database gone, is answered 503 and retried by
    the client.

    Requests beyond the pool's `max_size` (read once, here) queue on a
    semaphore of that many turns rather than in the pool: a request waiting
    in psycopg_pool's queue (a lock, a condition and a timed wait each)
    cost the host 25-50 us of CPU more than one that found a connection
    free, a tenth of an empty pull's (docs/performance.md, "Host concurrency").
    With a turn, a connection is nearly always free; where the application
    holds some of the pool's, the pool's own queue still serves.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.pool = pool
        self.limits = limits
        self._queries = ProtocolQueries(library_schema, limits)
        self._turns = asyncio.Semaphore(pool.max_size)
        self._cursors: dict[psycopg.AsyncConnection[Any], psycopg.AsyncClientCursor[Any]] = {}

    @classmethod
    def from_config(
        cls, pool: AsyncConnectionPool[Any], config: SyncConfig, limits: Limits = DEFAULT_LIMITS
    ) -> AsyncSyncProcessor:
        return cls(pool, library_schema=config.library_schema, limits=limits)

    async def push(self, identity: Identity | None, body: bytes) -> Response:
        """Apply a push batch."""
        return await self._serve(self._queries.push, identity, body)

    async def pull(self, identity: Identity | None, body: bytes) -> Response:
        """Read changes."""
        return await self._serve(self._queries.pull, identity, body)

    async def ready(self) -> Response:
        """200 when a pooled connection answers a query, else the 503 a request would get."""
        return await self._serve(lambda _identity, _body: READY, None, b"")

    async def _serve(
        self, query: Callable[[Identity | None, bytes], Query], identity: Identity | None, body: bytes
    ) -> Response:
        try:
            return Response(200, (await self._run(query(identity, body))).encode())
        except PoolClosed:
            raise  # the host never opened the pool, or closed it: a bug to see, not a 503 to retry
        except (SyncError, psycopg.Error) as error:
            response = error_response(error)
            if response is None:
                raise
            return response

    async def _run(self, query: Query) -> str:
        """The query on a pooled connection, once it is this request's turn."""
        if self._turns.locked():  # a timer only for a request that has to wait
            try:
                async with asyncio.timeout(self.pool.timeout):
                    await self._turns.acquire()
            except TimeoutError:
                raise PoolTimeout(f"no connection free after {self.pool.timeout:.2f} s") from None
        else:
            await self._turns.acquire()
        try:
            return await self._run_on(await self.pool.getconn(), query)
        finally:
            self._turns.release()

    async def _run_on(self, connection: psycopg.AsyncConnection[Any], query: Query) -> str:
        """The query on `connection`: one round trip, its JSON passed on as text.

        `getconn` and `putconn` rather than the pool's `connection()` context
        manager, whose generator machinery cost 2-3 % of an empty pull.
        """
        try:
            switched = not connection.autocommit
            if switched:  # the transaction is the query's explicit BEGIN ... COMMIT
                await connection.set_autocommit(True)
            try:
                cursor = self._cursor(connection)
                # Three statements are never prepared: prepare=False skips the lookup.
                await cursor.execute(query.sql, query.params, prepare=False)
                cursor.nextset()  # from BEGIN's result to the call's
                row = await cursor.fetchone()
            finally:
                # A lost connection goes back as it is: the pool discards it.
                if not (connection.broken or connection.closed):
                    if connection.info.transaction_status != IDLE:  # after a failed statement
                        await connection.rollback()
                    if switched:
                        await connection.set_autocommit(False)
        finally:
            await self.pool.putconn(connection)
        assert row is not None
        return str(row[0])

    def _cursor(self, connection: psycopg.AsyncConnection[Any]) -> psycopg.AsyncClientCursor[Any]:
        """The connection's cursor, made at its first request and kept for the next ones.

        A cursor a request, with its adapters' `Transformer` made and each
        value's dumper looked up anew, cost 11 % of the processor's
        instructions for an empty pull. A kept cursor holds its last
        request's result until the next (at most a page, per connection).
        A connection seen for the first time also drops the cursors of
        closed ones, which the pool has replaced.
        """
        cursor = self._cursors.get(connection)
        if cursor is None:
            for closed in [known for known in self._cursors if known.closed]:
                del self._cursors[closed]
            cursor = self._cursors[connection] = psycopg.AsyncClientCursor(connection)
        return cursor
