"""What a bootstrap's estimated total reads: a scope well over the count's cap is not counted to it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from alembic_drizzlesync.ops import UpgradeOp
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops
from tests.sync import seed
from tests.sync.table_reads import rows_read

ESTIMATE = "SELECT drizzlesync.snapshot_estimate(ARRAY(SELECT drizzlesync.user_scopes(%s, '{}'::jsonb)))"
PROBE = 1_000
"""The rows counted a table before the planner is asked (library version 12)."""


def estimate_reading(db: psycopg.Connection[Any], user_id: str) -> tuple[int, int]:
    """The user's estimated total, and the todos rows its transaction fetched through indexes."""
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        before = rows_read(db, ("public", "todos"))
        row = db.execute(ESTIMATE, (user_id,)).fetchone()
        after = rows_read(db, ("public", "todos"))
    assert row is not None
    return int(row[0]), after[1] - before[1]


def team_among_others(db: psycopg.Connection[Any], rows: int, others: int) -> str:
    """Alice in a team of `rows` todos, amid another team's `others`: more than ANALYZE samples,
    so the planner's figure for her team is an estimate, not a count."""
    alice, team = seed.member(db, "alice", "A")
    _, other = seed.member(db, "bob", "B")
    for owner, count in ((team, rows), (other, others)):
        db.execute(
            "INSERT INTO todos (team_id, title) SELECT %s, 'x' FROM generate_series(1, %s)", (owner, count)
        )
    db.execute("VACUUM ANALYZE todos")
    return alice


@pytest.fixture
def large_team(db: psycopg.Connection[Any]) -> str:
    return team_among_others(db, 40_000, 20_000)


def test_a_scope_far_over_the_cap_is_estimated_from_a_probe(
    db: psycopg.Connection[Any], large_team: str
) -> None:
    estimate, fetched = estimate_reading(db, large_team)
    assert abs(estimate - 40_002) < 40_002 * 0.05  # the planner's, from the scope index's statistics
    assert fetched <= PROBE + 1


def test_the_check_sees_version_11_counting_to_the_cap(
    synced_db: str, db: psycopg.Connection[Any], large_team: str
) -> None:
    apply_ops(synced_db, *(UpgradeOp(v, v - 1) for v in range(LIBRARY_VERSION, 11, -1)))
    estimate, fetched = estimate_reading(db, large_team)
    assert abs(estimate - 40_002) < 40_002 * 0.05
    assert fetched > 10_000


def test_a_scope_between_the_probe_and_the_cap_is_still_counted_exactly(db: psycopg.Connection[Any]) -> None:
    alice = team_among_others(db, 6_000, 60_000)
    estimate, fetched = estimate_reading(db, alice)
    assert estimate == len(seed.visible_rows(db, alice))  # the team, the membership and 6,000 todos
    assert PROBE < fetched <= PROBE + 1 + 6_000  # the probe, then the whole count
