"""The query reading a pull page's rows of a table is cached with the table's shape (library version 11).

A page reads `page_query_cache` instead of writing the query from the
catalog again; an entry whose shape no longer describes the table (a column
added, renamed or retyped, the table rescoped) is replaced by the next page,
so rows are never read through a stale query.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.sync import seed
from tests.sync.table_reads import caught_up, raw_pull

CACHED = (
    "SELECT c.xmin::text, c.query FROM drizzlesync.page_query_cache AS c "
    "JOIN drizzlesync.synced_table AS t ON t.id = c.table_id WHERE t.table_name = 'todos'"
)


def changed_todos(db: psycopg.Connection[Any], user: str, cursor: str) -> tuple[list[dict[str, Any]], str]:
    page = json.loads(raw_pull(db, user, "laptop", cursor, 100))
    rows = [c["row"] for c in page["changes"] if c["table"] == "todos" and c["op"] == "upsert"]
    return rows, str(page["cursor"])


def test_pages_reuse_the_cached_query(db: psycopg.Connection[Any]) -> None:
    alice, team = seed.member(db, "alice", "A")
    cursor = caught_up(db, alice)
    seed.todo(db, team, "first")
    rows, cursor = changed_todos(db, alice, cursor)
    assert [r["title"] for r in rows] == ["first"]
    cached = db.execute(CACHED).fetchall()
    assert len(cached) == 1 and "to_json" in cached[0][1]

    seed.todo(db, team, "second")
    rows, _ = changed_todos(db, alice, cursor)
    assert [r["title"] for r in rows] == ["second"]
    assert db.execute(CACHED).fetchall() == cached  # read, not written again (the same row version)


def test_a_column_added_or_renamed_is_read_by_the_next_page(db: psycopg.Connection[Any]) -> None:
    alice, team = seed.member(db, "alice", "A")
    cursor = caught_up(db, alice)
    seed.todo(db, team, "before")
    rows, cursor = changed_todos(db, alice, cursor)
    assert "note" not in rows[0]

    db.execute("ALTER TABLE todos ADD COLUMN note text NOT NULL DEFAULT 'added'")
    seed.todo(db, team, "after the column was added")
    rows, cursor = changed_todos(db, alice, cursor)
    assert [(r["title"], r["note"]) for r in rows] == [("after the column was added", "added")]

    # The query names updated_at (a timestamp is checked to be within the wire format's range).
    db.execute("ALTER TABLE todos RENAME COLUMN updated_at TO changed_at")
    seed.todo(db, team, "after the rename")
    rows, cursor = changed_todos(db, alice, cursor)
    assert [r["title"] for r in rows] == ["after the rename"]
    assert "changed_at" in rows[0] and "updated_at" not in rows[0]
    assert len(db.execute(CACHED).fetchall()) == 1  # the entry replaced, not added to
