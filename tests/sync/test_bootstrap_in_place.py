"""A table whose rows are largely the user's is bootstrapped in physical order (library version 10).

Its pages read windows of blocks (TID range scans), not the scope index: the
counters of `pg_stat_xact_user_tables` show rows read by scan and none
through an index. What the physical position could lose is covered here:
rows changed while the bootstrap runs (the change log brings them), a table
rewritten under it (read again from its first block), and a window holding
more rows than the statistics promised (read again, shorter or sorted).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import BumpSchemaVersionOp, EnableSyncOp, InstallOp, UpgradeOp
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops
from tests.sync import seed
from tests.sync.syncclient import SyncClient
from tests.sync.table_reads import pull_reading, raw_pull, rows_read

LIMIT = 1000
ROWS = 6600


@pytest.fixture(params=seed.SCOPE_INDEXES)
def crowded(synced_db: str, request: pytest.FixtureRequest) -> tuple[psycopg.Connection[Any], str, str]:
    """Erin's team holds 6,000 of todos' 6,600 rows, another team's every eleventh. The planner
    says so from the scope index's statistics, or from team_id's own where the table's index on
    (team_id, id) serves the rule."""
    db = psycopg.connect(synced_db, autocommit=True)
    seed.serve_scope(db, request.param)
    erin, team = seed.member(db, "erin", "F")
    _, other = seed.member(db, "frank", "G")
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT CASE WHEN i %% 11 = 0 THEN %s ELSE %s END::uuid, "
        "'todo ' || i FROM generate_series(1, %s) AS i",
        (other, team, ROWS),
    )
    db.execute("VACUUM ANALYZE todos")
    return db, erin, team


def her_todos(db: psycopg.Connection[Any], team: str) -> list[str]:
    return [str(r[0]) for r in db.execute("SELECT id FROM todos WHERE team_id = %s", (team,))]


def test_pages_read_the_table_in_place(crowded: tuple[psycopg.Connection[Any], str, str]) -> None:
    db, erin, team = crowded
    todos: list[str] = []
    sizes: list[int] = []
    reads: list[tuple[int, int]] = []
    cursor = None
    while True:
        page, seq_read, index_fetched = pull_reading(db, erin, cursor, LIMIT, table=("public", "todos"))
        todos += [c["row"]["id"] for c in page["changes"] if c["table"] == "todos"]
        sizes.append(len(page["changes"]))
        reads.append((seq_read, index_fetched))
        cursor = page["cursor"]
        if not page["hasMore"]:
            break
    assert sorted(todos) == sorted(her_todos(db, team))  # each once
    assert all(size == LIMIT for size in sizes[:-1]), sizes  # windows fill pages whole
    # After the first page (whose estimate counts her rows through the scope index): no index at
    # all, and about the blocks of the page's rows (hers are 10 rows in 11).
    assert all(fetched == 0 for _, fetched in reads[1:]), reads
    assert all(0 < seq_read <= 1.5 * LIMIT for seq_read, _ in reads[1:-1]), reads


def test_a_team_among_others_keeps_its_index_range(
    crowded: tuple[psycopg.Connection[Any], str, str],
) -> None:
    """Frank's team is 600 of the 6,600 rows: his pages read the index, never the table."""
    db, _, _ = crowded
    frank = seed.user(db, "frank-too")
    other = db.execute("SELECT team_id FROM todos GROUP BY team_id ORDER BY count(*) LIMIT 1").fetchone()
    assert other is not None
    seed.join(db, frank, str(other[0]))
    cursor = None
    while True:
        page, seq_read, _ = pull_reading(db, frank, cursor, 100, table=("public", "todos"))
        assert seq_read == 0
        cursor = page["cursor"]
        if not page["hasMore"]:
            break


def client_of(http: httpx.Client, user: str) -> SyncClient:
    return SyncClient(http, user, "erin-laptop")


def test_rows_changed_during_the_bootstrap_reach_the_client(
    crowded: tuple[psycopg.Connection[Any], str, str], http: httpx.Client
) -> None:
    """Updates after the first pages write new row versions into the free space a VACUUM left in
    the first blocks, behind the position: the log, not the snapshot, brings them."""
    db, erin, team = crowded
    db.execute("DELETE FROM todos WHERE ctid < '(20,0)' AND title LIKE '%0'")
    db.execute("VACUUM todos")
    client = client_of(http, erin)
    for _ in range(3):
        assert client.pull(LIMIT)["hasMore"]
    db.execute("UPDATE todos SET title = 'moved ' || title WHERE title LIKE '%3' OR title LIKE '%7'")
    behind = db.execute(
        "SELECT count(*) FROM todos WHERE title LIKE 'moved %' AND ctid < '(20,0)'"
    ).fetchone()
    assert behind is not None and behind[0] > 0  # new versions where the pages already served lay
    db.execute("DELETE FROM todos WHERE title LIKE '%9'")
    db.execute("INSERT INTO todos (team_id, title) SELECT %s, 'late' FROM generate_series(1, 50)", (team,))
    client.pull_all(LIMIT)
    assert client.rows == seed.visible_rows(db, erin)


def test_a_table_rewritten_during_the_bootstrap_is_read_again(
    crowded: tuple[psycopg.Connection[Any], str, str], http: httpx.Client
) -> None:
    """VACUUM FULL compacts the table, moving rows not yet served to addresses already passed, and
    logs nothing: the new file node sends the bootstrap back to the table's first block."""
    db, erin, _ = crowded
    db.execute("DELETE FROM todos WHERE ctid < '(40,0)' AND title ~ '[02468]$'")
    client = client_of(http, erin)
    for _ in range(3):
        assert client.pull(LIMIT)["hasMore"]
    db.execute("VACUUM FULL todos")
    client.pull_all(LIMIT)
    assert client.rows == seed.visible_rows(db, erin)
    served = Counter(c["row"]["id"] for c in client.received if c["table"] == "todos")
    assert max(served.values()) == 2  # read again


def test_a_window_holding_more_rows_than_the_statistics_say_is_read_again(
    crowded: tuple[psycopg.Connection[Any], str, str],
) -> None:
    """The statistics say a block holds a ninth of what it does (taken while most rows were
    deleted; then the free space was filled): the first window holds far more than a page and is
    read again shorter (an eighth, down to a few blocks read sorted); no row is lost or sent twice."""
    db, erin, team = crowded
    db.execute("ALTER TABLE todos SET (autovacuum_enabled = off)")
    db.execute("DELETE FROM todos WHERE title !~ '[05]$' AND team_id = %s", (team,))
    db.execute("VACUUM ANALYZE todos")
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT %s, 'refill ' || i FROM generate_series(1, %s) AS i",
        (team, ROWS - 1800),
    )
    stale = db.execute("SELECT reltuples FROM pg_class WHERE oid = 'todos'::regclass").fetchone()
    assert stale is not None and stale[0] < ROWS / 2
    todos: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        page = json.loads(raw_pull(db, erin, "erin", cursor, 500))
        todos += [c["row"]["id"] for c in page["changes"] if c["table"] == "todos"]
        sizes.append(len(page["changes"]))
        cursor = page["cursor"]
        if not page["hasMore"]:
            break
    assert sorted(todos) == sorted(her_todos(db, team))
    assert all(size == 500 for size in sizes[:-1]), sizes


def test_a_rule_without_an_index_is_read_in_place_once(db_url: str) -> None:
    """A rule Postgres cannot index (a timestamptz's text depends on TimeZone) has no scope index:
    in key order every page filtered the whole table (version 9), in place the pages read it once
    between them, whatever the share of the user's rows (a thirtieth here)."""
    operations = (InstallOp(), EnableSyncOp("notes", None, "'day:' || due::date"), BumpSchemaVersionOp(1))
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("CREATE TABLE notes (id integer PRIMARY KEY, due timestamptz NOT NULL)")
        db.execute(
            "INSERT INTO notes SELECT i, timestamptz '2026-11-01 12:00+00' + (i % 30) * interval '1 day' "
            "FROM generate_series(1, 3000) AS i"
        )
        for statement in [s for operation in operations for s in operation.statements()]:
            db.execute(statement)
        db.execute("VACUUM ANALYZE notes")
        day: list[int] = []
        scanned = 0
        cursor = None
        while True:
            with db.transaction():
                db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                before, _ = rows_read(db, ("public", "notes"))
                # Version 1's entry point, which takes the scope keys.
                row = db.execute(
                    "SELECT drizzlesync.pull('u', ARRAY['day:2026-11-30'], 'laptop', 1, %s, 10)::text",
                    (cursor,),
                ).fetchone()
                after, _ = rows_read(db, ("public", "notes"))
            assert row is not None
            page = json.loads(row[0])
            day += [c["row"]["id"] for c in page["changes"]]
            scanned += after - before
            cursor = page["cursor"]
            if not page["hasMore"]:
                break
    assert sorted(day) == list(range(29, 3001, 30))  # the 100 notes of that day, each once
    assert scanned <= 2 * 3000  # in key order: 18,000 (the whole table for each of six pages)


def test_a_bootstrap_paused_in_place_goes_on_after_a_downgrade(
    synced_db: str, crowded: tuple[psycopg.Connection[Any], str, str], http: httpx.Client
) -> None:
    """Version 9 pages by key only: the downgrade sends a cursor paused in a table read in place
    back to that table's first row, and the client still ends with every row."""
    db, erin, _ = crowded
    client = client_of(http, erin)
    for _ in range(3):
        assert client.pull(LIMIT)["hasMore"]
    apply_ops(synced_db, *(UpgradeOp(v, v - 1) for v in range(LIBRARY_VERSION, 9, -1)))
    client.pull_all(LIMIT)
    assert client.resets == 0
    assert client.rows == seed.visible_rows(db, erin)
