"""Each table's pull page query runs from a function of its own, which keeps its plan (library
version 21).

`page_statement` names `page_of_<hash of the query>`, made by the first page
that needs it; a table whose shape changes gets a new query and so a new
function. No one but the library's owner may call one. Where one cannot be
made (another pull is making it), and on a page of more than 500 log
entries, the page runs the query itself.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import psycopg

from alembic_drizzlesync.ops import UpgradeOp
from tests.support import apply_ops
from tests.sync import seed
from tests.sync.table_reads import caught_up, raw_pull

QUERY = (
    "SELECT c.query FROM drizzlesync.page_query_cache AS c "
    "JOIN drizzlesync.synced_table AS t ON t.id = c.table_id WHERE t.table_name = 'todos'"
)
FUNCTIONS = (
    "SELECT p.proname::text, has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc AS p "
    "WHERE p.pronamespace = 'drizzlesync'::regnamespace AND p.proname ~ '^page_of_' ORDER BY p.oid"
)
CALLS = (
    "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
    " WHERE schemaname = 'drizzlesync' AND funcname ~ '^page_of_'"
)


def titles(page: str) -> list[str]:
    return [c["row"]["title"] for c in json.loads(page)["changes"] if c["table"] == "todos"]


def function_of_todos(db: psycopg.Connection[Any]) -> str:
    row = db.execute(QUERY).fetchone()
    assert row is not None
    return "page_of_" + hashlib.sha256(row[0].encode()).hexdigest()[:40]


def counted_pull(db: psycopg.Connection[Any], user: str, cursor: str, limit: int) -> tuple[str, int]:
    """A pull page's text and how many calls of page functions it made."""
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        db.execute("SET LOCAL track_functions = 'pl'")
        # The view also counts calls of earlier transactions not yet reported: take the difference.
        before = db.execute(CALLS).fetchone()
        row = db.execute(
            "SELECT drizzlesync.pull(%s, '{}'::jsonb, 'laptop', 1, %s, %s)::text", (user, cursor, limit)
        ).fetchone()
        after = db.execute(CALLS).fetchone()
    assert row is not None and before is not None and after is not None
    return str(row[0]), int(after[0]) - int(before[0])


def test_a_page_runs_from_its_tables_function(db: psycopg.Connection[Any]) -> None:
    alice, team = seed.member(db, "alice", "A")
    cursor = caught_up(db, alice)
    seed.todo(db, team, "first")
    page, calls = counted_pull(db, alice, cursor, 100)
    assert titles(page) == ["first"]
    assert calls == 1
    functions = db.execute(FUNCTIONS).fetchall()
    assert (function_of_todos(db), False) in functions  # made, and PUBLIC may not call it


def test_a_page_of_more_than_500_entries_runs_the_query_itself(db: psycopg.Connection[Any]) -> None:
    """Its plan is a small part of such a page, and the function would copy its text four more times."""
    alice, team = seed.member(db, "alice", "A")
    cursor = caught_up(db, alice)
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT %s, 'todo ' || i FROM generate_series(1, 501) AS i",
        (team,),
    )
    page, calls = counted_pull(db, alice, cursor, 1000)
    assert len(titles(page)) == 501
    assert calls == 0


def test_a_table_whose_shape_changes_gets_a_new_function(db: psycopg.Connection[Any]) -> None:
    alice, team = seed.member(db, "alice", "A")
    cursor = caught_up(db, alice)
    seed.todo(db, team, "before")
    page = raw_pull(db, alice, "laptop", cursor, 100)
    assert titles(page) == ["before"]
    first = function_of_todos(db)

    db.execute("ALTER TABLE todos ADD COLUMN note text NOT NULL DEFAULT 'added'")
    seed.todo(db, team, "after")
    page = raw_pull(db, alice, "laptop", json.loads(page)["cursor"], 100)
    assert [(c["row"]["title"], c["row"]["note"]) for c in json.loads(page)["changes"]] == [
        ("after", "added")
    ]
    second = function_of_todos(db)
    assert second != first
    names = [name for name, _ in db.execute(FUNCTIONS).fetchall()]
    assert first in names and second in names


def test_a_page_whose_function_another_pull_is_making_runs_the_query_itself(
    db: psycopg.Connection[Any],
) -> None:
    """Bob's pull makes the function in a transaction still open; Alice's pull, which needs the same
    one, waits for it, finds it made when Bob's commits (a unique violation) and runs the query."""
    alice, team = seed.member(db, "alice", "A")
    bob = seed.user(db, "bob")
    seed.join(db, bob, team)
    cursors = {user: caught_up(db, user, client) for user, client in ((alice, "laptop"), (bob, "phone"))}
    seed.todo(db, team, "shared")
    answers: dict[str, str] = {}
    with psycopg.connect(db.info.dsn) as bobs, psycopg.connect(db.info.dsn, autocommit=True) as alices:
        bobs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = bobs.execute(
            "SELECT drizzlesync.pull(%s, '{}'::jsonb, 'phone', 1, %s, 100)::text", (bob, cursors[bob])
        ).fetchone()
        assert row is not None and titles(row[0]) == ["shared"]

        def alices_pull() -> None:
            answers["alice"] = raw_pull(alices, alice, "laptop", cursors[alice], 100)

        pulling = threading.Thread(target=alices_pull)
        pulling.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not db.execute(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock')",
            (alices.info.backend_pid,),
        ).fetchone() == (True,):
            time.sleep(0.02)
        assert pulling.is_alive(), "Alice's pull should wait for Bob's function"
        bobs.commit()
        pulling.join(10)
    assert titles(answers["alice"]) == ["shared"]
    assert [name for name, _ in db.execute(FUNCTIONS).fetchall()] == [function_of_todos(db)]


def test_the_downgrade_drops_every_page_function(synced_db: str, db: psycopg.Connection[Any]) -> None:
    alice, team = seed.member(db, "alice", "A")
    cursor = caught_up(db, alice)
    seed.todo(db, team, "first")
    raw_pull(db, alice, "laptop", cursor, 100)
    assert len(db.execute(FUNCTIONS).fetchall()) == 1
    apply_ops(synced_db, UpgradeOp(21, 20))
    assert db.execute(FUNCTIONS).fetchall() == []
