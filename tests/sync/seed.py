"""Rows of the example app, written straight through SQL as a server-side writer would; and the
index that serves todos' scope."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.sync.syncclient import row_key

SCOPE_INDEXES = ("scope index", "own index")
"""What serves todos' scope: the library's scope index, or the table's own index on (team_id, id)."""


def serve_scope(db: psycopg.Connection[Any], by: str) -> None:
    """Leave todos' scope to the library's index, or index (team_id, id) and let index_scope drop it."""
    if by == "own index":
        db.execute("CREATE INDEX todos_team_id_id_idx ON todos (team_id, id)")
        db.execute(
            "SELECT drizzlesync.index_scope(s) FROM drizzlesync.synced_table AS s"
            " WHERE s.table_name = 'todos'"
        )
    row = db.execute(
        "SELECT to_regclass(drizzlesync.scope_index_name(s)) IS NULL FROM drizzlesync.synced_table AS s"
        " WHERE s.table_name = 'todos'"
    ).fetchone()
    assert row == (by == "own index",)


def user(db: psycopg.Connection[Any], name: str) -> str:
    row = db.execute(
        "INSERT INTO users (email, name) VALUES (%s, %s) RETURNING id::text", (f"{name}@example.com", name)
    ).fetchone()
    assert row is not None
    return str(row[0])


def team(db: psycopg.Connection[Any], name: str) -> str:
    row = db.execute("INSERT INTO teams (name) VALUES (%s) RETURNING id::text", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def join(db: psycopg.Connection[Any], user_id: str, team_id: str) -> None:
    db.execute("INSERT INTO memberships (user_id, team_id) VALUES (%s, %s)", (user_id, team_id))


def member(db: psycopg.Connection[Any], user_name: str, team_name: str) -> tuple[str, str]:
    """A new user who has joined a new team: (user id, team id)."""
    user_id, team_id = user(db, user_name), team(db, team_name)
    join(db, user_id, team_id)
    return user_id, team_id


def leave(db: psycopg.Connection[Any], user_id: str, team_id: str) -> None:
    db.execute("DELETE FROM memberships WHERE user_id = %s AND team_id = %s", (user_id, team_id))


def todo(db: psycopg.Connection[Any], team_id: str, title: str) -> str:
    row = db.execute(
        "INSERT INTO todos (team_id, title) VALUES (%s, %s) RETURNING id::text", (team_id, title)
    ).fetchone()
    assert row is not None
    return str(row[0])


def visible_rows(db: psycopg.Connection[Any], user_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every synced row the user's scopes cover, keyed like `SyncClient.rows`."""
    keys = [
        r[0]
        for r in db.execute(
            "SELECT 'team:' || team_id FROM memberships WHERE user_id::text = %s", (user_id,)
        ).fetchall()
    ]
    scope_column = {"teams": "id", "memberships": "team_id", "projects": "team_id", "todos": "team_id"}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for table in scope_column:
        for (image,) in db.execute(
            f"SELECT to_jsonb(t) FROM {table} AS t WHERE 'team:' || t.{scope_column[table]} = ANY(%s)",
            (keys,),
        ):
            rows[row_key(table, image)] = image
    return rows
