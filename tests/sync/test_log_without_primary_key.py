"""The change log has no primary key since library version 11: its two readers that used it.

Compaction deletes the entries below the horizon in physical order, each call
from the row after the last one the previous call deleted
(`compaction.resume_after`), then from the log's first block, and reads
nothing while the horizon stays below the last whole pass's
(`compaction.swept_below`). The capture of a TRUNCATE finds its
transaction's entry through `change_log_by_scope`, under the unscoped hash,
instead of walking the whole index.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from tests.sync import seed
from tests.sync.table_reads import rows_read

LOG = ("drizzlesync", "change_log")
POSITION = "SELECT resume_after::text FROM drizzlesync.compaction"
LOGGED = "SELECT l.ctid::text AS address FROM drizzlesync.change_log AS l ORDER BY l.ctid"


def compact(db: psycopg.Connection[Any], batch: int) -> int:
    row = db.execute("SELECT deleted_changes FROM drizzlesync.compact('1 hour', %s)", (batch,)).fetchone()
    assert row is not None
    return int(row[0])


def logged(db: psycopg.Connection[Any]) -> list[str]:
    return [str(r[0]) for r in db.execute(LOGGED)]


def test_a_run_of_compactions_goes_on_from_the_last_row_deleted(db: psycopg.Connection[Any]) -> None:
    # No cursor exists, so every committed entry is below the horizon. Each
    # to-do its own transaction, so that entries do not share a txid.
    _, team = seed.member(db, "alice", "A")
    for i in range(10):
        seed.todo(db, team, f"todo {i}")
    entries = logged(db)
    assert len(entries) >= 12
    assert db.execute(POSITION).fetchone() == ("(0,0)",)

    assert compact(db, 3) == 3
    assert db.execute(POSITION).fetchone() == (entries[2],)
    assert logged(db) == entries[3:]
    assert compact(db, 3) == 3
    assert db.execute(POSITION).fetchone() == (entries[5],)
    assert logged(db) == entries[6:]

    # Fewer than a batch: the whole log was read, and the next run starts from its first block.
    assert compact(db, 1000) == len(entries) - 6
    assert db.execute(POSITION).fetchone() == ("(0,0)",)
    assert logged(db) == []


def test_a_call_reads_the_log_before_its_position_too(db: psycopg.Connection[Any]) -> None:
    """After the position, then from the first block: entries written where vacuum made room are not
    left behind until the next run."""
    _, team = seed.member(db, "alice", "A")
    for i in range(10):
        seed.todo(db, team, f"todo {i}")
    entries = logged(db)
    middle = entries[len(entries) // 2]
    db.execute("UPDATE drizzlesync.compaction SET resume_after = %s::tid", (middle,))

    assert compact(db, 1000) == len(entries)
    assert logged(db) == []
    assert db.execute(POSITION).fetchone() == ("(0,0)",)


def index_blocks(db: psycopg.Connection[Any]) -> int:
    """Blocks of the log's indexes read so far, as the statistics last flushed them."""
    db.execute("SELECT pg_stat_force_next_flush()")  # flushed when the session next waits for a query
    db.execute("SELECT pg_stat_clear_snapshot()")
    row = db.execute(
        "SELECT coalesce(sum(idx_blks_hit + idx_blks_read), 0) FROM pg_statio_all_indexes "
        "WHERE relid = 'drizzlesync.change_log'::regclass"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_truncate_looks_for_its_transaction_s_entry_in_one_range_of_the_scope_index(
    db: psycopg.Connection[Any],
) -> None:
    """Without the unscoped hash the check is planned as a walk of the whole scope index (its
    second column, txid, bounds nothing), or as a scan of the log."""
    _, team = seed.member(db, "alice", "A")
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT %s, 'todo ' || i FROM generate_series(1, 20000) AS i",
        (team,),
    )
    db.execute("ANALYZE drizzlesync.change_log")
    before = index_blocks(db)
    with db.transaction():
        db.execute("TRUNCATE todos CASCADE")
        db.execute("TRUNCATE todos CASCADE")
        seq_scans = db.execute(
            "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'drizzlesync.change_log'::regclass"
        ).fetchone()
        (txid,) = db.execute("SELECT pg_current_xact_id()::text").fetchone() or ("",)
    read = index_blocks(db) - before
    truncates = db.execute(
        "SELECT count(*) FROM drizzlesync.change_log AS l JOIN drizzlesync.synced_table AS t ON "
        "t.id = l.table_id WHERE t.table_name = 'todos' AND l.op = 'T' AND l.txid = %s::xid8",
        (txid,),
    ).fetchone()
    assert truncates == (1,)  # the second TRUNCATE found the first one's entry
    assert seq_scans == (0,)
    # Each check descends to one leaf of the scope index (20,000 entries fill about 60), and
    # each entry written adds a few blocks.
    assert read <= 30


def test_a_call_reads_nothing_while_the_horizon_stays_where_the_last_whole_pass_left_it(
    synced_db: str, db: psycopg.Connection[Any]
) -> None:
    _, team = seed.member(db, "alice", "A")
    with psycopg.connect(synced_db) as holder:
        holder.execute("SELECT pg_current_xact_id()")  # running: the horizon stays below it
        written = [seed.todo(db, team, f"todo {i}") for i in range(5)]
        compact(db, 1000)  # reads the whole log: what is older than the holder goes
        assert len(logged(db)) == 5
        with db.transaction():  # the counts are the session's: a difference within one transaction
            before, _ = rows_read(db, LOG)
            assert compact(db, 1000) == 0
            after, _ = rows_read(db, LOG)
        assert after - before == 0
    # The horizon is the cluster's: a transaction of another database on the same server (a test
    # run beside this one) holds it back too, so wait for the entries to go rather than once.
    deleted, deadline = 0, time.monotonic() + 60
    while deleted < len(written) and time.monotonic() < deadline:
        deleted += compact(db, 1000)
        time.sleep(0 if deleted == len(written) else 0.2)
    assert deleted == len(written)
    assert logged(db) == []
