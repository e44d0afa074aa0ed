"""Bootstrap pages read the user's rows only: one range scan of the scope index per page, or of the
table's own index on (team_id, id) where it has one and no scope index (library version 13).

The counters of `pg_stat_xact_user_tables` count, inside the pulling
transaction itself, how many rows of `todos` a page read and how: a page of
`limit` rows must fetch at most `limit` rows through an index and scan
nothing. Version 2 of the library objects, which sorted the rows under the
user's scopes in key order, fails the same check (the last test proves it).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from alembic_drizzlesync.ops import UpgradeOp
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops
from tests.sync import seed
from tests.sync.table_reads import PULL_AS_HOST, pull_reading, raw_pull

LIMIT = 10
# What a page may fetch through indexes: its own rows, and one more. On these tiny tables the
# statistics count one heap fetch beyond the rows served in about one page in ten, with the plan a
# range of the user's scope on the scope index (auto_explain); a scan that walks other scopes'
# entries or the scope's served rows again fetches far more (version 2, below).
PAGE_FETCHES = LIMIT + 1


def pull_page(
    db: psycopg.Connection[Any], user_id: str, cursor: str | None
) -> tuple[dict[str, Any], int, int]:
    """One pull page, and the rows of todos it read by sequential scan and through indexes."""
    return pull_reading(db, user_id, cursor, LIMIT, table=("public", "todos"))


def bootstrap(
    db: psycopg.Connection[Any], user_id: str
) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Alice's whole bootstrap: its changes, and what each page read."""
    changes: list[dict[str, Any]] = []
    reads: list[tuple[int, int]] = []
    cursor = None
    while True:
        page, seq_read, index_fetched = pull_page(db, user_id, cursor)
        changes += page["changes"]
        reads.append((seq_read, index_fetched))
        cursor = page["cursor"]
        if not page["hasMore"]:
            return changes, reads


@pytest.fixture(params=seed.SCOPE_INDEXES)
def tenants(synced_db: str, request: pytest.FixtureRequest) -> tuple[psycopg.Connection[Any], str, set[str]]:
    """Alice in two teams of 15 todos each, and a bigger team she is not in."""
    db = psycopg.connect(synced_db, autocommit=True)
    seed.serve_scope(db, request.param)
    alice, first = seed.member(db, "alice", "A")
    second = seed.team(db, "B")
    seed.join(db, alice, second)
    hers = {seed.todo(db, team, f"todo {i}") for team in (first, second) for i in range(15)}
    _, other = seed.member(db, "bob", "C")
    db.execute("INSERT INTO todos (team_id, title) SELECT %s, 'other' FROM generate_series(1, 300)", (other,))
    db.execute("ANALYZE todos")
    return db, alice, hers


def test_a_bootstrap_reads_only_the_users_rows_once_each(
    tenants: tuple[psycopg.Connection[Any], str, set[str]],
) -> None:
    db, alice, hers = tenants
    changes, reads = bootstrap(db, alice)
    todos = [c["row"]["id"] for c in changes if c["table"] == "todos"]
    assert sorted(todos) == sorted(hers)  # every one of hers, once, across pages and both teams
    assert all(c["op"] == "upsert" for c in changes)
    # The first pull also counts her rows through the scope index, once, for the estimated total.
    assert reads[0][1] <= LIMIT + len(hers)
    assert all(seq_read == 0 for seq_read, _ in reads)
    assert all(index_fetched <= PAGE_FETCHES for _, index_fetched in reads[1:]), reads


def test_the_check_sees_version_2_reading_other_scopes(
    synced_db: str, tenants: tuple[psycopg.Connection[Any], str, set[str]]
) -> None:
    db, alice, hers = tenants
    apply_ops(synced_db, *(UpgradeOp(v, v - 1) for v in range(LIBRARY_VERSION, 2, -1)))
    changes, reads = bootstrap(db, alice)
    assert sorted(c["row"]["id"] for c in changes if c["table"] == "todos") == sorted(hers)
    assert any(seq_read > len(hers) or index_fetched > PAGE_FETCHES for seq_read, index_fetched in reads)


def scope_index_blocks_per_page(db: psycopg.Connection[Any], user_id: str, limit: int) -> list[int]:
    """The blocks of todos' scope index that each page of the user's bootstrap read.

    `pg_stat_get_xact_blocks_fetched` counts, inside the pulling transaction,
    the index's blocks read, including the leaf pages a scan walks through
    without returning their entries: rows counts cannot tell a scan that
    starts where the last page stopped from one that starts at the beginning
    of the scope and skips what was served.
    """
    index = db.execute(
        "SELECT to_regclass(drizzlesync.scope_index_name(s))::oid FROM drizzlesync.synced_table AS s"
        " WHERE s.table_name = 'todos'"
    ).fetchone()
    if index == (None,):
        index = db.execute("SELECT 'todos_team_id_id_idx'::regclass::oid").fetchone()
    assert index is not None
    blocks: list[int] = []
    cursor = None
    while True:
        with db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            before = db.execute("SELECT pg_stat_get_xact_blocks_fetched(%s)", index).fetchone()
            row = db.execute(PULL_AS_HOST, (user_id, "desk", cursor, limit)).fetchone()
            after = db.execute("SELECT pg_stat_get_xact_blocks_fetched(%s)", index).fetchone()
        assert row is not None and before is not None and after is not None
        blocks.append(int(after[0]) - int(before[0]))
        page = json.loads(row[0])
        cursor = page["cursor"]
        if not page["hasMore"]:
            return blocks


@pytest.fixture(params=seed.SCOPE_INDEXES)
def big_team(synced_db: str, request: pytest.FixtureRequest) -> tuple[psycopg.Connection[Any], str]:
    """Carol in a team of 6,000 todos (about 60 leaf pages of the scope index), amid another team's
    30,000: a sixth of the table, which is read through the index (a table a quarter hers or more
    would be read in place, test_bootstrap_in_place.py)."""
    db = psycopg.connect(synced_db, autocommit=True)
    seed.serve_scope(db, request.param)
    carol, team = seed.member(db, "carol", "D")
    _, other = seed.member(db, "dave", "E")
    for owner, rows in ((team, 6000), (other, 30000)):
        db.execute(
            "INSERT INTO todos (team_id, title) SELECT %s, 'todo' FROM generate_series(1, %s)", (owner, rows)
        )
    db.execute("VACUUM ANALYZE todos")
    return db, carol


def test_each_page_starts_where_the_last_one_stopped(big_team: tuple[psycopg.Connection[Any], str]) -> None:
    """Pages of 200 over 6,000 rows: each reads a few index blocks, the last as few as the first."""
    db, carol = big_team
    blocks = scope_index_blocks_per_page(db, carol, 200)
    assert len(blocks) >= 30
    assert min(blocks[1:-1]) > 0  # through the scope index, not in place
    # The first pull also counts her rows for the estimate (up to 10,000, all of them here).
    assert max(blocks[1:]) <= 10, blocks


def test_the_check_sees_version_5_skipping_the_rows_served(
    synced_db: str, big_team: tuple[psycopg.Connection[Any], str]
) -> None:
    """Version 5's page bound the scan with `(scope, key) > (last scope, last key)` next to
    `scope = ANY(keys)`, which the index scan cannot start from: every page walked the scope's
    entries from its first."""
    db, carol = big_team
    apply_ops(synced_db, *(UpgradeOp(v, v - 1) for v in range(LIBRARY_VERSION, 5, -1)))
    blocks = scope_index_blocks_per_page(db, carol, 200)
    assert max(blocks[1:]) > 10, blocks


def test_a_page_images_rows_by_the_tables_current_columns(
    tenants: tuple[psycopg.Connection[Any], str, set[str]],
) -> None:
    """The row image's SQL is cached per table (`row_image_cache`): a column added, retyped or
    dropped after a bootstrap is imaged the way the new columns need, not the way the cached SQL
    read the old ones."""
    db, alice, hers = tenants
    bootstrap(db, alice)  # caches the todos image: to_json of the row, its timestamps in range
    db.execute("ALTER TABLE todos ADD COLUMN price money NOT NULL DEFAULT 1.5")
    todos = [c["row"] for c in bootstrap(db, alice)[0] if c["table"] == "todos"]
    assert {t["id"] for t in todos} == hers
    assert {t["price"] for t in todos} == {"1.50"}  # money's wire form; to_json would write "$1.50"
    db.execute("ALTER TABLE todos DROP COLUMN price, ALTER COLUMN done TYPE text")
    todos = [c["row"] for c in bootstrap(db, alice)[0] if c["table"] == "todos"]
    assert {t["id"] for t in todos} == hers
    assert all("price" not in t and t["done"] == "false" for t in todos)


def test_a_page_of_several_tables_is_one_compact_array_of_their_changes(
    tenants: tuple[psycopg.Connection[Any], str, set[str]],
) -> None:
    """Since version 8 a page's pieces (one a table it reaches) are joined as text and the page is
    checked as JSON once: a one-page bootstrap holds every table's changes, in the order pages of
    one change serve them, written compactly as each piece was."""
    db, alice, hers = tenants
    text = raw_pull(db, alice, "one-page", None, 1000)
    page = json.loads(text)
    assert not page["hasMore"]
    tables = [c["table"] for c in page["changes"]]
    assert len(set(tables)) >= 3, tables  # users, teams, memberships and todos: several pieces
    assert {c["row"]["id"] for c in page["changes"] if c["table"] == "todos"} == hers
    changes = json.dumps(page["changes"], separators=(",", ":"), ensure_ascii=False)
    assert f'"changes":{changes}' in text

    one_by_one: list[dict[str, Any]] = []
    cursor = None
    while True:
        single = json.loads(raw_pull(db, alice, "one-by-one", cursor, 1))
        one_by_one += single["changes"]
        cursor = single["cursor"]
        if not single["hasMore"]:
            break
    assert one_by_one == page["changes"]
