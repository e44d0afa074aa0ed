"""A synced table a revision renamed (`renamed_from` in history.json): the client step renames the
SQLite table in place, keeping its rows, makes its triggers again, and moves its pending writes to
the new name, so that the server applies them instead of rejecting them (`unknown_table`)."""

from __future__ import annotations

import sqlite3

from alembic_drizzlesync.codegen.client_migrations.history import (
    migration_steps,
    read_history,
    record,
    render_history,
)
from alembic_drizzlesync.codegen.client_migrations.shape import ColumnShape, TableShape, shape_hash

from .test_client_migrations import outbox, text_column

KEY, TITLE = text_column("id"), text_column("title")


def table(name: str, *columns: ColumnShape, renamed_from: str | None = None) -> TableShape:
    return TableShape(
        name, name, columns or (KEY, TITLE), ("id",), ((f"{name}_title_idx", ("title",)),), renamed_from
    )


def device(first: list[str]) -> sqlite3.Connection:
    """A device at the first version holding a pulled note n1 and n2, then a put of n3, a patch of
    n1 and a delete of n2 pending."""
    db = sqlite3.connect(":memory:")
    db.executescript(";\n".join(first))
    db.execute("UPDATE _sync_state SET applying = 1, cursor = 'c1'")
    db.execute("INSERT INTO notes VALUES ('n1', 'pulled'), ('n2', 'doomed')")
    db.execute("UPDATE _sync_state SET applying = 0")
    db.execute("INSERT INTO notes VALUES ('n3', 'made offline')")
    db.execute("UPDATE notes SET title = 'edited offline' WHERE id = 'n1'")
    db.execute("DELETE FROM notes WHERE id = 'n2'")
    return db


def names(db: sqlite3.Connection, kind: str) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite%' ORDER BY name", (kind,)
    ).fetchall()
    return [name for (name,) in rows]


def test_a_renamed_table_keeps_its_rows_and_pending_writes() -> None:
    history = record(record([], 1, (table("notes"),)), 2, (table("memos", renamed_from="notes"),))
    (_, first), (_, second) = migration_steps(history)
    assert second == [
        """UPDATE "_sync_outbox" SET "table" = 'memos' WHERE "table" = 'notes'""",
        'DROP TRIGGER IF EXISTS "notes_outbox_insert"',
        'DROP TRIGGER IF EXISTS "notes_outbox_delete"',
        'DROP TRIGGER IF EXISTS "notes_outbox_update"',
        'DROP TRIGGER IF EXISTS "notes_outbox_rekey"',
        'DROP TRIGGER IF EXISTS "notes_key_insert"',
        'DROP TRIGGER IF EXISTS "notes_key_update"',
        'DROP TRIGGER IF EXISTS "notes_key_length_insert"',
        'DROP TRIGGER IF EXISTS "notes_key_length_update"',
        'DROP INDEX IF EXISTS "notes_title_idx"',
        'DROP INDEX IF EXISTS "memos_title_idx"',
        'ALTER TABLE "notes" RENAME TO "memos"',
        'CREATE INDEX "memos_title_idx" ON "memos" ("title")',
        *second[13:17],  # the four outbox triggers of memos
        'UPDATE "_sync_state" SET "schema_version" = 2, "cursor" = NULL',
    ]
    assert all(s.startswith('CREATE TRIGGER "memos_outbox_') for s in second[13:17])

    db = device(first)
    db.executescript(f"BEGIN;\n{';'.join(second)};\nCOMMIT;")
    assert db.execute("SELECT id, title FROM memos ORDER BY id").fetchall() == [
        ("n1", "edited offline"),
        ("n3", "made offline"),
    ]
    assert outbox(db) == [
        ("memos", "put", {"id": "n3"}, {"id": "n3", "title": "made offline"}),
        ("memos", "patch", {"id": "n1"}, {"title": "edited offline"}),
        ("memos", "delete", {"id": "n2"}, None),
    ]
    assert names(db, "table") == ["_sync_outbox", "_sync_state", "memos"]
    assert names(db, "trigger") == [f"memos_outbox_{t}" for t in ("delete", "insert", "rekey", "update")]
    assert names(db, "index") == ["memos_title_idx"]
    db.execute("UPDATE memos SET title = 'after' WHERE id = 'n3'")  # the new triggers write the new name
    assert outbox(db)[-1] == ("memos", "patch", {"id": "n3"}, {"title": "after"})
    assert db.execute("SELECT cursor FROM _sync_state").fetchone() == (None,)


def test_a_renamed_table_whose_columns_change_too_is_rebuilt_under_its_new_name() -> None:
    """Rename and rebuild in one step: the rows are copied from the old table, and the pending
    writes move to the new table's name before a renamed column's values move within them."""
    label = text_column("label", renamed_from="title")
    history = record(
        record([], 1, (table("notes"),)),
        2,
        (TableShape("memos", "memos", (KEY, label), ("id",), (), renamed_from="notes"),),
    )
    (_, first), (_, second) = migration_steps(history)
    db = device(first)
    db.executescript(f"BEGIN;\n{';'.join(second)};\nCOMMIT;")
    assert db.execute("SELECT id, label FROM memos ORDER BY id").fetchall() == [
        ("n1", "edited offline"),
        ("n3", "made offline"),
    ]
    assert [(t, values) for t, _, _, values in outbox(db)] == [
        ("memos", {"id": "n3", "label": "made offline"}),
        ("memos", {"label": "edited offline"}),
        ("memos", None),
    ]
    assert "notes" not in names(db, "table")
    assert names(db, "trigger") == [f"memos_outbox_{t}" for t in ("delete", "insert", "rekey", "update")]


def test_two_tables_swapping_names_keep_their_own_rows_and_writes() -> None:
    """Each table is parked under a name no table has, and so is each one's pending writes' name."""
    before = (table("a"), table("b"))
    after = (table("a", renamed_from="b"), table("b", renamed_from="a"))
    (_, first), (_, second) = migration_steps(record(record([], 1, before), 2, after))
    db = sqlite3.connect(":memory:")
    db.executescript(";\n".join(first))
    db.execute("INSERT INTO a VALUES ('1', 'was a')")
    db.execute("INSERT INTO b VALUES ('2', 'was b')")
    db.executescript(f"BEGIN;\n{';'.join(second)};\nCOMMIT;")
    assert db.execute("SELECT * FROM a").fetchall() == [("2", "was b")]
    assert db.execute("SELECT * FROM b").fetchall() == [("1", "was a")]
    assert [(t, values) for t, _, _, values in outbox(db)] == [
        ("b", {"id": "1", "title": "was a"}),
        ("a", {"id": "2", "title": "was b"}),
    ]
    assert not [n for n in names(db, "table") if n.startswith("_sync_renaming")]


def test_a_table_added_under_a_renamed_one_s_old_name_is_a_new_table() -> None:
    """notes renamed to memos, and a new synced notes: the pending writes are the renamed one's."""
    after = (table("notes", KEY, text_column("body")), table("memos", renamed_from="notes"))
    (_, first), (_, second) = migration_steps(record(record([], 1, (table("notes"),)), 2, after))
    db = device(first)
    db.executescript(f"BEGIN;\n{';'.join(second)};\nCOMMIT;")
    assert db.execute("SELECT count(*) FROM memos").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    assert {t for t, _, _, _ in outbox(db)} == {"memos"}


def test_the_rename_is_recorded_outside_the_hash_and_belongs_to_its_own_step() -> None:
    """A database migrated without watching the rename computes the same hash; the version after
    the rename leaves the table alone, and a step not renaming it moves no pending writes."""
    renamed = (table("memos", renamed_from="notes"),)
    assert shape_hash(renamed) == shape_hash((table("memos"),))
    history = record(record(record([], 1, (table("notes"),)), 2, renamed), 3, (table("memos"), table("tags")))
    assert read_history(render_history(history))[1].tables == renamed
    (_, _), (_, _), (_, third) = migration_steps(history)
    assert not [s for s in third if '"memos"' in s or s.startswith('UPDATE "_sync_outbox"')]
