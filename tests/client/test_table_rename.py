"""A device with pending writes to a synced table that a revision renames (todos to tasks, or moves
to another schema: app.todos; runtime/test/integration/table-rename.ts): the new build opens with
the rows under the new name and every pending write (a put, a patch, a delete) moved to it, nothing
pruned; its sync pushes them, the server applies each to the renamed table, and the device ends
with exactly the server's rows.
Before, the step dropped todos and created tasks: the writes were pruned and rejected
(`unknown_table`), and only a bootstrap brought the rows back, without them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command

from tests.plugin.revisions import write_revision
from tests.sync import seed

from .conftest import run_integration, serving
from .test_schema_change import build, first_build_with_a_member

RENAME = (
    '    op.disable_sync("todos")\n'
    '    op.rename_table("todos", "tasks")\n'
    '    op.enable_sync("tasks", scope="\'team:\' || team_id")\n'
    "    op.bump_sync_schema_version(2)"
)
MOVE = (
    '    op.disable_sync("todos")\n'
    '    op.execute("CREATE SCHEMA app")\n'
    '    op.execute("ALTER TABLE todos SET SCHEMA app")\n'
    '    op.enable_sync("todos", schema="app", scope="\'team:\' || team_id")\n'
    "    op.bump_sync_schema_version(2)"
)
"""The table moved to another schema: on the wire `app.todos`, in SQLite `app_todos`."""


@pytest.mark.parametrize(
    ("revision", "server_table", "device_table"),
    [(RENAME, "tasks", "tasks"), (MOVE, "app.todos", "app_todos")],
    ids=["renamed", "moved to another schema"],
)
def test_pending_writes_to_a_renamed_table_reach_the_server_under_its_new_name(
    example_copy: Path,
    db_url: str,
    tmp_path: Path,
    node22: str,
    revision: str,
    server_table: str,
    device_table: str,
) -> None:
    alembic, first_build, url, user, team = first_build_with_a_member(
        example_copy, db_url, tmp_path / "build1"
    )
    with psycopg.connect(url, autocommit=True) as db:
        keep, drop = seed.todo(db, team, "kept"), seed.todo(db, team, "dropped offline")
        untouched = seed.todo(db, team, "untouched")
        gone = seed.todo(db, team, "deleted on the server after the rename")
    env = {
        "USER_ID": user,
        "TEAM_ID": team,
        "KEEP": keep,
        "DROP": drop,
        "DB_FILE": str(tmp_path / "d.sqlite3"),
        "NEW_TABLE": device_table,
    }
    pyproject = example_copy / "pyproject.toml"

    def phase(base: str, name: str, generated: Path) -> dict[str, Any]:
        return run_integration(
            node22, "table-rename", base, {**env, "PHASE": name, "GENERATED": str(generated)}
        )

    with serving(url, pyproject) as base:
        written = phase(base, "write", first_build)
    assert sorted(written["pulled"]) == sorted([keep, drop, untouched, gone])
    assert written["pending"] == 3

    write_revision(example_copy, "tasks", revision)
    command.upgrade(alembic, "head")
    second_build = build(example_copy, tmp_path / "build2")
    with psycopg.connect(url, autocommit=True) as db:  # the server's rows move on meanwhile
        db.execute(f"DELETE FROM {server_table} WHERE id = %s", (gone,))
        insert = f"INSERT INTO {server_table} (team_id, title) VALUES (%s, 'added on the server')"
        added = db.execute(f"{insert} RETURNING id::text", (team,)).fetchone()
    assert added is not None
    with serving(url, pyproject) as base:  # a deploy restarts the host
        new = phase(base, "new-build", second_build)

    assert new["migration"] == {"from": 1, "to": 2, "pruned": [], "repaired": []}
    # Opened, before any pull: the device's rows under the new name, its writes moved to it.
    expected = {keep: "retitled offline", written["made"]: "made offline", untouched: "untouched"}
    assert {row["id"]: row["title"] for row in new["local"]} == {
        **expected,
        gone: "deleted on the server after the rename",
    }
    assert new["outbox"] == [
        {"table": server_table, "op": "put"},
        {"table": server_table, "op": "patch"},
        {"table": server_table, "op": "delete"},
    ]
    assert new["rejected"] == []
    assert (new["state"], new["pending"]) == ("idle", 0)
    with psycopg.connect(url) as db:
        query = f"SELECT id::text, title FROM {server_table} WHERE team_id = %s"
        server = dict(db.execute(query, (team,)).fetchall())
    # The put and the patch applied, the delete too; the pull replaced the rows the device kept.
    assert server == {**expected, added[0]: "added on the server"}
    assert {row["id"]: row["title"] for row in new["synced"]} == server
