"""Library version 14: a table its own index serves has statistics on its scope rule's text.

The scope index gave the planner statistics on the rule's text; a table
served by its own index (version 13) has none of its own, so version 14 makes
a statistics object on the rule's expression for the table and each of its
partitions, built by ANALYZE, and the registry keeps them as it keeps the
scope index. What they were for: tests/sync/test_push_reads.py. Version 15
drops them (push tests the rule's column instead, and a statistics object on
an expression costs every statement planned on its table); its downgrade
makes them again.
"""

from __future__ import annotations

import psycopg

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import (
    DisableSyncOp,
    EnableSyncOp,
    InstallOp,
    RefreshScopeIndexOp,
    SetSyncScopeOp,
    UpgradeOp,
)
from tests.plugin.test_scope_index import scope_indexes
from tests.support import apply_ops, execute

TABLES = (
    "CREATE TABLE notes (id bigint PRIMARY KEY, team integer)",
    "CREATE INDEX notes_team ON notes (team, id)",
    "CREATE TABLE other (id bigint PRIMARY KEY, team integer)",
    # Partitioned by its scope column, whose primary key starts with it: the key serves the rule.
    "CREATE TABLE parts (team integer, id bigint, PRIMARY KEY (team, id)) PARTITION BY LIST (team)",
    "CREATE TABLE parts_1 PARTITION OF parts FOR VALUES IN (1)",
    "INSERT INTO notes SELECT i, i % 7 FROM generate_series(1, 200) AS i",
    "INSERT INTO parts SELECT 1, i FROM generate_series(1, 200) AS i",
)
RULE = "'team:' || team"


def statistics(url: str) -> list[tuple[str, str, bool]]:
    """(relation, statistics object, whether ANALYZE has built it) of every scope rule's statistics."""
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT c.relname, s.stxname,"
            " EXISTS (SELECT FROM pg_statistic_ext_data AS d"
            "         WHERE d.stxoid = s.oid AND d.stxdexpr IS NOT NULL)"
            " FROM pg_statistic_ext AS s JOIN pg_class AS c ON c.oid = s.stxrelid"
            " WHERE starts_with(s.stxname, 'drizzlesync_scope_') ORDER BY 1"
        ).fetchall()
    return [(str(relation), str(name), bool(built)) for relation, name, built in rows]


def partition_oid(url: str, name: str) -> int:
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        row = conn.execute("SELECT %s::regclass::oid", (name,)).fetchone()
    assert row is not None
    return int(row[0])


def test_version_14_gives_the_tables_their_index_serves_statistics_and_its_downgrade_drops_them(
    db_url: str,
) -> None:
    execute(db_url, *TABLES)
    apply_ops(
        db_url,
        InstallOp(13),
        EnableSyncOp("notes", None, RULE),
        EnableSyncOp("other", None, RULE),
        EnableSyncOp("parts", None, RULE),
    )
    assert statistics(db_url) == []
    apply_ops(db_url, UpgradeOp(13, 14))
    assert statistics(db_url) == [
        ("notes", "drizzlesync_scope_1", True),
        ("parts", "drizzlesync_scope_3", True),
        ("parts_1", f"drizzlesync_scope_3_{partition_oid(db_url, 'parts_1')}", True),
    ]  # other keeps its scope index, which has the statistics of its expression
    assert [table for table, _ in scope_indexes(db_url)] == ["other"]
    apply_ops(db_url, UpgradeOp(14, 13))
    assert statistics(db_url) == []
    assert [table for table, _ in scope_indexes(db_url)] == ["other"]


def test_the_registry_keeps_the_statistics_through_partitions_indexes_rescope_and_disable(
    db_url: str,
) -> None:
    execute(db_url, *TABLES)
    apply_ops(db_url, InstallOp(14), EnableSyncOp("notes", None, RULE), EnableSyncOp("parts", None, RULE))
    assert [name for _, name, _ in statistics(db_url)][:2] == ["drizzlesync_scope_1", "drizzlesync_scope_2"]
    # A partition attached since: the refresh gives it its own.
    execute(db_url, "CREATE TABLE parts_2 PARTITION OF parts FOR VALUES IN (2)")
    apply_ops(db_url, RefreshScopeIndexOp("parts"))
    assert [relation for relation, _, _ in statistics(db_url)] == ["notes", "parts", "parts_1", "parts_2"]
    # The table's index gone: the scope index in place of the statistics.
    execute(db_url, "DROP INDEX notes_team")
    apply_ops(db_url, RefreshScopeIndexOp("notes"))
    assert [relation for relation, _, _ in statistics(db_url)] == ["parts", "parts_1", "parts_2"]
    assert [table for table, _ in scope_indexes(db_url)] == ["notes"]
    # A rule the index does not serve, then the table no longer synced: none left.
    apply_ops(db_url, SetSyncScopeOp("parts", None, "'t:' || id", RULE))
    assert statistics(db_url) == []
    apply_ops(db_url, SetSyncScopeOp("parts", None, RULE, "'t:' || id"))
    assert [relation for relation, _, _ in statistics(db_url)] == ["parts", "parts_1", "parts_2"]
    apply_ops(db_url, DisableSyncOp("parts", None))
    assert statistics(db_url) == []


def test_version_15_drops_the_statistics_and_its_downgrade_makes_them_again(db_url: str) -> None:
    execute(db_url, *TABLES)
    apply_ops(db_url, InstallOp(14), EnableSyncOp("notes", None, RULE), EnableSyncOp("parts", None, RULE))
    made = statistics(db_url)
    assert [relation for relation, _, _ in made] == ["notes", "parts", "parts_1"]
    apply_ops(db_url, UpgradeOp(14, 15))
    assert statistics(db_url) == []
    # A partition attached and the registry refreshed under version 15: still none.
    execute(db_url, "CREATE TABLE parts_2 PARTITION OF parts FOR VALUES IN (2)")
    apply_ops(db_url, RefreshScopeIndexOp("parts"), RefreshScopeIndexOp("notes"))
    assert statistics(db_url) == []
    apply_ops(db_url, UpgradeOp(15, 14))
    assert [relation for relation, _, _ in statistics(db_url)] == ["notes", "parts", "parts_1", "parts_2"]
