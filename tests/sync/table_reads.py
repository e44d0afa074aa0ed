"""One pull page called as a host calls it (its text), and with the rows it read from one table.

Inside the pulling transaction `pg_stat_xact_user_tables` counts a table's
rows read by sequential scans and fetched through indexes, not yet flushed
to the shared statistics: the counts add up across the session's
transactions, hence the differences around the call.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

PULL_AS_HOST = "SELECT drizzlesync.pull(%s, '{}'::jsonb, %s, 1, %s, %s)::text"
"""The hosts' entry point, read as text as the hosts read it: user id, client id, cursor, limit."""


def raw_pull(db: psycopg.Connection[Any], user_id: str, client: str, cursor: str | None, limit: int) -> str:
    """One pull page's text, as the host reads it, in its own REPEATABLE READ transaction."""
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = db.execute(PULL_AS_HOST, (user_id, client, cursor, limit)).fetchone()
    assert row is not None
    return str(row[0])


def caught_up(db: psycopg.Connection[Any], user_id: str, client: str = "laptop", limit: int = 100) -> str:
    """The cursor after pulling every page from none, as the host reads them."""
    cursor = None
    while True:
        page = json.loads(raw_pull(db, user_id, client, cursor, limit))
        cursor = page["cursor"]
        if not page["hasMore"]:
            return str(cursor)


def pull_reading(
    db: psycopg.Connection[Any],
    user_id: str,
    cursor: str | None,
    limit: int,
    *,
    table: tuple[str, str],
    client: str = "laptop",
) -> tuple[dict[str, Any], int, int]:
    """The pull response, and the rows of `table` (schema, name) it read by seq scan and through indexes."""
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        before = rows_read(db, table)
        row = db.execute(PULL_AS_HOST, (user_id, client, cursor, limit)).fetchone()
        after = rows_read(db, table)
    assert row is not None
    return json.loads(row[0]), after[0] - before[0], after[1] - before[1]


def rows_read(db: psycopg.Connection[Any], table: tuple[str, str]) -> tuple[int, int]:
    """The rows of `table` (schema, name) read by sequential or TID scans and fetched through indexes
    so far: the session's counts, not yet flushed, so only a difference within one transaction
    belongs to that transaction."""
    row = db.execute(
        "SELECT coalesce(sum(seq_tup_read), 0), coalesce(sum(idx_tup_fetch), 0) "
        "FROM pg_stat_xact_user_tables WHERE schemaname = %s AND relname = %s",
        table,
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
