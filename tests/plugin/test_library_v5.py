"""Version 5 of the library objects: its downgrade restores version 4 exactly, and a pull commits
its cursor without waiting for the WAL flush (the setting is the pull's transaction's own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import UpgradeOp
from tests.support import EXAMPLE, apply_ops, catalog_dump
from tests.sync import seed


def example_revision_upgrading_to(version: int) -> tuple[str, str]:
    """The example's revision that moves the library objects to `version`, and the one before it."""
    for script in ScriptDirectory(str(EXAMPLE / "migrations")).walk_revisions():
        if f"op.upgrade_drizzlesync({version - 1}, {version})" in Path(script.path).read_text():
            assert isinstance(script.down_revision, str)
            return script.revision, script.down_revision
    raise AssertionError(f"no example revision upgrades to version {version}")


def synchronous_commit_after_a_pull(url: str, name: str) -> tuple[str, str]:
    """synchronous_commit inside a pull's transaction after the call, and in the next transaction."""
    with psycopg.connect(localdb.libpq_url(url), autocommit=True) as db:
        user, _ = seed.member(db, name, name)
        with db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            db.execute("SELECT drizzlesync.pull(%s, '{}'::jsonb, %s, 1, NULL, 100)", (user, f"{name}-laptop"))
            inside = db.execute("SELECT current_setting('synchronous_commit')").fetchone()
        after = db.execute("SELECT current_setting('synchronous_commit')").fetchone()
    assert inside is not None and after is not None
    return str(inside[0]), str(after[0])


def test_downgrade_to_version_4_restores_its_objects(db_url: str, example_config: Config) -> None:
    version_5, version_4 = example_revision_upgrading_to(5)
    command.upgrade(example_config, version_4)
    before = catalog_dump(db_url)
    assert synchronous_commit_after_a_pull(db_url, "alice") == ("on", "on")
    command.upgrade(example_config, version_5)  # op.upgrade_drizzlesync(4, 5)
    assert synchronous_commit_after_a_pull(db_url, "bob") == ("off", "on")
    apply_ops(db_url, UpgradeOp(5, 4))
    assert catalog_dump(db_url) == before


PARTITIONED = """
CREATE TABLE readings (id integer, at date, value text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE readings_2024 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE readings_2025 (value text, gone integer, at date NOT NULL, id integer NOT NULL);
ALTER TABLE readings_2025 DROP COLUMN gone;
ALTER TABLE readings ATTACH PARTITION readings_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT drizzlesync.enable_sync('public', 'readings');
"""


def partition_triggers(db: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = db.execute(
        "SELECT c.relname, g.tgname FROM pg_trigger AS g JOIN pg_class AS c ON c.oid = g.tgrelid"
        " WHERE c.relispartition AND NOT g.tgisinternal ORDER BY 1, 2"
    ).fetchall()
    return [(str(table), str(trigger)) for table, trigger in rows]


def logged_keys(db: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = db.execute("SELECT op::text, pk::text FROM drizzlesync.change_log ORDER BY seq").fetchall()
    return [(str(op), str(pk)) for op, pk in rows]


def test_upgrade_captures_the_partitions_of_tables_synced_before_and_the_downgrade_removes_them(
    db_url: str, example_config: Config
) -> None:
    """The operation, not the example's revision: its code generation hook would write `readings` into
    the example's generated files."""
    _, version_4 = example_revision_upgrading_to(5)
    command.upgrade(example_config, version_4)
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute(PARTITIONED)
        before = catalog_dump(db_url)
        assert partition_triggers(db) == []
        apply_ops(db_url, UpgradeOp(4, 5))
        assert partition_triggers(db) == [
            (partition, f"drizzlesync_capture_{op}")
            for partition in ("readings_2024", "readings_2025")
            for op in ("delete", "insert", "truncate", "update")
        ]
        db.execute("INSERT INTO readings_2025 VALUES ('direct', '2025-03-01', 1)")
        db.execute("UPDATE readings SET value = 'through the parent' WHERE id = 1")
        key = '{"at": "2025-03-01", "id": 1}'
        assert logged_keys(db) == [("I", key), ("U", key)]
        apply_ops(db_url, UpgradeOp(5, 4))
        assert partition_triggers(db) == []
    assert catalog_dump(db_url) == before
