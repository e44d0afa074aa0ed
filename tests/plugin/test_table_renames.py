"""A synced table renamed by a revision (`disable_sync`, `rename_table`, `enable_sync`) stays the same
table on devices: the plugin sees the rename (Postgres keeps a table's oid through one, while the
registry row is made again), history.json records it as the table's `renamed_from`, and the client
step renames the SQLite table and moves its pending writes to the new name. Renames in one command
compose with the columns'; one no command watched (generation off) stays a drop and a create."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.plugin.revisions import write_revision
from tests.plugin.test_column_renames import GENERATED, TEAM, TODO, device_at_version_1, run_steps, upgrade
from tests.plugin.test_command_errors import drizzlesync

RENAME = (
    '    op.disable_sync("todos")\n'
    '    op.rename_table("todos", "tasks")\n'
    '    op.enable_sync("tasks", scope="\'team:\' || team_id")\n'
)


def recorded(project: Path, version: int, source: str) -> dict[str, Any]:
    """Table `source` of version `version` in history.json."""
    history = json.loads((project / GENERATED / "history.json").read_text())
    [tables] = [v["tables"] for v in history["versions"] if v["version"] == version]
    [table] = [t for t in tables if t["source"] == source]
    return dict(table)


def device_after(project: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str, dict[str, Any] | None]]]:
    """A device at version 1 holding a pulled todo, with a put, a patch and a delete of todos
    pending, after the steps above it: its tasks, and its pending writes (table, op, values)."""
    db, steps = device_at_version_1(project)
    made = "00000000-0000-4000-8000-000000000003"
    db.execute(
        "INSERT INTO todos (id, team_id, title, done, updated_at) VALUES (?, ?, 'made offline', 0, 0)",
        (made, TEAM),
    )
    db.execute("UPDATE todos SET title = 'edited offline' WHERE id = ?", (TODO,))
    db.execute("DELETE FROM todos WHERE id = ?", (made,))
    run_steps(db, steps)
    tasks = [dict(row) for row in db.execute("SELECT * FROM tasks")]
    pending = [
        (row["table"], row["op"], json.loads(row["values"]) if row["values"] else None)
        for row in db.execute('SELECT "table", op, "values" FROM _sync_outbox ORDER BY id')
    ]
    return tasks, pending


def test_a_renamed_table_keeps_its_rows_and_pending_writes(example_copy: Path) -> None:
    upgrade(example_copy)
    write_revision(example_copy, "tasks", RENAME + "    op.bump_sync_schema_version(2)")
    upgrade(example_copy)
    assert recorded(example_copy, 2, "tasks")["renamed_from"] == "todos"
    step = (example_copy / GENERATED / "0002.sql").read_text()
    assert 'ALTER TABLE "todos" RENAME TO "tasks";' in step
    assert """UPDATE "_sync_outbox" SET "table" = 'tasks' WHERE "table" = 'todos';""" in step
    assert 'DROP TABLE "todos"' not in step

    tasks, pending = device_after(example_copy)
    assert [(t["id"], t["title"]) for t in tasks] == [(TODO, "edited offline")]
    assert [(table, op) for table, op, _ in pending] == [
        ("tasks", "put"),
        ("tasks", "patch"),
        ("tasks", "delete"),
    ]
    assert pending[1][2] == {"title": "edited offline"}

    # Another developer's generation, the database already migrated, records what the command saw.
    history = (example_copy / GENERATED / "history.json").read_text()
    assert drizzlesync(example_copy, "generate").returncode == 0
    assert (example_copy / GENERATED / "history.json").read_text() == history


def test_a_table_renamed_and_its_column_renamed_in_one_command_is_both(example_copy: Path) -> None:
    """The table renamed by one revision and its column by the next: the column's rename is counted
    from the table as the command began, under its old name."""
    upgrade(example_copy)
    write_revision(example_copy, "tasks", RENAME)
    write_revision(
        example_copy,
        "label",
        '    op.alter_column("tasks", "title", new_column_name="label")\n    op.bump_sync_schema_version(2)',
        down="tasks",
    )
    upgrade(example_copy)
    tasks = recorded(example_copy, 2, "tasks")
    assert tasks["renamed_from"] == "todos"
    assert [c.get("renamed_from") for c in tasks["columns"] if c["wire_name"] == "label"] == ["title"]

    rows, pending = device_after(example_copy)
    assert [(t["id"], t["label"]) for t in rows] == [(TODO, "edited offline")]
    assert pending[1] == ("tasks", "patch", {"label": "edited offline"})


def test_a_rename_no_command_watched_is_a_drop_and_a_create(example_copy: Path) -> None:
    upgrade(example_copy)
    write_revision(example_copy, "tasks", RENAME + "    op.bump_sync_schema_version(2)")
    pyproject = example_copy / "pyproject.toml"
    settings = pyproject.read_text()
    pyproject.write_text("\n".join(line for line in settings.splitlines() if not line.startswith("output")))
    upgrade(example_copy)
    pyproject.write_text(settings)
    assert drizzlesync(example_copy, "generate").returncode == 0
    assert "renamed_from" not in recorded(example_copy, 2, "tasks")
    step = (example_copy / GENERATED / "0002.sql").read_text()
    assert 'DROP TABLE "todos";' in step and "RENAME" not in step

    tasks, pending = device_after(example_copy)
    assert tasks == []  # the new build pulls them again
    assert {table for table, _, _ in pending} == {"todos"}  # the server rejects them: unknown_table
