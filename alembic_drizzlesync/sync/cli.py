"""`drizzlesync serve` (the sync endpoints) and `drizzlesync compact`.

`serve` checks everything it can before it listens, so that a mistake is a
message at start and not a 503 on every request: the configuration, the
authentication (JWT from `[tool.drizzlesync.auth]` or flags; `--dev` trusts
`Bearer <user id>` and only on a loopback address), the database and its
DrizzleSync registry. It prints what it serves and warns about every table
without a scope rule, since every signed-in user may read and write those.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import create_engine, text

from ..catalog import SyncedTable
from ..catalog.registry import Registry, collation_warnings, probe_scope_rules, psycopg_fetch, read_registry
from ..commandline import add_project_options, database_url, project_config, required_project_config
from ..config import AuthConfig, ConfigError, SyncConfig, qualified_name
from ..localdb import libpq_url, sqlalchemy_url
from .protocol import DEFAULT_LIMITS

# `serve`'s pool: connections at most (--pool-size's default), opened at
# startup, and how long a request waits for one. Ten, as PostgREST's default:
# a request waits for a connection in the event loop at little cost, while
# more backends than the server has cores only take turns on them. Under 50
# clients a pool of 40 served no more pulls than ten, at twice the p99 once
# pushes mixed in; and four workers of 40 would pass many servers'
# max_connections (docs/performance.md, "The pool's size").
POOL_SIZE = 10
POOL_MIN_SIZE = 4
POOL_TIMEOUT_SECONDS = 10.0

if TYPE_CHECKING:  # the server extra's modules load only when `serve` runs
    from starlette.types import ASGIApp

    from .asgi import Authenticate

DEFAULT_RETENTION = "30 days"
# `serve --workers N` hands its parsed arguments to the worker processes here.
WORKER_ARGS_ENV = "DRIZZLESYNC_SERVE_ARGS"
DEV_WARNING = (
    "WARNING: --dev trusts 'Authorization: Bearer <user id>' as is: anyone who can reach "
    "{url} can act as any user. For local development only; never expose it."
)


# For a load balancer's or orchestrator's probe: no identity, one query on a pooled connection.
HEALTH_PATH = "/health"


def add_commands(subparsers: Any) -> None:
    """Add this module's subcommands to the `drizzlesync` parser."""
    serve = subparsers.add_parser(
        "serve",
        help="serve /push and /pull, with JWT auth ([tool.drizzlesync.auth] or flags) or --dev",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_project_options(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="an origin allowed to call the endpoints (repeatable)",
    )
    serve.add_argument("--max-body-bytes", type=positive_int, default=DEFAULT_LIMITS.max_body_bytes)
    serve.add_argument(
        "--pool-size",
        type=int,
        default=POOL_SIZE,
        help="Postgres connections at most, one per request in flight; more wait (default: %(default)s)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the port (default: 1); each keeps its own pool of --pool-size",
    )
    auth = serve.add_argument_group("authentication (flags override [tool.drizzlesync.auth])")
    auth.add_argument(
        "--dev",
        action="store_true",
        help="trust 'Authorization: Bearer <user id>' as is: local development, loopback hosts only",
    )
    auth.add_argument(
        "--jwt-secret-env", metavar="NAME", help="HS256: the environment variable holding the secret"
    )
    auth.add_argument("--jwks-url", metavar="URL", help="RS256/ES256: the identity provider's JWKS")
    auth.add_argument("--jwt-issuer", metavar="ISS", help="the iss tokens must carry")
    auth.add_argument(
        "--jwt-audience",
        metavar="AUD",
        action="append",
        default=[],
        help="an aud tokens may carry (repeatable)",
    )
    auth.add_argument("--jwt-leeway", metavar="SECONDS", type=float, help="allowed clock skew (default: 30)")
    serve.set_defaults(handler=serve_command)

    compact = subparsers.add_parser(
        "compact",
        help="delete change-log entries every live cursor has passed; safe while clients sync",
    )
    add_project_options(compact)
    compact.add_argument(
        "--retention",
        default=DEFAULT_RETENTION,
        help=f"forget cursors unused for this long, resetting their clients (default: {DEFAULT_RETENTION})",
    )
    compact.add_argument("--batch-size", type=positive_int, default=50_000)
    compact.set_defaults(handler=compact_command)


def positive_int(text: str) -> int:
    """An argument that must be at least 1: 0 or less would make every request 413 (`--max-body-bytes`)
    or fail inside the database (`--batch-size`, a LIMIT)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _engine_url(args: argparse.Namespace) -> str:
    return str(sqlalchemy_url(database_url(args)).render_as_string(hide_password=False))


def _auth_config(args: argparse.Namespace, config: SyncConfig) -> AuthConfig | None:
    """The file's `[tool.drizzlesync.auth]` with the flags applied; None for `--dev`."""
    key_flags = args.jwt_secret_env is not None or args.jwks_url is not None
    claim_flags = args.jwt_issuer is not None or args.jwt_audience or args.jwt_leeway is not None
    if args.dev:
        if key_flags or claim_flags:
            raise ConfigError(
                "--dev: trusts 'Bearer <user id>' and takes no JWT flags; drop one or the other"
            )
        return None
    auth = config.auth
    if key_flags:
        # A new key source; the file's algorithms belonged to the old one, its iss/aud/leeway still hold.
        source = {"secret_env": args.jwt_secret_env, "jwks_url": args.jwks_url, "algorithms": ()}
        auth = replace(auth, **source) if auth else AuthConfig(**source)
    if auth is None:
        raise ConfigError(
            "no authentication configured: add [tool.drizzlesync.auth] (secret_env or jwks_url), "
            "pass --jwt-secret-env or --jwks-url, or --dev for local development"
        )
    overrides: dict[str, Any] = {}
    if args.jwt_issuer is not None:
        overrides["issuer"] = args.jwt_issuer
    if args.jwt_audience:
        overrides["audience"] = tuple(args.jwt_audience)
    if args.jwt_leeway is not None:
        overrides["leeway_seconds"] = args.jwt_leeway
    return replace(auth, **overrides)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _registry(conn: psycopg.Connection[Any], library_schema: str) -> Registry:
    """The registry; SystemExit when DrizzleSync is not installed there."""
    found = read_registry(psycopg_fetch(conn), library_schema)
    if found is None:
        raise SystemExit(
            "drizzlesync serve: DrizzleSync is not installed in this database "
            f"(no {library_schema}.synced_table); run `alembic upgrade head` first"
        )
    return found


# How many more connections this session's role may open: the server's
# max_connections, less the slots reserved for superusers (and, from
# Postgres 16, for roles granted pg_use_reserved_connections), the role's
# and the database's CONNECTION LIMIT, each less the client sessions that
# count against it now; a superuser is held to max_connections alone. This
# session is left out: it closes before serve listens. A role without
# pg_read_all_stats sees no other role's sessions as client backends, so
# against the server's limit it counts only its own.
CONNECTION_ROOM = """
SELECT CASE WHEN r.rolsuper
    THEN current_setting('max_connections')::int - count(a.pid)
    ELSE least(
        current_setting('max_connections')::int
            - current_setting('superuser_reserved_connections')::int
            - coalesce(current_setting('reserved_connections', true)::int, 0)
            - count(a.pid),
        CASE WHEN r.rolconnlimit >= 0
            THEN r.rolconnlimit - count(a.pid) FILTER (WHERE a.usesysid = r.oid) END,
        CASE WHEN d.datconnlimit >= 0
            THEN d.datconnlimit - count(a.pid) FILTER (WHERE a.datid = d.oid) END
    )
END
FROM pg_roles AS r
CROSS JOIN pg_database AS d
LEFT JOIN pg_stat_activity AS a ON a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
WHERE r.rolname = current_user AND d.datname = current_database()
GROUP BY r.rolsuper, r.rolconnlimit, r.oid, d.datconnlimit, d.oid
"""


def _connection_room(conn: psycopg.Connection[Any]) -> int:
    """How many more connections this role may open on the server (CONNECTION_ROOM)."""
    row = conn.execute(CONNECTION_ROOM).fetchone()
    assert row is not None  # the session's own role and database
    return int(row[0])


def _pool_warning(workers: int, pool_size: int, room: int) -> str | None:
    """A warning when the pools may open more connections than the server has room for:
    requests that wait for the others are answered 503 after POOL_TIMEOUT_SECONDS."""
    wanted = workers * pool_size
    if wanted <= room:
        return None
    pools = f"{workers} pools of {pool_size}" if workers > 1 else f"a pool of {pool_size}"
    return (
        f"WARNING: serve may open {wanted} Postgres connections ({pools}), but the server has "
        f"room for {max(room, 0)} more for this role now: requests that wait for the others are "
        "answered 503; lower --pool-size or --workers, or raise max_connections"
    )


def _summary(
    address: str, auth_mode: str, config: SyncConfig, tables: Sequence[SyncedTable], version: int
) -> tuple[list[str], list[str]]:
    """What `serve` prints at start (lines for stdout) and the warnings it shouts (for stderr)."""
    lines = [
        f"drizzlesync serve: {address}/push and {address}/pull, schema version {version}",
        f"  auth: {auth_mode}",
        f"  scope keys: {config.user_scopes_query}"
        if config.user_scopes_query
        else "  scope keys: none (no user_scopes_query): scoped tables stay private",
        f"  tables ({len(tables)}):",
    ]
    warnings = []
    for table in tables:
        name = qualified_name(table.schema, table.name)
        lines.append(f"    {name}: {f'scope {table.scope}' if table.scope else 'UNSCOPED'}")
        if not table.scope:
            warnings.append(
                f"WARNING: {name} has no scope rule: every signed-in user can read and write all of its rows"
            )
    if not tables:
        warnings.append("WARNING: no table is synced yet: enable sync in a migration (op.enable_sync)")
    return lines, warnings


def _collation_warnings(
    conn: psycopg.Connection[Any], library_schema: str, tables: Sequence[SyncedTable]
) -> list[str]:
    """The scope rules whose collation lets a paged bootstrap skip scopes; a check that cannot run
    (a rule that no longer reads, a role that may not read a table) is said, and the host serves."""
    fetch = psycopg_fetch(conn)
    try:
        with conn.transaction():
            return collation_warnings(fetch, library_schema, tables, probe_scope_rules(fetch, tables))
    except psycopg.Error as error:
        return [f"cannot check the scope rules: {error.diag.message_primary or error}"]


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {args.workers}")
    if args.pool_size < 1:
        raise ConfigError(f"--pool-size: expected at least 1, got {args.pool_size}")
    config = required_project_config(args)
    from .asgi import check_origin

    for origin in args.cors_origin:  # here, not in each worker process, so that serve exits 2
        check_origin(origin)
    authenticate, auth_mode, dev = _authentication(args, config)
    address = f"http://{args.host}:{args.port}"
    with psycopg.connect(libpq_url(_engine_url(args)), connect_timeout=10) as conn:
        registry = _registry(conn, config.library_schema)
        room = _connection_room(conn)
        collations = _collation_warnings(conn, config.library_schema, registry.tables)
    tables, version = registry.tables, registry.schema_version
    lines, warnings = _summary(address, auth_mode, config, tables, version)
    warnings += [f"WARNING: {warning}" for warning in collations]
    pool_warning = _pool_warning(args.workers, args.pool_size, room)
    if pool_warning:
        warnings.append(pool_warning)
    if dev:
        warnings.insert(0, DEV_WARNING.format(url=address))
    if args.workers > 1:
        lines.append(f"  workers: {args.workers}, each with a pool of {args.pool_size} connections")
    else:
        lines.append(f"  pool: at most {args.pool_size} Postgres connections (--pool-size)")
    lines.append(f"  readiness: GET {address}{HEALTH_PATH} (200, or 503 while the database does not answer)")
    print("\n".join(lines), flush=True)
    for warning in warnings:
        print(warning, file=sys.stderr, flush=True)
    # No access log: a formatted line on every poll is host CPU spent on what
    # a proxy in front logs anyway; and no proxy-header rewriting of the
    # client's address, which nothing here reads.
    served = {"host": args.host, "port": args.port, "access_log": False, "proxy_headers": False}
    if args.workers == 1:
        uvicorn.run(_app(args, config, authenticate), **served)
        return 0
    # Uvicorn's workers each import the app: they rebuild it from these arguments.
    os.environ[WORKER_ARGS_ENV] = json.dumps(
        {name: value for name, value in vars(args).items() if name != "handler"}, default=str
    )
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        workers=args.workers,
        **served,
    )
    return 0


def worker_app() -> ASGIApp:
    """The app of one `serve --workers N` process, from the arguments its parent checked."""
    args = argparse.Namespace(**json.loads(os.environ[WORKER_ARGS_ENV]))
    if args.pyproject is not None:
        args.pyproject = Path(args.pyproject)
    config = required_project_config(args)
    authenticate, _, _ = _authentication(args, config)
    return _app(args, config, authenticate)


def _authentication(args: argparse.Namespace, config: SyncConfig) -> tuple[Authenticate, str, bool]:
    """How requests are authenticated, how `serve` describes it, and whether it is `--dev`."""
    from .asgi import bearer_user_for_development
    from .tokens import JWTAuthenticator

    auth = _auth_config(args, config)
    if auth is None:
        if not _is_loopback(args.host):
            raise ConfigError(
                f"--dev: refused on --host {args.host}: it trusts any 'Bearer <user id>'; "
                "serve on 127.0.0.1, or configure JWT auth"
            )
        return bearer_user_for_development, "DEVELOPMENT: trusts 'Bearer <user id>'", True
    jwt_auth = JWTAuthenticator.from_config(auth)
    return jwt_auth, jwt_auth.mode, False


def _app(args: argparse.Namespace, config: SyncConfig, authenticate: Authenticate) -> ASGIApp:
    from psycopg_pool import AsyncConnectionPool

    from .asgi import create_app, pool_lifespan
    from .async_processor import AsyncSyncProcessor
    from .protocol import Limits

    # Requests run in the event loop on psycopg's async connections: a
    # thread-pool hop cost as much host CPU as the rest of an empty pull.
    # The pool opens connections as requests wait for them, up to
    # --pool-size, and keeps them (a new backend plans the protocol functions
    # afresh); more requests than that wait for one, a request that waits
    # POOL_TIMEOUT_SECONDS is answered 503 and retried by the client. No
    # check before use: a connection lost since its last use fails its
    # request with 503 too, and the pool opens a new one in its place.
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        libpq_url(database_url(args)),
        min_size=min(POOL_MIN_SIZE, args.pool_size),
        max_size=args.pool_size,
        timeout=POOL_TIMEOUT_SECONDS,
        # Each request's query is its own BEGIN ... COMMIT, its values quoted
        # in: nothing to prepare, so no prepared-statement bookkeeping either.
        kwargs={"autocommit": True, "prepare_threshold": None},
        open=False,
    )
    processor = AsyncSyncProcessor.from_config(pool, config, Limits(max_body_bytes=args.max_body_bytes))
    return create_app(
        processor,
        authenticate,
        cors_origins=args.cors_origin,
        lifespan=pool_lifespan(pool),
        health_path=HEALTH_PATH,
    )


def compact_command(args: argparse.Namespace) -> int:
    """Compact in batches, each its own short transaction, until nothing is left to delete."""
    schema = (project_config(args) or SyncConfig()).library_schema
    engine = create_engine(_engine_url(args))
    expired = deleted = 0
    try:
        while True:
            with engine.begin() as connection:
                row = connection.execute(
                    text(f"SELECT * FROM {schema}.compact(CAST(:retention AS interval), :batch)"),
                    {"retention": args.retention, "batch": args.batch_size},
                ).one()
            expired += row.expired_cursors
            deleted += row.deleted_changes
            if row.deleted_changes < args.batch_size:
                break
    finally:
        engine.dispose()
    print(f"compacted: {deleted} change-log entries deleted, {expired} expired cursors forgotten")
    return 0
