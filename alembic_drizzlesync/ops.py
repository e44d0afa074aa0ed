"""Alembic operations that install DrizzleSync, switch capture on and off, and set the user scopes.

Each operation is reversible (`reverse()` feeds autogenerate's downgrade),
reports itself to `alembic check` through `to_diff_tuple()`, and executes
plain SQL without reading the database from Python, so `alembic upgrade
--sql` emits a script that psql applies as it is. Anything that depends on
the live catalog (a table's primary key, say) is looked up by the SQL
functions the install script created, at the time the migration runs.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from alembic.operations import MigrateOperation, Operations
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from .catalog.partitions import partition_guard
from .config import DEFAULT_LIBRARY_SCHEMA
from .quoting import literal
from .sql import (
    LIBRARY_VERSION,
    downgrade_script,
    install_script,
    uninstall_script,
    upgrade_script,
    user_scopes_script,
)

REFUSED = "DrizzleSync: "
"""How an operation's own SQL begins the message of an exception it raises to refuse a mistake."""


class OperationRefused(CommandError):
    """An operation's SQL refused a mistake in the revision: `alembic` prints its message as one
    line (`FAILED: ...`) instead of a database traceback around it."""


def _refusal(error: DBAPIError) -> str | None:
    """The message of an exception the operation's SQL raised to refuse a mistake, else None."""
    message = getattr(getattr(error.orig, "diag", None), "message_primary", None)
    return message if isinstance(message, str) and message.startswith(REFUSED) else None


def _execute(operations: Operations, statement: str) -> None:
    # text() would read ":word" in a literal as a bind parameter; escape colons.
    operations.execute(text(statement.replace(":", r"\:")))


class SyncOperation(MigrateOperation):
    """Common ground: `op.<op_name>(...)` constructs the operation with the same arguments."""

    op_name: ClassVar[str]

    def __init__(self, library_schema: str = DEFAULT_LIBRARY_SCHEMA) -> None:
        self.library_schema = library_schema

    @classmethod
    def invoke_op(cls, operations: Operations, *args: Any, **kwargs: Any) -> Any:
        return operations.invoke(cls(*args, **kwargs))

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return (self.op_name, *(value for name, value in vars(self).items() if name != "library_schema"))

    def statements(self) -> list[str]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


Op = TypeVar("Op", bound=type[SyncOperation])

OPERATIONS: list[type[SyncOperation]] = []
"""Every operation available as `op.<op_name>`, in the order they are defined."""


def _register(cls: Op) -> Op:
    """Make the class available as `op.<op_name>` and give it its implementation."""
    Operations.register_operation(cls.op_name, "invoke_op")(cls)
    OPERATIONS.append(cls)

    def run(operations: Operations, operation: SyncOperation) -> None:
        for statement in operation.statements():
            try:
                _execute(operations, statement)
            except DBAPIError as error:
                refused = _refusal(error)
                if refused is None:
                    raise
                raise OperationRefused(refused) from None

    Operations.implementation_for(cls)(run)
    return cls


class LibraryOperation(SyncOperation):
    def __init__(self, version: int = LIBRARY_VERSION, library_schema: str = DEFAULT_LIBRARY_SCHEMA):
        super().__init__(library_schema)
        self.version = version


@_register
class InstallOp(LibraryOperation):
    """Create the library schema with its tables and functions at `version`.

    The version is written into the revision, so that an old revision keeps
    installing what it installed when it was written.
    """

    op_name = "install_drizzlesync"

    def reverse(self) -> UninstallOp:
        return UninstallOp(self.version, self.library_schema)

    def statements(self) -> list[str]:
        return install_script(self.version, self.library_schema)


@_register
class UninstallOp(LibraryOperation):
    """Drop the library schema, whatever its version; synced tables must have been disabled before.

    `version` is what the reverse installs again.
    """

    op_name = "uninstall_drizzlesync"

    def reverse(self) -> InstallOp:
        return InstallOp(self.version, self.library_schema)

    def statements(self) -> list[str]:
        return uninstall_script(self.library_schema)


@_register
class UpgradeOp(SyncOperation):
    """Move the installed library objects one version up or down.

    A release that changes the SQL objects ships `sql/v<N>/upgrade.sql.j2`
    (from N-1) and `downgrade.sql.j2` (back to N-1); autogenerate emits this
    operation when the database is behind the installed package.
    """

    op_name = "upgrade_drizzlesync"

    def __init__(self, from_version: int, to_version: int, library_schema: str = DEFAULT_LIBRARY_SCHEMA):
        super().__init__(library_schema)
        if abs(to_version - from_version) != 1:
            raise ValueError("upgrade_drizzlesync moves one version at a time")
        self.from_version = from_version
        self.to_version = to_version

    def reverse(self) -> UpgradeOp:
        return UpgradeOp(self.to_version, self.from_version, self.library_schema)

    def statements(self) -> list[str]:
        if self.to_version > self.from_version:
            return upgrade_script(self.to_version, self.library_schema)
        return downgrade_script(self.from_version, self.library_schema)


@_register
class SetUserScopesOp(SyncOperation):
    """Make `user_scopes` from a `user_scopes_query` (None: no user holds any key).

    The query is written into the revision as configured, `old_query` (the
    one installed before) makes it reversible; both are compiled when the
    migration runs, into SQL that needs no database access to render.
    """

    op_name = "set_user_scopes"

    def __init__(
        self, query: str | None, old_query: str | None = None, library_schema: str = DEFAULT_LIBRARY_SCHEMA
    ) -> None:
        super().__init__(library_schema)
        self.query = query
        self.old_query = old_query

    def reverse(self) -> SetUserScopesOp:
        return SetUserScopesOp(self.old_query, self.query, self.library_schema)

    def statements(self) -> list[str]:
        return user_scopes_script(self.query, self.library_schema)


class TableOperation(SyncOperation):
    """An operation on one table, calling a function of the library schema."""

    function: ClassVar[str]

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

    def arguments(self) -> list[str | None]:
        return [self.schema or "public", self.table_name, self.scope]

    def statements(self) -> list[str]:
        arguments = ", ".join(literal(value) for value in self.arguments())
        return [f"SELECT {self.library_schema}.{self.function}({arguments})"]


@_register
class EnableSyncOp(TableOperation):
    """Register a table and create its capture triggers, optionally with a scope rule."""

    op_name = "enable_sync"
    function = "enable_sync"

    def statements(self) -> list[str]:
        """A partition is refused first: its rows are captured on its parent (`catalog.partitions`)."""
        return [partition_guard(self.schema or "public", self.table_name), *super().statements()]

    def reverse(self) -> DisableSyncOp:
        return DisableSyncOp(self.table_name, self.schema, self.scope, self.library_schema)


@_register
class DisableSyncOp(TableOperation):
    """Drop a table's capture; `scope` is kept so that the reverse can restore it."""

    op_name = "disable_sync"
    function = "disable_sync"

    def arguments(self) -> list[str | None]:
        return [self.schema or "public", self.table_name]

    def reverse(self) -> EnableSyncOp:
        return EnableSyncOp(self.table_name, self.schema, self.scope, self.library_schema)


@_register
class SetSyncScopeOp(TableOperation):
    """Replace the scope rule of a synced table (`old_scope` makes it reversible)."""

    op_name = "set_sync_scope"
    function = "set_sync_scope"

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

    def reverse(self) -> SetSyncScopeOp:
        return SetSyncScopeOp(self.table_name, self.schema, self.old_scope, self.scope, self.library_schema)


class SchemaVersionOperation(SyncOperation):
    def __init__(self, version: int, library_schema: str = DEFAULT_LIBRARY_SCHEMA) -> None:
        super().__init__(library_schema)
        self.version = version


@_register
class BumpSchemaVersionOp(SchemaVersionOperation):
    """Record a new client-visible schema version; clients migrate when it changes."""

    op_name = "bump_sync_schema_version"

    def reverse(self) -> RevertSchemaVersionOp:
        return RevertSchemaVersionOp(self.version, self.library_schema)

    def statements(self) -> list[str]:
        # The server's version is the highest recorded: a bump at or below it changed nothing
        # devices can see (two merged branches that bumped the same number failed on the second's
        # unique violation; one numbered below the other's was taken without a word, and devices at
        # the higher version never got its change). The check is SQL, so `--sql` scripts keep it.
        table = f"{self.library_schema}.schema_version"
        version = int(self.version)
        message = (
            f"{REFUSED}op.bump_sync_schema_version({version}) found the server at schema version % "
            "already: devices at % would never get this revision's change. A bump must go above the "
            "server's version (two merged branches that bumped the same number?): bump to % in the "
            "revision that runs later, and revert % in its downgrade"
        )
        return [
            "DO $drizzlesync$\n"
            "DECLARE server integer;\n"
            "BEGIN\n"
            f"    SELECT pg_catalog.max(version) INTO server FROM {table};\n"
            f"    IF server >= {version} THEN\n"
            f"        RAISE EXCEPTION {literal(message)}, server, server, server + 1, server + 1;\n"
            "    END IF;\n"
            f"    INSERT INTO {table} (version) VALUES ({version});\n"
            "END\n"
            "$drizzlesync$"
        ]


@_register
class RevertSchemaVersionOp(SchemaVersionOperation):
    """Forget a schema version again (the downgrade of a bump)."""

    op_name = "revert_sync_schema_version"

    def reverse(self) -> BumpSchemaVersionOp:
        return BumpSchemaVersionOp(self.version, self.library_schema)

    def statements(self) -> list[str]:
        return [f"DELETE FROM {self.library_schema}.schema_version WHERE version = {int(self.version)}"]


class SyncedTableCheck(TableOperation):
    """An operation that brings something of a synced table in line with the table as it is now.

    It takes no scope, and it is its own reverse: what it checks is right
    after it runs whichever way the migration goes.
    """

    def __init__(
        self, table_name: str, schema: str | None = None, library_schema: str = DEFAULT_LIBRARY_SCHEMA
    ) -> None:
        super().__init__(table_name, schema, None, library_schema)

    def arguments(self) -> list[str | None]:
        return [self.schema or "public", self.table_name]

    def reverse(self) -> SyncedTableCheck:
        return self


@_register
class CapturePartitionsOp(SyncedTableCheck):
    """Put the capture triggers on the partitions of a synced table that lack them (library version 5).

    `enable_sync` captures the partitions a table has; autogenerate emits this
    for partitions created or attached since. The triggers are right wherever
    the table is synced, and what ends that (`disable_sync`, the library's
    downgrade to version 4) removes them.
    """

    op_name = "capture_partitions"
    function = "capture_partitions"


@_register
class RefreshScopeIndexOp(SyncedTableCheck):
    """Give a synced table its scope index, or drop it, as its own indexes now decide (library version 13).

    A table whose own index on (scope column, primary key) serves its rule
    needs no scope index. Autogenerate writes this after each
    `op.create_index` and `op.drop_index` of a synced, scoped table, in the
    upgrade and in the downgrade; a table already as decided is left alone.
    """

    op_name = "refresh_sync_scope_index"
    function = "refresh_scope_index"
