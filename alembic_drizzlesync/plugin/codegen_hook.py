"""Codegen after `alembic upgrade`/`downgrade`: the `on_version_apply` hook env.py gets.

Alembic calls the hook after each revision, inside the migration
transaction, and has no "after commit" hook. So the hook only notes that
something ran, and listens for the connection's `commit` event, which
SQLAlchemy fires just before it commits. The listener commits the
migration itself, then introspects on the same connection and writes the
files: they appear only once the migration is durable, once per commit
(one per command, unless `transaction_per_migration` is set), never after
a rollback, and never in `--sql` mode, which has no connection to read.

The one line saying what was written goes where `alembic` prints its own
output (`Config.print_stdout`, silenced by `alembic -q`): Alembic's default
logging configuration shows INFO only for its own loggers.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Connection

from ..codegen.generate import Options, generate
from ..codegen.output import write_files
from ..config import ConfigError, SyncConfig
from ..localdb import libpq_url
from .errors import AlembicConfigError
from .renames import RenameWatch

log = logging.getLogger(__name__)

OnVersionApply = Callable[..., None]
Report = Callable[[str], None]


def codegen_hook(config: SyncConfig, watch: RenameWatch | None = None) -> OnVersionApply:
    """An `on_version_apply` callback that regenerates `config.output` after the commit, telling
    the generation which tables and columns `watch` saw renamed."""
    pending: weakref.WeakKeyDictionary[Connection, Report | None] = weakref.WeakKeyDictionary()
    """Per connection, how to report the generation its next commit owes (None: nothing owed)."""

    def on_commit(conn: Connection) -> None:
        report = pending.get(conn)
        if report is not None:
            pending[conn] = None
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            dbapi.commit()
            _regenerate(conn, dbapi, config, report, watch)

    def on_rollback(conn: Connection) -> None:
        pending[conn] = None

    def on_version_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        connection = ctx.connection
        if ctx.as_sql or config.output is None or connection is None:
            return
        if connection not in pending:
            event.listen(connection, "commit", on_commit)
            event.listen(connection, "rollback", on_rollback)
        pending[connection] = _reporter(ctx)

    return on_version_apply


class CodegenError(RuntimeError):
    """Generation failed after the migration committed; the database is migrated, the files are not."""


class CodegenConfigError(CodegenError, AlembicConfigError):
    """Generation stopped by the configuration: `alembic` says so in one line, like any config error."""


def _reporter(ctx: Any) -> Report:
    """Alembic's own output for an `alembic` command; the log for a migration context made by hand."""
    environment = ctx.environment_context
    if environment is not None:
        return environment.config.print_stdout  # type: ignore[no-any-return]
    return log.info


def _regenerate(
    conn: Connection, dbapi: Any, config: SyncConfig, report: Report, watch: RenameWatch | None
) -> None:
    assert config.output is not None
    options = Options.from_config(
        config,
        sync_unregistered=False,
        renamed_columns=watch.renamed() if watch is not None else {},
        renamed_tables=watch.renamed_tables() if watch is not None else {},
        renames_started=watch.started() if watch is not None else {},
    )
    try:
        if isinstance(dbapi, psycopg.Connection):
            files = generate(dbapi, config.output, options)
        else:  # another driver: read through a connection of our own, now that the migration is committed
            with psycopg.connect(libpq_url(conn.engine.url)) as own:
                files = generate(own, config.output, options)
        changed = write_files(config.output, files)
        if watch is not None:
            watch.generated()
    except Exception as exc:
        error = CodegenConfigError if isinstance(exc, ConfigError) else CodegenError
        raise error(
            f"DrizzleSync: the migration was committed, but writing {config.output} failed: {exc}. "
            "Fix the cause and run `drizzlesync generate`."
        ) from exc
    report(f"DrizzleSync: {len(changed)} generated files changed in {config.output}")


def chain(first: OnVersionApply, user: Any) -> tuple[OnVersionApply, ...]:
    """Our hook first, then whatever the user passed (one callable or several)."""
    if user is None:
        return (first,)
    return (first, *(user if isinstance(user, list | tuple) else (user,)))
