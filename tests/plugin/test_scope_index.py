"""Library version 3 keeps a (scope key, primary key) index on every scoped table."""

from __future__ import annotations

import psycopg
from alembic import command
from alembic.config import Config

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import (
    BumpSchemaVersionOp,
    DisableSyncOp,
    EnableSyncOp,
    InstallOp,
    SetSyncScopeOp,
)
from tests.support import apply_ops, catalog_dump, execute


def scope_indexes(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT tablename, indexdef FROM pg_indexes "
            "WHERE indexname LIKE 'drizzlesync\\_scope\\_%' ORDER BY 1"
        ).fetchall()
    return [(str(table), str(definition)) for table, definition in rows]


def test_the_registry_keeps_the_index_through_enable_rescope_and_disable(db_url: str) -> None:
    execute(db_url, "CREATE TABLE notes (id uuid PRIMARY KEY, team_id uuid, owner text)")
    apply_ops(db_url, InstallOp(), EnableSyncOp("notes", None, "'team:' || team_id"))
    [(table, definition)] = scope_indexes(db_url)
    assert table == "notes" and "'team:'::text || team_id" in definition and definition.endswith(", id)")

    apply_ops(db_url, SetSyncScopeOp("notes", None, "'user:' || owner", "'team:' || team_id"))
    [(_, definition)] = scope_indexes(db_url)
    assert "'user:'::text || owner" in definition, definition

    apply_ops(db_url, SetSyncScopeOp("notes", None, None, "'user:' || owner"))
    assert scope_indexes(db_url) == []
    apply_ops(db_url, SetSyncScopeOp("notes", None, "'user:' || owner", None), DisableSyncOp("notes", None))
    assert scope_indexes(db_url) == []


def test_a_rule_postgres_cannot_index_still_syncs_and_the_migration_says_why(db_url: str) -> None:
    # The text form of a timestamptz depends on TimeZone: no index can hold it.
    execute(db_url, "CREATE TABLE notes (id integer PRIMARY KEY, due timestamptz)")
    execute(db_url, "INSERT INTO notes VALUES (1, '2026-11-30 12:00+00')")
    warnings: list[str] = []
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as conn:
        conn.add_notice_handler(lambda notice: warnings.append(notice.message_primary or ""))
        operations = (InstallOp(), EnableSyncOp("notes", None, "'day:' || due::date"), BumpSchemaVersionOp(1))
        for statement in [s for operation in operations for s in operation.statements()]:
            conn.execute(statement)
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = conn.execute(  # version 1's entry point, which takes the scope keys
                "SELECT drizzlesync.pull('u', ARRAY['day:2026-11-30'], 'laptop', 1, NULL, 100)::jsonb"
                " -> 'changes'"
            ).fetchone()
    assert [w for w in warnings if "cannot be indexed" in w and "IMMUTABLE" in w]
    assert scope_indexes(db_url) == []
    assert row is not None and [c["row"]["id"] for c in row[0]] == [1]


def test_version_3_downgrades_to_version_2_exactly(db_url: str, example_config: Config) -> None:
    command.upgrade(example_config, "0002")
    version_2 = catalog_dump(db_url)
    command.upgrade(example_config, "0003")
    assert len(scope_indexes(db_url)) == 4
    command.downgrade(example_config, "0002")
    assert catalog_dump(db_url) == version_2
