"""The autogenerate comparator: emits our operations next to the table DDL.

It runs at the lowest priority of the "schema" comparison, after Alembic's
own comparators have put `CreateTableOp`/`DropTableOp`/`ModifyTableOps`
into the script, so that it can place each operation where it must go:
capture is enabled right after the table is created and disabled right
before it is dropped, and autogenerate's reversal of the list gives a
downgrade in the mirrored order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation
from alembic.operations import ops as alembic_ops
from alembic.util import PriorityDispatchResult

from .. import ops
from ..catalog.partitions import PARTITIONS_CAPTURED_FROM, read_partitions, read_uncaptured
from ..catalog.registry import Registry, read_registry, sqlalchemy_fetch
from ..codegen.client_migrations.history import highest_version
from ..codegen.generate import HISTORY
from ..config import ConfigError, SyncConfig
from ..sql import LIBRARY_VERSION
from ..sql.user_scopes import compile_query
from .index_changes import wrap_index_changes
from .state import TableKey, desired_tables

CONFIG_OPTION = "drizzlesync_config"
"""The `context.configure()` option under which env.py hands us the config."""

_COLUMN_OPS = (alembic_ops.AddColumnOp, alembic_ops.DropColumnOp, alembic_ops.AlterColumnOp)


def compare_sync_state(
    autogen_context: AutogenContext, upgrade_ops: alembic_ops.UpgradeOps, schemas: Any
) -> PriorityDispatchResult:
    config: SyncConfig | None = autogen_context.opts.get(CONFIG_OPTION)
    connection = autogen_context.connection
    if config is None or connection is None:
        return PriorityDispatchResult.CONTINUE
    default_schema = connection.dialect.default_schema_name or "public"
    library = config.library_schema
    fetch = sqlalchemy_fetch(connection)
    partitions = read_partitions(fetch)
    wanted = without_partitions(desired_tables(autogen_context.metadata, config, default_schema), partitions)
    registry = read_registry(fetch, library)
    if registry is None and not wanted:
        return PriorityDispatchResult.CONTINUE

    def key_of(schema: str | None, table: str) -> TableKey:
        return (schema or default_schema, table)

    def schema_arg(key: TableKey) -> str | None:
        return None if key[0] == default_schema else key[0]

    ddl = upgrade_ops.ops
    created = {key_of(o.schema, o.table_name): o for o in ddl if isinstance(o, alembic_ops.CreateTableOp)}
    dropped = {key_of(o.schema, o.table_name): o for o in ddl if isinstance(o, alembic_ops.DropTableOp)}
    reshaped = {
        key_of(o.schema, o.table_name)
        for o in ddl
        if isinstance(o, alembic_ops.ModifyTableOps) and any(isinstance(c, _COLUMN_OPS) for c in o.ops)
    }
    installed = registry.scopes if registry else {}
    shape_changed = False

    for key in sorted(set(installed) - set(wanted)):
        disable = ops.DisableSyncOp(key[1], schema_arg(key), installed[key], library)
        _insert_before(ddl, _with_its_index_drops(ddl, dropped.get(key)), disable)
        shape_changed = True
    for key in sorted(set(wanted) - set(installed)):
        enable = ops.EnableSyncOp(key[1], schema_arg(key), wanted[key], library)
        _insert_after(ddl, _with_its_indexes(ddl, created.get(key)), enable)
        shape_changed = True
    for key in sorted(set(wanted) & set(installed)):
        if wanted[key] != installed[key]:
            rescope = ops.SetSyncScopeOp(key[1], schema_arg(key), wanted[key], installed[key], library)
            if autogen_context.opts.get("render_as_batch") or not _before_column_drops(
                ddl, key, rescope, key_of
            ):
                ddl.append(rescope)
            shape_changed = True
        if key in reshaped:
            shape_changed = True
    # A scoped table's scope index follows its own indexes (library version
    # 13); in batch mode the index ops run when the batch ends, so a refresh
    # written next to them would run first, and is left to the user.
    if not autogen_context.opts.get("render_as_batch"):
        scoped = {
            (schema_arg(key), key[1]) for key in set(wanted) & set(installed) if wanted[key] is not None
        }
        wrap_index_changes(ddl, scoped, library)
    # Partitions created or attached since capture began (version 5 captures
    # statements naming a partition; an upgrade to it captures those it can),
    # and partitions an earlier release registered, once disabled above.
    if registry is not None:
        uncaptured = read_uncaptured(fetch, library) & set(wanted)
        if registry.library_version < PARTITIONS_CAPTURED_FROM:
            disabled = set(installed) - set(wanted)
            uncaptured &= {root_of(key, partitions) for key in disabled if key in partitions}
        for key in sorted(uncaptured):
            ddl.append(ops.CapturePartitionsOp(key[1], schema_arg(key), library))

    # After the DDL, which may create the tables the query reads; it does
    # not touch the shape clients see, so no schema version is bumped.
    installed_query = registry.user_scopes_query if registry else None
    if config.user_scopes_query != installed_query:
        if config.user_scopes_query is not None:
            compile_query(config.user_scopes_query)  # an unknown parameter fails here, not in the upgrade
        ddl.append(ops.SetUserScopesOp(config.user_scopes_query, installed_query, library))

    if registry is None:
        ddl.insert(0, ops.InstallOp(LIBRARY_VERSION, library))
    elif registry.library_version < LIBRARY_VERSION:
        steps = range(registry.library_version, LIBRARY_VERSION)
        ddl[0:0] = [ops.UpgradeOp(version, version + 1, library) for version in steps]
    if shape_changed:
        ddl.append(ops.BumpSchemaVersionOp(next_schema_version(config, registry), library))
    return PriorityDispatchResult.CONTINUE


def next_schema_version(config: SyncConfig, registry: Registry | None) -> int:
    """One past the server's schema version and past any the generated history records or keeps as
    retired: after a downgrade, devices may run a dropped version, and its number must not come
    back for another shape (they would never migrate to it)."""
    history = config.output / HISTORY if config.output is not None else None
    shipped = highest_version(history.read_text(encoding="utf-8") if history and history.is_file() else None)
    return max(registry.schema_version if registry else 0, shipped) + 1


def root_of(key: TableKey, partitions: dict[TableKey, TableKey]) -> TableKey:
    """The partitioned table at the top of a partition's tree (a partition may be partitioned in turn)."""
    while key in partitions:
        key = partitions[key]
    return key


def without_partitions(
    wanted: dict[TableKey, str | None], partitions: dict[TableKey, TableKey]
) -> dict[TableKey, str | None]:
    """The wanted tables less the partitions of a wanted parent, whose rows the parent's capture logs.

    A partition selected without its parent is a mistake in the selection,
    not something to skip in silence: the client would get none of its rows.
    A registered partition (autogenerate enabled them before it knew better)
    is then no longer wanted, and this revision disables it.
    """
    kept: dict[TableKey, str | None] = {}
    for key, scope in wanted.items():
        if key not in partitions:
            kept[key] = scope
            continue
        root = root_of(key, partitions)
        if root not in wanted:
            raise ConfigError(
                f"table {key[0]}.{key[1]} is a partition of {root[0]}.{root[1]}, and only the parent "
                f"of a partitioned table is synced: select {root[0]}.{root[1]} instead"
            )
    return kept


def _with_its_indexes(ddl: list[Any], created: alembic_ops.CreateTableOp | None) -> Any:
    """The last of the new table's own indexes autogenerate creates right after it, else the table.

    Capture is enabled once they exist: a scope rule that the table's index
    on (rule column, primary key) serves then gets no scope index of its
    own (library version 13), where enabling first would build one.
    """
    if created is None:
        return None
    last: Any = created
    for op in ddl[ddl.index(created) + 1 :]:
        if not _only_index_ops(op, created, alembic_ops.CreateIndexOp):
            break
        last = op
    return last


def _only_index_ops(op: Any, table: Any, kind: type[MigrateOperation]) -> bool:
    """Whether `op` holds nothing but index operations of `kind` on `table`'s table (autogenerate
    groups them in a ModifyTableOps, rendered flat)."""
    indexes = op.ops if isinstance(op, alembic_ops.ModifyTableOps) else [op]
    same_table = (getattr(op, "table_name", None), getattr(op, "schema", None)) == (
        table.table_name,
        table.schema,
    )
    return same_table and bool(indexes) and all(isinstance(o, kind) for o in indexes)


def _before_column_drops(
    ddl: list[Any], key: TableKey, op: ops.SyncOperation, key_of: Callable[[str | None, str], TableKey]
) -> bool:
    """Into the table's column changes, ahead of its first dropped column; False when none is dropped.

    A new scope rule often reads a column this revision adds in place of one it drops: the rule
    (and the capture triggers that watch its columns) must change after the add and before the
    drop, which depends on them. Reversed, the downgrade then adds the old column back before
    restoring the old rule, and drops the new one after. Autogenerate lists a table's added
    columns before its dropped ones.
    """
    for container in ddl:
        if (
            isinstance(container, alembic_ops.ModifyTableOps)
            and key_of(container.schema, container.table_name) == key
        ):
            for index, change in enumerate(container.ops):
                if isinstance(change, alembic_ops.DropColumnOp):
                    container.ops.insert(index, op)
                    return True
    return False


def _with_its_index_drops(ddl: list[Any], dropped: alembic_ops.DropTableOp | None) -> Any:
    """The first of the table's index drops autogenerate writes right before dropping it, else the drop.

    Capture is disabled ahead of them, so that the downgrade, which runs the revision backwards,
    enables it once the table's indexes are back: a scope rule the table's own index serves then
    gets no scope index of its own, as when the table was first made.
    """
    if dropped is None:
        return None
    first: Any = dropped
    for op in reversed(ddl[: ddl.index(dropped)]):
        if not _only_index_ops(op, dropped, alembic_ops.DropIndexOp):
            break
        first = op
    return first


def _insert_after(ddl: list[Any], anchor: Any, op: ops.SyncOperation) -> None:
    """Right after the anchor's DDL, or at the end when this revision has none for the table."""
    ddl.insert(ddl.index(anchor) + 1 if anchor is not None else len(ddl), op)


def _insert_before(ddl: list[Any], anchor: Any, op: ops.SyncOperation) -> None:
    ddl.insert(ddl.index(anchor) if anchor is not None else len(ddl), op)
