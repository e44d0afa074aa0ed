"""One pull page called as a host calls it, with the rows it read from one table, and how.

Inside the pulling transaction `pg_stat_xact_user_tables` counts a table's
rows read by sequential scans and fetched through indexes, not yet flushed
to the shared statistics: the counts add up across the session's
transactions, hence the differences around the call.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg


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
        before = _reads(db, table)
        row = db.execute(
            "SELECT drizzlesync.pull(%s, '{}'::jsonb, %s, 1, %s, %s)::text", (user_id, client, cursor, limit)
        ).fetchone()
        after = _reads(db, table)
    assert row is not None
    return json.loads(row[0]), after[0] - before[0], after[1] - before[1]


def _reads(db: psycopg.Connection[Any], table: tuple[str, str]) -> tuple[int, int]:
    row = db.execute(
        "SELECT coalesce(sum(seq_tup_read), 0), coalesce(sum(idx_tup_fetch), 0) "
        "FROM pg_stat_xact_user_tables WHERE schemaname = %s AND relname = %s",
        table,
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
