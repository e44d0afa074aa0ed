"""An incremental pull reads the change-log entries of the user's scopes only.

Inside the pulling transaction, `pg_stat_xact_user_tables` counts the rows of
`change_log` that the pull read, and how: a window that holds many entries of
another team and a few of the user's must read about the user's few, through
an index, and scan nothing. Version 4 of the library objects, which walked the
whole window in (txid, seq) order, fails the same check (the last test proves
it). The pulls' results are checked too: entries found through the scope
indexes are the same as before, a move out of the user's team included, and
the index's hash of the scope never lets another team's entries in.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from alembic_drizzlesync.ops import UpgradeOp
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops
from tests.sync import seed
from tests.sync.table_reads import pull_reading

OTHERS = 5000
MINE = 5
# Two team ids whose scope keys ('team:' || id) share their hashtext, the change log's scope
# index key (found among md5-made uuids; the test checks that they still collide).
COLLIDING_TEAMS = ("49d29d80-4a9b-a538-e4ca-092409de2ef9", "74a14dc6-be3d-4697-70f5-3dd3fb93c6c4")


def pull(
    db: psycopg.Connection[Any], user_id: str, cursor: str | None, client: str = "laptop"
) -> tuple[dict[str, Any], int, int]:
    """One pull page, and the change-log rows it read by sequential scan and through indexes."""
    return pull_reading(db, user_id, cursor, 1000, table=("drizzlesync", "change_log"), client=client)


@pytest.fixture
def busy_window(synced_db: str) -> tuple[psycopg.Connection[Any], str, str, list[str], str]:
    """Alice has bootstrapped; then Bob's team adds 5,000 todos and Alice's team 5,
    the last of which then moves to Bob's team. Returns the connection, Alice's id, her cursor, the ids
    of her todos that changed and the id of the one that moved."""
    db = psycopg.connect(synced_db, autocommit=True)
    alice, hers = seed.member(db, "alice", "A")
    _, bobs = seed.member(db, "bob", "B")
    mine = [seed.todo(db, hers, f"mine {i}") for i in range(MINE)]
    page, _, _ = pull(db, alice, None)
    assert not page["hasMore"]
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT %s, 'other ' || i FROM generate_series(1, %s) AS i",
        (bobs, OTHERS),
    )
    db.execute("UPDATE todos SET done = true WHERE team_id = %s", (hers,))
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (bobs, mine[-1]))
    db.execute("ANALYZE drizzlesync.change_log")
    return db, alice, page["cursor"], mine, mine[-1]


def bobs_team(db: psycopg.Connection[Any]) -> str:
    row = db.execute("SELECT id::text FROM teams WHERE name = 'B'").fetchone()
    assert row is not None
    return str(row[0])


def check_window(busy_window: tuple[psycopg.Connection[Any], str, str, list[str], str]) -> tuple[int, int]:
    """Alice's pull of the window: her changes come right; returns the log rows it read."""
    db, alice, cursor, mine, moved = busy_window
    page, seq_read, index_fetched = pull(db, alice, cursor)
    assert not page["hasMore"]
    todos = {(c["op"], c["row"]["id"] if c["op"] == "upsert" else c["pk"]["id"]) for c in page["changes"]}
    assert todos == {("upsert", todo) for todo in mine[:-1]} | {("delete", moved)}
    return seq_read, index_fetched


def test_a_pull_reads_only_the_log_entries_of_the_users_scopes(
    busy_window: tuple[psycopg.Connection[Any], str, str, list[str], str],
) -> None:
    db, *_ = busy_window
    seq_read, index_fetched = check_window(busy_window)
    assert seq_read == 0
    # At most every entry ever written that is not Bob's team's alone (her team's, its
    # membership's, the move's, found under each of its two scopes), and none of Bob's 5,000,
    # give or take the few the planner reads from the indexes' ends to estimate a range, and the
    # first entry of each non-empty range, which the test for an idle poll reads before the full
    # pull (library version 8: LIMIT 1 in each of the window's four ranges).
    row = db.execute(
        "SELECT count(*) FROM drizzlesync.change_log "
        "WHERE coalesce(scope_after, scope_before) IS DISTINCT FROM 'team:' || %s "
        "   OR scope_before <> scope_after",
        (bobs_team(db),),
    ).fetchone()
    assert row is not None
    not_only_bobs = int(row[0])
    assert not_only_bobs < 30
    assert index_fetched <= not_only_bobs + 10 + 4


def test_the_check_sees_version_4_reading_other_scopes(
    synced_db: str, busy_window: tuple[psycopg.Connection[Any], str, str, list[str], str]
) -> None:
    # Down one version at a time from the current one: a step's downgrade expects the version after it.
    apply_ops(synced_db, *(UpgradeOp(v, v - 1) for v in range(LIBRARY_VERSION, 4, -1)))
    seq_read, index_fetched = check_window(busy_window)
    assert seq_read + index_fetched >= OTHERS


def test_a_team_whose_scope_shares_the_hash_stays_out_of_the_window(synced_db: str) -> None:
    db = psycopg.connect(synced_db, autocommit=True)
    mine_team, theirs_team = COLLIDING_TEAMS
    row = db.execute(
        "SELECT hashtext('team:' || %s) = hashtext('team:' || %s)", (mine_team, theirs_team)
    ).fetchone()
    assert row == (True,)
    db.execute("INSERT INTO teams (id, name) VALUES (%s, 'A'), (%s, 'B')", COLLIDING_TEAMS)
    alice, bob = seed.user(db, "alice"), seed.user(db, "bob")
    seed.join(db, alice, mine_team)
    seed.join(db, bob, theirs_team)
    page, _, _ = pull(db, alice, None)
    mine = [seed.todo(db, mine_team, f"mine {i}") for i in range(MINE)]
    theirs = [seed.todo(db, theirs_team, f"theirs {i}") for i in range(MINE)]
    # A move out of Bob's team is found under its scope before, too: not by Alice.
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (seed.team(db, "C"), theirs.pop()))
    page, _, _ = pull(db, alice, page["cursor"])
    assert {c["row"]["id"] for c in page["changes"] if c["op"] == "upsert"} == set(mine)
    assert not [c for c in page["changes"] if c["op"] == "delete"]
    # Bob's pull likewise sees his team's todos only.
    page, _, _ = pull(db, bob, None, "bobs-phone")
    theirs.append(seed.todo(db, theirs_team, "theirs after"))
    seed.todo(db, mine_team, "mine after")
    page, _, _ = pull(db, bob, page["cursor"], "bobs-phone")
    assert [c["row"]["id"] for c in page["changes"]] == [theirs[-1]]


def test_the_window_reads_ranges_of_the_scope_hash_column(
    busy_window: tuple[psycopg.Connection[Any], str, str, list[str], str],
) -> None:
    """Library version 9 writes the scope's hash as a column (scope_hash) where version 5 to 8
    indexed an expression of the scope: the plan of window_page's read of the log (auto_explain,
    nested statements, with buffers) must still be one range of change_log_by_scope per relevant key,
    each touching a few pages, and no range of the dropped index of moves' scopes before."""
    db, alice, cursor, _, _ = busy_window
    plans: list[str] = []
    db.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
    db.execute("LOAD 'auto_explain'")
    for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_analyze = on",
                    "log_buffers = on", "log_timing = off"):  # fmt: skip
        db.execute(f"SET auto_explain.{setting}")
    db.execute("SET client_min_messages = log")
    check_window(busy_window)
    db.execute("RESET client_min_messages")
    (window,) = [p for p in plans if "array_agg(e.txid)" in p]
    assert "Seq Scan on change_log" not in window
    assert "change_log_by_scope_before" not in window
    ranges = re.findall(
        r"Index Scan using change_log_by_scope on change_log c[^\n]*\n(?:.*\n)*?.*Buffers: shared hit=(\d+)",
        window,
    )
    assert ranges, window
    # Bob's 5,000 entries fill about 60 pages of the index and the log: a range reading them would
    # touch at least that many.
    assert all(int(hit) < 40 for hit in ranges), window
