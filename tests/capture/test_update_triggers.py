"""Version 6's UPDATE capture: which triggers each kind of synced table gets, what they log for a
scope of any column type, and the downgrade back to version 5's single pairing trigger."""

from __future__ import annotations

from typing import Any

import psycopg

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import EnableSyncOp, InstallOp, UpgradeOp
from tests.support import apply_ops, catalog_dump, drain_change_log, execute

TABLES = """
CREATE TABLE todos (id integer PRIMARY KEY, team text NOT NULL, title text);
CREATE TABLE notes (id integer PRIMARY KEY, meta json NOT NULL, body text);
CREATE TABLE readings (id integer, at date, value text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE readings_2025 PARTITION OF readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
"""


def update_triggers(db: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = db.execute(
        "SELECT c.relname, g.tgname FROM pg_trigger AS g JOIN pg_class AS c ON c.oid = g.tgrelid"
        " WHERE g.tgname LIKE 'drizzlesync\\_capture\\_update%' ORDER BY 1, 2"
    ).fetchall()
    return [(str(table), str(trigger)) for table, trigger in rows]


def enable_all(db_url: str) -> None:
    execute(db_url, *TABLES.strip().split(";\n"))
    apply_ops(
        db_url, EnableSyncOp("todos", scope="'team:' || team"), EnableSyncOp("notes", scope="meta->>'team'")
    )
    execute(db_url, "SELECT drizzlesync.enable_sync('public', 'readings')")


def test_plain_tables_get_the_split_update_capture_and_partitioned_ones_keep_the_pairing(db_url: str) -> None:
    apply_ops(db_url, InstallOp())
    enable_all(db_url)
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        assert update_triggers(db) == [
            ("notes", "drizzlesync_capture_update_keys"),
            ("notes", "drizzlesync_capture_update_move"),
            ("readings", "drizzlesync_capture_update"),
            ("readings_2025", "drizzlesync_capture_update"),
            ("todos", "drizzlesync_capture_update_keys"),
            ("todos", "drizzlesync_capture_update_move"),
        ]
        # json has no `=`: the move trigger compares binary images.
        db.execute("""INSERT INTO notes VALUES (1, '{"team": "a"}', 'x')""")
        db.execute("UPDATE notes SET body = 'y'")
        db.execute("""UPDATE notes SET meta = '{"team": "a"}'""")  # another json value, same scope
        db.execute("""UPDATE notes SET meta = '{"team": "b"}'""")
        assert drain_change_log(db) == [
            ("I", '{"id": 1}', None, "a"),
            ("U", '{"id": 1}', "a", "a"),
            ("U", '{"id": 1}', "a", "a"),
            ("D", '{"id": 1}', "a", None),
            ("U", '{"id": 1}', "b", "b"),
        ]


def test_a_rule_reading_the_whole_row_names_no_columns(db_url: str) -> None:
    apply_ops(db_url, InstallOp())
    execute(db_url, "CREATE TABLE todos (id integer PRIMARY KEY, team text NOT NULL)")
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        columns = db.execute(
            "SELECT drizzlesync.scope_columns('todos', 'team || id'),"
            " drizzlesync.scope_columns('todos', 'todos'),"
            " drizzlesync.scope_columns('todos', $$'everyone'$$), drizzlesync.scope_columns('todos', NULL)"
        ).fetchone()
        assert columns == (["id", "team"], None, [], [])
        # The probe view is gone: the next call can make it again.
        assert db.execute("SELECT to_regclass('pg_temp.drizzlesync_scope_probe')").fetchone() == (None,)


def test_upgrade_from_version_5_splits_the_triggers_and_the_downgrade_restores_its_catalog(
    db_url: str,
) -> None:
    apply_ops(db_url, InstallOp(5))
    enable_all(db_url)
    before = catalog_dump(db_url)
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        assert [trigger for _, trigger in update_triggers(db)] == ["drizzlesync_capture_update"] * 4
        db.execute("INSERT INTO todos VALUES (1, 'a', 'x')")
        apply_ops(db_url, UpgradeOp(5, 6))
        assert len(update_triggers(db)) == 6
        db.execute("UPDATE todos SET team = 'b'")
        assert drain_change_log(db)[1:] == [
            ("D", '{"id": 1}', "team:a", None),
            ("U", '{"id": 1}', "team:b", "team:b"),
        ]
        apply_ops(db_url, UpgradeOp(6, 5))
        db.execute("UPDATE todos SET team = 'c'")
        assert drain_change_log(db) == [("U", '{"id": 1}', "team:b", "team:c")]
        db.execute("DELETE FROM todos")
    assert catalog_dump(db_url) == before
