"""Alembic operations that install DrizzleSync and switch capture on and off.

Each operation is reversible (`reverse()` feeds autogenerate's downgrade),
reports itself to `alembic check` through `to_diff_tuple()`, and executes
plain SQL without reading the database from Python, so `alembic upgrade
--sql` emits a script that psql applies as it is. Anything that depends on
the live catalog (a table's primary key, say) is looked up by the SQL
functions the install script created, at the time the migration runs.
"""

from __future__ import annotations

from typing import Any

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import text

from .sqlscripts import LIBRARY_VERSION, library_script

DEFAULT_LIBRARY_SCHEMA = "drizzlesync"


def sql_literal(value: str | None) -> str:
    """A SQL string literal (or NULL); our scripts are spliced text, not bound parameters."""
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


def _execute(operations: Operations, statement: str) -> None:
    # text() would read ":word" in a literal as a bind parameter; escape colons.
    operations.execute(text(statement.replace(":", r"\:")))


def _table_args(schema: str | None, table_name: str) -> str:
    return f"{sql_literal(schema or 'public')}, {sql_literal(table_name)}"


class SyncOperation(MigrateOperation):
    """Common ground: the library schema every operation addresses."""

    def __init__(self, library_schema: str = DEFAULT_LIBRARY_SCHEMA) -> None:
        self.library_schema = library_schema

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *sorted(map(repr, vars(self).items()))))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


@Operations.register_operation("install_drizzlesync")
class InstallOp(SyncOperation):
    """Create the library schema with its tables and functions at `version`."""

    def __init__(self, version: int = LIBRARY_VERSION, library_schema: str = DEFAULT_LIBRARY_SCHEMA):
        super().__init__(library_schema)
        self.version = version

    @classmethod
    def install_drizzlesync(
        cls,
        operations: Operations,
        version: int = LIBRARY_VERSION,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> Any:
        return operations.invoke(cls(version, library_schema))

    def reverse(self) -> UninstallOp:
        return UninstallOp(self.version, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("install_drizzlesync", self.library_schema, self.version)


@Operations.register_operation("uninstall_drizzlesync")
class UninstallOp(SyncOperation):
    """Drop the library schema; synced tables must have been disabled before."""

    def __init__(self, version: int = LIBRARY_VERSION, library_schema: str = DEFAULT_LIBRARY_SCHEMA):
        super().__init__(library_schema)
        self.version = version

    @classmethod
    def uninstall_drizzlesync(
        cls,
        operations: Operations,
        version: int = LIBRARY_VERSION,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> Any:
        return operations.invoke(cls(version, library_schema))

    def reverse(self) -> InstallOp:
        return InstallOp(self.version, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("uninstall_drizzlesync", self.library_schema, self.version)


@Operations.register_operation("upgrade_drizzlesync")
class UpgradeOp(SyncOperation):
    """Move the installed library objects from one version to the next.

    A release that changes the SQL objects ships `sql/v<N>/upgrade.sql.j2`
    (from N-1) and `downgrade.sql.j2` (back to N-1); autogenerate emits this
    operation when the database is behind the installed package.
    """

    def __init__(self, from_version: int, to_version: int, library_schema: str = DEFAULT_LIBRARY_SCHEMA):
        super().__init__(library_schema)
        if abs(to_version - from_version) != 1:
            raise ValueError("upgrade_drizzlesync moves one version at a time")
        self.from_version = from_version
        self.to_version = to_version

    @classmethod
    def upgrade_drizzlesync(
        cls,
        operations: Operations,
        from_version: int,
        to_version: int,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> Any:
        return operations.invoke(cls(from_version, to_version, library_schema))

    def reverse(self) -> UpgradeOp:
        return UpgradeOp(self.to_version, self.from_version, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("upgrade_drizzlesync", self.library_schema, self.from_version, self.to_version)


class TableOperation(SyncOperation):
    def __init__(
        self,
        table_name: str,
        schema: str | None = None,
        scope: str | None = None,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> None:
        super().__init__(library_schema)
        self.table_name = table_name
        self.schema = schema
        self.scope = scope


@Operations.register_operation("enable_sync")
class EnableSyncOp(TableOperation):
    """Register a table and create its capture triggers, optionally with a scope rule."""

    @classmethod
    def enable_sync(
        cls,
        operations: Operations,
        table_name: str,
        schema: str | None = None,
        scope: str | None = None,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> Any:
        return operations.invoke(cls(table_name, schema, scope, library_schema))

    def reverse(self) -> DisableSyncOp:
        return DisableSyncOp(self.table_name, self.schema, self.scope, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("enable_sync", self.schema, self.table_name, self.scope)


@Operations.register_operation("disable_sync")
class DisableSyncOp(TableOperation):
    """Drop a table's capture triggers; `scope` is kept so that the reverse can restore it."""

    @classmethod
    def disable_sync(
        cls,
        operations: Operations,
        table_name: str,
        schema: str | None = None,
        scope: str | None = None,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> Any:
        return operations.invoke(cls(table_name, schema, scope, library_schema))

    def reverse(self) -> EnableSyncOp:
        return EnableSyncOp(self.table_name, self.schema, self.scope, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("disable_sync", self.schema, self.table_name)


@Operations.register_operation("set_sync_scope")
class SetSyncScopeOp(TableOperation):
    """Replace the scope rule of a synced table (`old_scope` makes it reversible)."""

    def __init__(
        self,
        table_name: str,
        schema: str | None = None,
        scope: str | None = None,
        old_scope: str | None = None,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> None:
        super().__init__(table_name, schema, scope, library_schema)
        self.old_scope = old_scope

    @classmethod
    def set_sync_scope(
        cls,
        operations: Operations,
        table_name: str,
        schema: str | None = None,
        scope: str | None = None,
        old_scope: str | None = None,
        library_schema: str = DEFAULT_LIBRARY_SCHEMA,
    ) -> Any:
        return operations.invoke(cls(table_name, schema, scope, old_scope, library_schema))

    def reverse(self) -> SetSyncScopeOp:
        return SetSyncScopeOp(self.table_name, self.schema, self.old_scope, self.scope, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("set_sync_scope", self.schema, self.table_name, self.old_scope, self.scope)


class SchemaVersionOp(SyncOperation):
    def __init__(self, version: int, library_schema: str = DEFAULT_LIBRARY_SCHEMA) -> None:
        super().__init__(library_schema)
        self.version = version


@Operations.register_operation("bump_sync_schema_version")
class BumpSchemaVersionOp(SchemaVersionOp):
    """Record a new client-visible schema version; clients migrate when it changes."""

    @classmethod
    def bump_sync_schema_version(
        cls, operations: Operations, version: int, library_schema: str = DEFAULT_LIBRARY_SCHEMA
    ) -> Any:
        return operations.invoke(cls(version, library_schema))

    def reverse(self) -> RevertSchemaVersionOp:
        return RevertSchemaVersionOp(self.version, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("bump_sync_schema_version", self.version)


@Operations.register_operation("revert_sync_schema_version")
class RevertSchemaVersionOp(SchemaVersionOp):
    """Forget a schema version again (the downgrade of a bump)."""

    @classmethod
    def revert_sync_schema_version(
        cls, operations: Operations, version: int, library_schema: str = DEFAULT_LIBRARY_SCHEMA
    ) -> Any:
        return operations.invoke(cls(version, library_schema))

    def reverse(self) -> BumpSchemaVersionOp:
        return BumpSchemaVersionOp(self.version, self.library_schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("revert_sync_schema_version", self.version)


@Operations.implementation_for(InstallOp)
def _install(operations: Operations, op: InstallOp) -> None:
    for statement in library_script("install", op.version, op.library_schema):
        _execute(operations, statement)


@Operations.implementation_for(UninstallOp)
def _uninstall(operations: Operations, op: UninstallOp) -> None:
    for statement in library_script("uninstall", op.version, op.library_schema):
        _execute(operations, statement)


@Operations.implementation_for(UpgradeOp)
def _upgrade(operations: Operations, op: UpgradeOp) -> None:
    if op.to_version > op.from_version:
        statements = library_script("upgrade", op.to_version, op.library_schema)
    else:
        statements = library_script("downgrade", op.from_version, op.library_schema)
    for statement in statements:
        _execute(operations, statement)


@Operations.implementation_for(EnableSyncOp)
def _enable(operations: Operations, op: EnableSyncOp) -> None:
    _execute(
        operations,
        f"SELECT {op.library_schema}.enable_sync({_table_args(op.schema, op.table_name)}, "
        f"{sql_literal(op.scope)})",
    )


@Operations.implementation_for(DisableSyncOp)
def _disable(operations: Operations, op: DisableSyncOp) -> None:
    _execute(
        operations,
        f"SELECT {op.library_schema}.disable_sync({_table_args(op.schema, op.table_name)})",
    )


@Operations.implementation_for(SetSyncScopeOp)
def _set_scope(operations: Operations, op: SetSyncScopeOp) -> None:
    _execute(
        operations,
        f"SELECT {op.library_schema}.set_sync_scope({_table_args(op.schema, op.table_name)}, "
        f"{sql_literal(op.scope)})",
    )


@Operations.implementation_for(BumpSchemaVersionOp)
def _bump(operations: Operations, op: BumpSchemaVersionOp) -> None:
    _execute(
        operations,
        f"INSERT INTO {op.library_schema}.schema_version (version) VALUES ({int(op.version)})",
    )


@Operations.implementation_for(RevertSchemaVersionOp)
def _revert_bump(operations: Operations, op: RevertSchemaVersionOp) -> None:
    _execute(
        operations,
        f"DELETE FROM {op.library_schema}.schema_version WHERE version = {int(op.version)}",
    )
