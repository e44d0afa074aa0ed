"""Library version 9's change log: the scope's hash is a column (scope_hash) that the upgrade fills
for the entries already written, and a move between two scopes is two entries, which the upgrade
makes of each move that version 1's capture pairing old and new rows logged as one."""

from __future__ import annotations

import psycopg

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import EnableSyncOp, InstallOp, UpgradeOp
from tests.support import apply_ops, execute


def test_the_upgrade_splits_one_entry_moves_and_fills_the_scope_hash(db_url: str) -> None:
    apply_ops(db_url, InstallOp(8))
    execute(db_url, "CREATE TABLE todos (id integer PRIMARY KEY, team text NOT NULL)")
    apply_ops(db_url, EnableSyncOp("todos", scope="'team:' || team"))
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("INSERT INTO todos VALUES (1, 'a')")
        db.execute("DELETE FROM todos")
        (moved_in,) = db.execute(
            "INSERT INTO drizzlesync.change_log (table_id, op, pk, scope_before, scope_after)"
            " SELECT id, 'U', '{\"id\": 2}', 'team:a', 'team:b' FROM drizzlesync.synced_table"
            " RETURNING txid::text"
        ).fetchone() or (None,)
        db.execute(
            "INSERT INTO drizzlesync.change_log (table_id, op) SELECT id, 'T' FROM drizzlesync.synced_table"
        )
        apply_ops(db_url, UpgradeOp(8, 9))
        entries = db.execute(
            "SELECT txid::text, op, pk::text, scope_before, scope_after,"
            "       scope_hash = hashtext(coalesce(scope_after, scope_before, ''))"
            " FROM drizzlesync.change_log ORDER BY seq"
        ).fetchall()
    assert [entry[1:] for entry in entries] == [
        ("I", '{"id": 1}', None, "team:a", True),
        ("D", '{"id": 1}', "team:a", None, True),
        ("U", '{"id": 2}', "team:b", "team:b", True),
        ("T", None, None, None, True),
        ("D", '{"id": 2}', "team:a", None, True),
    ]
    # The old side is logged in the move's transaction, so that it is in every window the move is.
    assert entries[-1][0] == entries[2][0] == moved_in
