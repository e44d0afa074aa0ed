"""Autogenerate places the sync operations in the right order, and only when needed."""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData, Table, Text, create_engine

from alembic_drizzlesync import ops, with_drizzlesync
from alembic_drizzlesync.config import parse_config
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops, autogenerate, flattened, migrate

CONFIG = parse_config({"include": ["todos", "app.*"], "tables": {"todos": {"scope": "'team:' || team"}}})
WITHOUT_TODOS = parse_config({"include": ["todos", "app.*"]})
"""CONFIG once the todos model is gone: its per-table section goes with it."""


def models(
    *,
    todos: bool = True,
    extra_column: bool = False,
    scope: str | None = None,
    team_index: bool = False,
    team: str = "team",
) -> MetaData:
    metadata = MetaData()
    Table("users", metadata, Column("id", Integer, primary_key=True), Column("email", Text))
    if todos:
        columns: list[Column[Any]] = [
            Column("id", Integer, primary_key=True),
            Column(team, Text),
            Column("title", Text),
        ]
        if extra_column:
            columns.append(Column("due", Text))
        info = {"drizzlesync": {"scope": scope}} if scope else {}
        table = Table("todos", metadata, *columns, info=info)
        if team_index:
            Index("todos_team_id", table.c[team], table.c.id)
    return metadata


def kinds(op_list: list[Any]) -> list[str]:
    names = []
    for operation in op_list:
        name = type(operation).__name__
        table = getattr(operation, "table_name", None)
        names.append(f"{name}:{table}" if table else name)
    return names


def test_first_revision_installs_then_enables_right_after_create(db_url: str) -> None:
    script = autogenerate(db_url, models(), CONFIG)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert kinds(script.upgrade_ops.ops) == [
        "InstallOp",
        "CreateTableOp:todos",
        "EnableSyncOp:todos",
        "CreateTableOp:users",
        "BumpSchemaVersionOp",
    ]
    assert kinds(script.downgrade_ops.ops) == [
        "RevertSchemaVersionOp",
        "DropTableOp:users",
        "DisableSyncOp:todos",
        "DropTableOp:todos",
        "UninstallOp",
    ]
    code = render_python_code(script.upgrade_ops)
    assert f"op.install_drizzlesync({LIBRARY_VERSION})" in code
    assert """op.enable_sync('todos', scope="'team:' || team")""" in code
    assert "op.bump_sync_schema_version(1)" in code


def test_capture_is_enabled_once_the_tables_own_indexes_exist(db_url: str) -> None:
    """An index on (team, id) serves the rule 'team:' || team (library version 13): made before
    enable_sync, it spares the table a scope index."""
    script = autogenerate(db_url, models(team_index=True), CONFIG)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert kinds(script.upgrade_ops.ops)[1:4] == [
        "CreateTableOp:todos",
        "ModifyTableOps:todos",
        "EnableSyncOp:todos",
    ]
    assert kinds(script.downgrade_ops.ops)[-4:-1] == [
        "DisableSyncOp:todos",
        "ModifyTableOps:todos",
        "DropTableOp:todos",
    ]
    assert "op.create_index('todos_team_id', 'todos', ['team', 'id']" in render_python_code(
        script.upgrade_ops
    )
    migrate(db_url, models(team_index=True), CONFIG)
    assert indexes_of_todos(db_url) == ["todos_pkey", "todos_team_id"]


def indexes_of_todos(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        indexes = conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'todos' ORDER BY 1"
        )
        names = [str(name) for (name,) in indexes]
    engine.dispose()
    return names


def test_an_index_added_to_a_synced_table_refreshes_its_scope_index_both_ways(db_url: str) -> None:
    """The index op and the refresh come as one: the upgrade refreshes after creating the index, the
    downgrade after dropping it, so that each ends with the scope index it needs."""
    migrate(db_url, models(), CONFIG)
    assert indexes_of_todos(db_url) == ["drizzlesync_scope_1", "todos_pkey"]
    script = migrate(db_url, models(team_index=True), CONFIG)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert indexes_of_todos(db_url) == ["todos_pkey", "todos_team_id"]
    upgrade = render_python_code(script.upgrade_ops)
    downgrade = render_python_code(script.downgrade_ops)
    assert "op.create_index('todos_team_id', 'todos', ['team', 'id'], unique=False)\n    " in upgrade
    assert upgrade.endswith("op.refresh_sync_scope_index('todos')\n    # ### end Alembic commands ###"), (
        upgrade
    )
    assert (
        "op.drop_index('todos_team_id', table_name='todos')\n    op.refresh_sync_scope_index('todos')"
        in downgrade
    )
    apply_ops(db_url, *flattened(script.downgrade_ops))
    assert indexes_of_todos(db_url) == ["drizzlesync_scope_1", "todos_pkey"]
    again = autogenerate(db_url, models(), CONFIG)
    assert again.upgrade_ops is not None and again.upgrade_ops.is_empty()


def test_nothing_to_do_after_upgrade(db_url: str) -> None:
    migrate(db_url, models(), CONFIG)
    script = autogenerate(db_url, models(), CONFIG)
    assert script.upgrade_ops is not None and script.upgrade_ops.is_empty()


def test_column_change_of_a_synced_table_bumps_the_schema_version(db_url: str) -> None:
    migrate(db_url, models(), CONFIG)
    script = autogenerate(db_url, models(extra_column=True), CONFIG)
    assert script.upgrade_ops is not None
    assert kinds(script.upgrade_ops.ops) == ["ModifyTableOps:todos", "BumpSchemaVersionOp"]
    assert script.upgrade_ops.ops[-1] == ops.BumpSchemaVersionOp(2)


def test_column_change_of_an_unsynced_table_does_not_bump(db_url: str) -> None:
    migrate(db_url, models(), CONFIG)
    metadata = models()
    metadata.tables["users"].append_column(Column("name", Text))
    script = autogenerate(db_url, metadata, CONFIG)
    assert script.upgrade_ops is not None
    assert kinds(script.upgrade_ops.ops) == ["ModifyTableOps:users"]


def test_dropping_a_synced_table_disables_capture_first(db_url: str) -> None:
    migrate(db_url, models(), CONFIG)
    script = migrate(db_url, models(todos=False), WITHOUT_TODOS)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    upgrade = kinds(script.upgrade_ops.ops)
    assert upgrade == ["DisableSyncOp:todos", "DropTableOp:todos", "BumpSchemaVersionOp"]
    assert kinds(script.downgrade_ops.ops) == [
        "RevertSchemaVersionOp",
        "CreateTableOp:todos",
        "EnableSyncOp:todos",
    ]
    # What `alembic check` reports for it:
    assert ("disable_sync", "todos", None, "'team:' || team") in script.upgrade_ops.as_diffs()
    # The disable keeps the scope so that its reverse restores capture exactly.
    assert script.downgrade_ops.ops[2] == ops.EnableSyncOp("todos", scope="'team:' || team")
    assert autogenerate(db_url, models(todos=False), WITHOUT_TODOS).upgrade_ops.is_empty()  # type: ignore[union-attr]


def test_dropping_an_indexed_scoped_table_is_undone_with_its_index_before_capture(db_url: str) -> None:
    """Disabled ahead of the table's index drops, capture is enabled after the index is back in the
    downgrade, which then builds no scope index the table's own index spares it."""
    migrate(db_url, models(team_index=True), CONFIG)
    script = migrate(db_url, models(todos=False), WITHOUT_TODOS)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert kinds(script.upgrade_ops.ops) == [
        "DisableSyncOp:todos",
        "ModifyTableOps:todos",
        "DropTableOp:todos",
        "BumpSchemaVersionOp",
    ]
    apply_ops(db_url, *flattened(script.downgrade_ops))
    assert indexes_of_todos(db_url) == ["todos_pkey", "todos_team_id"]


def test_table_info_overrides_the_scope_and_is_reversible(db_url: str) -> None:
    migrate(db_url, models(), CONFIG)
    script = migrate(db_url, models(scope="'owner:' || id"), CONFIG)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert script.upgrade_ops.ops == [
        ops.SetSyncScopeOp("todos", scope="'owner:' || id", old_scope="'team:' || team"),
        ops.BumpSchemaVersionOp(2),
    ]
    assert script.downgrade_ops.ops[-1] == ops.SetSyncScopeOp(
        "todos", scope="'team:' || team", old_scope="'owner:' || id"
    )
    assert autogenerate(db_url, models(scope="'owner:' || id"), CONFIG).upgrade_ops.is_empty()  # type: ignore[union-attr]


def test_a_scope_rule_moved_to_a_new_column_changes_between_the_add_and_the_drop(db_url: str) -> None:
    """The old rule's column is dropped in the same revision: the capture triggers depend on it, so
    the rule changes before the drop, and, reversed, after the downgrade adds the column back."""
    migrate(db_url, models(), CONFIG)
    script = migrate(db_url, models(team="crew", scope="'crew:' || crew"), CONFIG)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert kinds(flattened(script.upgrade_ops)) == [
        "AddColumnOp:todos",
        "SetSyncScopeOp:todos",
        "DropColumnOp:todos",
        "BumpSchemaVersionOp",
    ]
    assert "op.set_sync_scope('todos', scope=\"'crew:' || crew\"" in render_python_code(script.upgrade_ops)
    apply_ops(db_url, *flattened(script.downgrade_ops))
    assert autogenerate(db_url, models(), CONFIG).upgrade_ops.is_empty()  # type: ignore[union-attr]


def test_library_schema_is_invisible_to_autogenerate(db_url: str) -> None:
    migrate(db_url, models(), CONFIG)
    script = autogenerate(db_url, models(), CONFIG)
    assert script.upgrade_ops is not None
    assert not any(isinstance(o, alembic_ops.DropTableOp) for o in script.upgrade_ops.ops)


def test_user_include_name_is_still_called(db_url: str) -> None:
    seen: list[tuple[str | None, str]] = []

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        seen.append((name, type_))
        return name != "users"

    options = with_drizzlesync(target_metadata=models(), drizzlesync=WITHOUT_TODOS, include_name=include_name)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        migrate(db_url, models(), CONFIG)
        script = produce_migrations(MigrationContext.configure(conn, opts=options), MetaData())
    engine.dispose()
    assert ("users", "table") in seen
    # With empty models the comparator disables todos; the hidden users table is left alone.
    assert script.upgrade_ops is not None
    assert "DropTableOp:users" not in kinds(script.upgrade_ops.ops)
    assert "DisableSyncOp:todos" in kinds(script.upgrade_ops.ops)


def test_warnings_are_heard_after_env_py_s_file_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alembic init`'s env.py calls fileConfig(), which disables every logger that exists by then,
    ours among them: the warning that a shape changed without a new schema version went unseen."""
    history = logging.getLogger("alembic_drizzlesync.codegen.client_migrations.history")
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys = root\n[handlers]\nkeys = console\n[formatters]\nkeys =\n"
        "[logger_root]\nlevel = WARNING\nhandlers = console\n"
        "[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\n"
    )
    root = logging.getLogger()
    saved = (
        root.level,
        root.handlers[:],
        {
            n: lg.disabled
            for n, lg in logging.root.manager.loggerDict.items()
            if isinstance(lg, logging.Logger)
        },
    )
    try:
        logging.config.fileConfig(ini)
        assert history.disabled
        with_drizzlesync(drizzlesync=CONFIG)
        history.warning("the synced shape changed")
        assert "the synced shape changed" in capsys.readouterr().err
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name, disabled in saved[2].items():
            logging.getLogger(name).disabled = disabled


def test_user_hooks_survive_registration() -> None:
    def process_revision_directives(context: Any, revision: Any, directives: Any) -> None:
        pass

    options = with_drizzlesync(
        drizzlesync=CONFIG,
        process_revision_directives=process_revision_directives,
        autogenerate_plugins=["alembic.autogenerate.tables"],
    )
    assert options["process_revision_directives"] is process_revision_directives
    assert options["autogenerate_plugins"] == ["alembic.autogenerate.tables", "drizzlesync"]


def test_a_synced_table_outside_the_default_schema_without_include_schemas_is_warned_of(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Alembic then writes no DDL for it, while its sync operations are still written."""
    metadata = MetaData()
    Table("projects", metadata, Column("id", Integer, primary_key=True), schema="app")
    autogenerate(db_url, metadata, WITHOUT_TODOS)
    assert "app.projects is synced, but without include_schemas=True" in caplog.text
    caplog.clear()
    engine = create_engine(db_url)
    with engine.connect() as conn:
        options = with_drizzlesync(target_metadata=metadata, drizzlesync=WITHOUT_TODOS, include_schemas=True)
        produce_migrations(MigrationContext.configure(conn, opts=options), metadata)
    engine.dispose()
    assert "include_schemas" not in caplog.text
