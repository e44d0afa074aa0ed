"""A migration that changes a synced table behind the registry's back fails, rolled back.

The registry keys a synced table by its name and records its primary key.
Renaming or dropping the table, or changing its key, without `disable_sync`
first left the database in a state the protocol cannot serve: every push
and pull failing with a 500 (the pull functions read every synced table,
so one table gone stops the sync of all), or every client write to the
table refused `invalid_key`. So did renaming or dropping a column its scope
rule reads without `set_sync_scope` (every write of the table failing in
its capture). A capture trigger dropped or disabled (a comparator that did
not know it proposed dropping it) failed nothing at all: the table's
writes just never reached a device. Alembic calls `on_version_apply` after each
revision inside the migration's transaction, so raising there rolls the
revision back and `alembic` prints the one line that says what to do.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError

from ..catalog.registry import (
    collation_warnings,
    probe_scope_rules,
    read_registry,
    registry_drift,
    sqlalchemy_fetch,
    uncaptured_tables,
)
from ..config import SyncConfig
from .codegen_hook import OnVersionApply
from .errors import AlembicConfigError

log = logging.getLogger(__name__)


class RegistryDriftError(AlembicConfigError):
    """A revision left a synced table the registry no longer describes."""


def drift_check(config: SyncConfig) -> OnVersionApply:
    """An `on_version_apply` callback that refuses a revision leaving the registry stale, and warns
    once a command of each scope rule whose collation lets a paged bootstrap skip scopes."""
    warned: set[str] = set()

    def on_version_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        connection = ctx.connection
        if ctx.as_sql or connection is None:
            return
        fetch = sqlalchemy_fetch(connection)
        undone = "" if step.is_upgrade else "the downgrade of "
        revision = f"{undone}revision {step.up_revision_id}"
        problems = registry_drift(fetch, config.library_schema)
        if problems:
            raise RegistryDriftError(
                f"DrizzleSync: {revision} left {'; '.join(problems)}. Disable sync before renaming or "
                "dropping a synced table or changing its primary key, and enable it after, in the same "
                'revision: op.disable_sync("old"); op.rename_table("old", "new"); '
                'op.enable_sync("new", scope="...")'
            )
        uncaptured = uncaptured_tables(fetch, config.library_schema)
        if uncaptured:
            raise RegistryDriftError(
                f"DrizzleSync: {revision} left synced tables without their capture triggers, so their "
                f"writes would reach no device: {'; '.join(uncaptured)}. Leave the drizzlesync_capture_* "
                "triggers alone (another autogenerate comparator proposing to drop them: hide them "
                "from it); to capture a table afresh, op.disable_sync it and op.enable_sync it again"
            )
        registry = read_registry(fetch, config.library_schema)
        tables = registry.tables if registry is not None else ()
        try:
            collations = probe_scope_rules(fetch, tables)
        except DBAPIError as error:
            raise RegistryDriftError(
                f"DrizzleSync: {revision} left a scope rule that no longer reads: {_primary_message(error)}. "
                'Change the rule in the same revision: op.set_sync_scope("table", scope="...")'
            ) from None
        for warning in collation_warnings(fetch, config.library_schema, tables, collations):
            if warning not in warned:
                warned.add(warning)
                log.warning("DrizzleSync: %s", warning)

    return on_version_apply


def _primary_message(error: DBAPIError) -> str:
    """The database's own message (`column "team_id" does not exist`)."""
    diag = getattr(error.orig, "diag", None)
    return str(getattr(diag, "message_primary", None) or error.orig)
