"""Codegen after `alembic upgrade`/`downgrade`: the `on_version_apply` hook env.py gets.

Alembic calls the hook after each revision, inside the migration
transaction, and has no "after commit" hook. So the hook only notes that
something ran, and listens for the connection's `commit` event, which
SQLAlchemy fires just before it commits. The listener commits the
migration itself, then introspects on the same connection and writes the
files: they appear only once the migration is durable, once per commit
(one per command, unless `transaction_per_migration` is set), never after
a rollback, and never in `--sql` mode, which has no connection to read.
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
from ..config import SyncConfig
from ..localdb import libpq_url

log = logging.getLogger(__name__)

OnVersionApply = Callable[..., None]


def codegen_hook(config: SyncConfig) -> OnVersionApply:
    """An `on_version_apply` callback that regenerates `config.output` after the commit."""
    pending: weakref.WeakKeyDictionary[Connection, bool] = weakref.WeakKeyDictionary()

    def on_commit(conn: Connection) -> None:
        if pending.get(conn):
            pending[conn] = False
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            dbapi.commit()
            _regenerate(conn, dbapi, config)

    def on_rollback(conn: Connection) -> None:
        pending[conn] = False

    def on_version_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        connection = ctx.connection
        if ctx.as_sql or config.output is None or connection is None:
            return
        if connection not in pending:
            event.listen(connection, "commit", on_commit)
            event.listen(connection, "rollback", on_rollback)
        pending[connection] = True

    return on_version_apply


class CodegenError(RuntimeError):
    """Generation failed after the migration committed; the database is migrated, the files are not."""


def _regenerate(conn: Connection, dbapi: Any, config: SyncConfig) -> None:
    assert config.output is not None
    options = Options.from_config(config, sync_unregistered=False)
    try:
        if isinstance(dbapi, psycopg.Connection):
            files = generate(dbapi, config.output, options)
        else:  # another driver: read through a connection of our own, now that the migration is committed
            with psycopg.connect(libpq_url(conn.engine.url)) as own:
                files = generate(own, config.output, options)
        changed = write_files(config.output, files)
    except Exception as exc:
        raise CodegenError(
            f"the migration was committed, but writing {config.output} failed: {exc}; "
            "fix the cause and run `drizzlesync generate`"
        ) from exc
    log.info("%d generated files changed in %s", len(changed), config.output)


def chain(first: OnVersionApply, user: Any) -> tuple[OnVersionApply, ...]:
    """Our hook first, then whatever the user passed (one callable or several)."""
    if user is None:
        return (first,)
    return (first, *(user if isinstance(user, list | tuple) else (user,)))
