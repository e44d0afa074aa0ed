"""A column of a synced table renamed by a revision stays the same column on devices: the plugin
sees the rename (Postgres keeps a column's number through one), history.json records it, and the
client step copies the local values to the new name and moves pending writes' values there. A
column dropped and another added stays a drop and an add; a rename seen by no command (a database
migrated earlier) leaves history.json as the command that saw it recorded it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.plugin.revisions import write_revision
from tests.plugin.test_command_errors import alembic, drizzlesync

GENERATED = Path("web/src/db/generated/client-migrations")
TODO, TEAM = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def upgrade(project: Path) -> None:
    run = alembic(project, "upgrade", "head")
    assert run.returncode == 0, run.stderr


def todos_columns(project: Path, version: int) -> dict[str, str | None]:
    """Version `version`'s todos columns in history.json: Postgres name to the name it was renamed from."""
    history = json.loads((project / GENERATED / "history.json").read_text())
    [recorded] = [v for v in history["versions"] if v["version"] == version]
    [todos] = [t for t in recorded["tables"] if t["source"] == "todos"]
    return {c["wire_name"]: c.get("renamed_from") for c in todos["columns"]}


def device_at_version_1(project: Path) -> tuple[sqlite3.Connection, list[Path]]:
    """A device at the project's first client step, holding a pulled todo (TODO), and the steps
    above it, for the test to run once it has written offline."""
    db = sqlite3.connect(":memory:")
    steps = sorted((project / GENERATED).glob("*.sql"))
    db.executescript(steps[0].read_text())
    db.execute("UPDATE _sync_state SET applying = 1")  # as a pull applies rows: no outbox entries
    db.execute(
        "INSERT INTO todos (id, team_id, title, done, updated_at) VALUES (?, ?, 'pulled', 0, 0)", (TODO, TEAM)
    )
    db.execute("UPDATE _sync_state SET applying = 0")
    return db, steps[1:]


def run_steps(db: sqlite3.Connection, steps: list[Path]) -> None:
    """Each step in a transaction of its own, as the runtime runs them."""
    for step in steps:
        db.executescript(f"BEGIN;\n{step.read_text()}\nCOMMIT;")
    db.row_factory = sqlite3.Row


def device_after(project: Path, write: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A device at version 1 holding a todo and its pending write of it (`write`), after the steps
    above it: its todo and its pending writes' values."""
    db, steps = device_at_version_1(project)
    db.execute(write)
    run_steps(db, steps)
    [todo] = [dict(row) for row in db.execute("SELECT * FROM todos")]
    pending = [
        json.loads(row["values"]) for row in db.execute('SELECT "values" FROM _sync_outbox ORDER BY id')
    ]
    return todo, pending


def test_a_renamed_column_keeps_its_values_and_pending_writes(example_copy: Path) -> None:
    upgrade(example_copy)
    write_revision(
        example_copy,
        "label",
        '    op.alter_column("todos", "title", new_column_name="label")\n    op.bump_sync_schema_version(2)',
    )
    upgrade(example_copy)
    columns = todos_columns(example_copy, 2)
    assert columns["label"] == "title" and "title" not in columns
    assert [name for name, renamed in columns.items() if renamed] == ["label"]

    todo, pending = device_after(
        example_copy, f"UPDATE todos SET title = 'edited offline' WHERE id = '{TODO}'"
    )
    assert todo["label"] == "edited offline" and "title" not in todo  # the local row, copied
    assert pending == [{"label": "edited offline"}]

    # Another developer's generation, the database already migrated, records what the command saw.
    history = (example_copy / GENERATED / "history.json").read_text()
    assert drizzlesync(example_copy, "generate").returncode == 0
    assert (example_copy / GENERATED / "history.json").read_text() == history


def test_renames_in_one_command_compose_and_a_drop_and_add_is_no_rename(example_copy: Path) -> None:
    upgrade(example_copy)
    write_revision(example_copy, "label", '    op.alter_column("todos", "title", new_column_name="label")')
    write_revision(
        example_copy,
        "name",
        '    op.alter_column("todos", "label", new_column_name="name")\n'
        '    op.drop_column("todos", "done")\n'
        '    op.add_column("todos", sa.Column("finished", sa.Boolean(), nullable=True))\n'
        "    op.bump_sync_schema_version(2)",
        down="label",
    )
    upgrade(example_copy)
    columns = todos_columns(example_copy, 2)
    assert (columns["name"], columns["finished"]) == ("title", None)
    assert "done" not in columns

    todo, pending = device_after(example_copy, f"UPDATE todos SET title = 'x', done = 1 WHERE id = '{TODO}'")
    assert (todo["name"], todo["finished"]) == ("x", None)  # empty, not done's value
    # done's value is left for the runtime to prune, not moved to the new column
    assert [sorted(values) for values in pending] == [["done", "name"]]


def test_a_rename_counted_from_a_shape_history_json_never_recorded_is_not_recorded(
    example_copy: Path,
) -> None:
    """A revision ran unwatched (generation off) dropped title and renamed note to title; the next,
    watched, renamed that title to heading. Counted from the database as the command found it,
    the rename named the recorded version's title, another column: the step gave the original
    titles and their pending values to heading. The shapes differ, so the step drops and adds."""
    upgrade(example_copy)
    write_revision(
        example_copy,
        "note",
        '    op.add_column("todos", sa.Column("note", sa.Text(), nullable=True))\n'
        "    op.bump_sync_schema_version(2)",
    )
    upgrade(example_copy)
    write_revision(
        example_copy,
        "retitle",
        '    op.drop_column("todos", "title")\n'
        '    op.alter_column("todos", "note", new_column_name="title")\n'
        "    op.bump_sync_schema_version(3)",
        down="note",
    )
    pyproject = example_copy / "pyproject.toml"
    settings = pyproject.read_text()
    pyproject.write_text("\n".join(line for line in settings.splitlines() if not line.startswith("output")))
    upgrade(example_copy)
    pyproject.write_text(settings)
    write_revision(
        example_copy,
        "heading",
        '    op.alter_column("todos", "title", new_column_name="heading")\n'
        "    op.bump_sync_schema_version(4)",
        down="retitle",
    )
    upgrade(example_copy)
    assert todos_columns(example_copy, 4)["heading"] is None
    assert "note" in todos_columns(example_copy, 2)
