"""The framework-agnostic sync processor: an identity and a request body in, a status and JSON out.

It is deliberately thin. The protocol lives in the SQL functions that the
migrations installed (`templates/sql/`), scope resolution included; this
class checks the request's shape, calls one function with the user id and
token claims in a transaction of the isolation it needs, and turns database
errors into the protocol's error responses: DZ<status> errors raised by
those functions verbatim, transient ones (the SQLSTATEs `protocol/errors.json`
calls transient, or a connection lost before any SQLSTATE) as 503 so that
the client retries, those saying the database lacks what the functions name
(a table renamed by hand, the migrations not run) as 503 too, logged for the
operator whose fix ends them, and anything else re-raised as the bug it is.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import psycopg
import sqlalchemy.exc
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..config import DEFAULT_LIBRARY_SCHEMA, SyncConfig
from .contract import is_misconfiguration, is_transient
from .errors import (
    SyncError,
    request_too_large,
    server_misconfigured,
    temporarily_unavailable,
    unauthenticated,
)
from .protocol import (
    DEFAULT_LIMITS,
    Limits,
    PullRequest,
    PushRequest,
    check_identity,
    mutations_json,
    parse_json,
    parse_pull,
    parse_push,
    read_json,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """Who is asking, as the host's authentication established it."""

    user_id: str
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    """A status and its JSON body, encoded: a pull's changes go out as Postgres wrote them."""

    status: int
    body: bytes

    @classmethod
    def of(cls, status: int, payload: Mapping[str, Any]) -> Response:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode())


class Query(NamedTuple):
    """One request's transaction, `BEGIN ...; SELECT ...; COMMIT`, and the values it quotes in."""

    sql: bytes
    params: dict[str, Any]


# A readiness check's transaction, run as a request's is: a pooled connection that answers.
READY = Query(b'BEGIN; SELECT \'{"status":"ready"}\'; COMMIT', {})


class ProtocolQueries:
    """A request body checked and turned into the one query that answers it.

    What both processors share: the blocking `SyncProcessor` and the
    asyncio `AsyncSyncProcessor` differ only in how they run the query.
    """

    def __init__(self, library_schema: str, limits: Limits) -> None:
        self.limits = limits
        self._push_sql = _transaction(
            "READ COMMITTED", _protocol_call(f"{library_schema}.push", "CAST(%(mutations)s AS jsonb)")
        )
        self._pull_sql = _transaction(
            "REPEATABLE READ", _protocol_call(f"{library_schema}.pull", "%(cursor)s, %(limit)s")
        )

    def push(self, identity: Identity | None, body: bytes) -> Query:
        """A push batch, applied READ COMMITTED so that concurrent pushes apply in arrival order."""
        identity, claims = self._admitted(identity, body)
        payload, rounded = read_json(body)
        request: PushRequest = parse_push(payload, self.limits)
        mutations = {"mutations": mutations_json(body, request, rounded)}
        return Query(
            self._push_sql, _arguments(identity, claims, request.client_id, request.schema_version, mutations)
        )

    def pull(self, identity: Identity | None, body: bytes) -> Query:
        """A pull, REPEATABLE READ so that every statement of the pull sees one snapshot."""
        identity, claims = self._admitted(identity, body)
        request: PullRequest = parse_pull(parse_json(body), self.limits)
        page = {"cursor": request.cursor, "limit": request.limit}
        return Query(
            self._pull_sql, _arguments(identity, claims, request.client_id, request.schema_version, page)
        )

    def _admitted(self, identity: Identity | None, body: bytes) -> tuple[Identity, str]:
        """The identity and its claims as JSON, once both are known to be storable."""
        if identity is None:
            raise unauthenticated()
        claims = check_identity(identity.user_id, identity.claims)
        if len(body) > self.limits.max_body_bytes:
            raise request_too_large(self.limits.max_body_bytes)
        return identity, claims


def _arguments(
    identity: Identity, claims: str, client_id: str, schema_version: int, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "user_id": identity.user_id,
        "claims": claims,
        "client_id": client_id,
        "schema_version": schema_version,
        **params,
    }


def error_response(error: SyncError | psycopg.Error | DBAPIError) -> Response | None:
    """The protocol's answer to a failed request; None for a bug, which the host re-raises (500)."""
    if isinstance(error, SyncError):
        return Response.of(error.status, error.body())
    # DBAPIError: the pool could not connect; psycopg's own: the request's statements.
    mapped = _database_error(error.orig if isinstance(error, DBAPIError) else error)
    return None if mapped is None else Response.of(mapped.status, mapped.body())


class SyncProcessor:
    """Serves push and pull for any host; the database decides which scope keys a user holds.

    It owns no connection: each request checks one out of `engine`'s pool
    for a single transaction, so hosts may call it from any thread. The
    engine must use psycopg (3): a request talks to its connection directly.
    An asyncio host saves a thread hop a request with `AsyncSyncProcessor`.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
            # Requests run on the pool's psycopg connections (one query each):
            # refuse here rather than fail every request with a 500.
            raise ValueError(
                "SyncProcessor needs a PostgreSQL engine on psycopg 3 (postgresql+psycopg://...), "
                f"not {engine.dialect.name}+{engine.dialect.driver}"
            )
        self.engine = engine
        self.limits = limits
        self._queries = ProtocolQueries(library_schema, limits)

    @classmethod
    def from_config(
        cls, engine: Engine, config: SyncConfig, limits: Limits = DEFAULT_LIMITS
    ) -> SyncProcessor:
        return cls(engine, library_schema=config.library_schema, limits=limits)

    def push(self, identity: Identity | None, body: bytes) -> Response:
        """Apply a push batch."""
        return self._serve(self._queries.push, identity, body)

    def pull(self, identity: Identity | None, body: bytes) -> Response:
        """Read changes."""
        return self._serve(self._queries.pull, identity, body)

    def ready(self) -> Response:
        """200 when a pooled connection answers a query, else the 503 a request would get."""
        return self._serve(lambda _identity, _body: READY, None, b"")

    def _serve(
        self, query: Callable[[Identity | None, bytes], Query], identity: Identity | None, body: bytes
    ) -> Response:
        try:
            return Response(200, self._run(query(identity, body)).encode())
        except (SyncError, psycopg.Error, DBAPIError) as error:
            response = error_response(error)
            if response is None:
                raise
            return response

    def _run(self, query: Query) -> str:
        """Run a request's query, which resolves the user's scope keys in its own transaction.

        BEGIN, the call and COMMIT go out as one simple query, the values
        quoted by psycopg (a `ClientCursor`): one round trip, where psycopg's
        implicit transaction takes three, and half the client CPU of the same
        three statements in psycopg's pipeline mode (an empty pull's whole
        cost is mostly round trips and driver overhead; measured in
        docs/performance.md, "Host concurrency"). The connection is the pool's
        psycopg connection itself, with SQLAlchemy's Connection and
        Transaction layers (a few hundred microseconds a request) left out.
        The function's JSON comes back as text and is passed on untouched:
        parsing and re-encoding a page of thousands of rows in Python would
        cost more than the database took to build it.
        """
        try:
            pooled = self.engine.raw_connection()
        except sqlalchemy.exc.TimeoutError as error:
            # Every pooled connection busy for the pool's timeout: transient, as the async pool's is.
            raise unavailable(str(error).partition("\n")[0]) from None
        try:
            connection = cast("psycopg.Connection[Any]", pooled.driver_connection)
            # The transaction is the query's explicit BEGIN ... COMMIT. The connection goes back as
            # it came: an engine made with isolation_level="AUTOCOMMIT" and shared with the
            # application keeps its connections in autocommit, and one left out of it would have
            # SQLAlchemy roll back the application's next write on it.
            was_autocommit = connection.autocommit
            connection.autocommit = True
            try:
                cursor = psycopg.ClientCursor(connection)
                cursor.execute(query.sql, query.params)
                cursor.nextset()  # from BEGIN's result to the call's
                row = cursor.fetchone()
            finally:
                if connection.broken or connection.closed:
                    pooled.invalidate()  # lost: the pool opens a new one in its place
                else:
                    connection.rollback()  # only after a failed statement: IDLE costs nothing
                    connection.autocommit = was_autocommit
        finally:
            pooled.close()
        assert row is not None
        return str(row[0])


def _protocol_call(function: str, arguments: str) -> str:
    """A call of a protocol function with the common leading arguments, its JSON as text."""
    return (
        f"SELECT CAST({function}(%(user_id)s, CAST(%(claims)s AS jsonb), %(client_id)s, "
        f"%(schema_version)s, {arguments}) AS text)"
    )


def _transaction(isolation: str, call: str) -> bytes:
    """The call in a transaction of its own, as one query of three statements."""
    return f"BEGIN ISOLATION LEVEL {isolation}; {call}; COMMIT".encode()


_FUNCTION_LINE = re.compile(r"PL/pgSQL function \S+\(.*\) line \d+ at [A-Za-z ]+$")


def unavailable(cause: str) -> SyncError:
    """503 `temporarily_unavailable`, its cause logged: a client retries it silently, so without a
    line an operator would not see statement timeouts, an exhausted pool or a restarting database."""
    log.warning("drizzlesync: answered 503, retry later: %s", cause)
    return temporarily_unavailable()


def _database_error(original: BaseException | None) -> SyncError | None:
    if not isinstance(original, psycopg.Error):
        return None
    state = original.sqlstate or ""
    if state.startswith("DZ") and state[2:].isdigit():
        detail = json.loads(original.diag.message_detail or "{}")
        code = detail.pop("code", "rejected")
        path = detail.pop("path", None)
        return SyncError(int(state[2:]), code, original.diag.message_primary or code, path, detail)
    # psycopg calls some permanent classes operational too (54, program limit
    # exceeded): only an error without a SQLSTATE (no server answer) is judged by its type.
    transient = is_transient(state) if state else isinstance(original, psycopg.OperationalError)
    if transient:
        # The primary message alone ("canceling statement due to statement timeout", "terminating
        # connection due to administrator command", the pool's timeout): a DETAIL may quote a row.
        cause = original.diag.message_primary if state else str(original).partition("\n")[0]
        return unavailable(f"{cause or type(original).__name__}{f' (SQLSTATE {state})' if state else ''}")
    if is_misconfiguration(state):
        # Not the request's fault, nor a passing one: the operator must hear of it, and the
        # client keeps its writes and retries until the database is put right.
        # What is missing (the primary message) and which functions ran into it (CONTEXT's
        # "PL/pgSQL function ... line N" lines); never the rest of the server's message, whose
        # QUERY and SQL lines carry the request's values as literals (a user's scope keys).
        where = [line for line in (original.diag.context or "").splitlines() if _FUNCTION_LINE.match(line)]
        log.error(
            "drizzlesync: the database does not match its sync setup: %s (SQLSTATE %s)%s",
            original.diag.message_primary or type(original).__name__,
            state,
            "".join(f"\n  in {line}" for line in where),
        )
        return server_misconfigured()
    return None
