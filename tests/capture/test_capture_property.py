"""Property: following the dirty keys of the change log always rebuilds the table.

A mirror that, for each logged key, copies the key's current row (or drops
it when the row is gone, or everything on a truncate) must end equal to the
table, whatever mix of statements ran. This is what pull relies on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from alembic_drizzlesync.ops import EnableSyncOp, InstallOp
from tests.support import apply_ops, execute

SQL = [
    "INSERT INTO items VALUES (:r, :i, :v) ON CONFLICT DO NOTHING",
    "INSERT INTO items VALUES (:r, :i, :v) ON CONFLICT (region, id) DO UPDATE SET v = :v",
    "UPDATE items SET v = :v WHERE region = :r",
    "UPDATE items SET id = id + 1 WHERE region = :r AND id >= :i",  # moves keys
    "UPDATE items SET region = 'us' WHERE region = 'eu' AND id = :i",  # moves a key across scopes
    "DELETE FROM items WHERE region = :r AND id <= :i",
    "TRUNCATE items",
]
STATEMENTS = st.tuples(
    st.sampled_from(SQL),
    st.fixed_dictionaries(
        {"r": st.sampled_from(["eu", "us"]), "i": st.integers(1, 6), "v": st.integers(-1000, 1000)}
    ),
)

# Each transaction is a list of statements; it commits or rolls back.
TRANSACTIONS = st.lists(st.tuples(st.lists(STATEMENTS, min_size=1, max_size=4), st.booleans()), max_size=8)


@pytest.fixture(scope="module")
def conn(pg_server: str) -> Iterator[Connection]:
    from alembic_drizzlesync import localdb

    with localdb.temporary_database(pg_server) as url:
        execute(url, "CREATE TABLE items (region text, id integer, v bigint, PRIMARY KEY (region, id))")
        apply_ops(url, InstallOp(), EnableSyncOp("items", scope="region"))
        engine = create_engine(url)
        with engine.connect() as connection:
            yield connection
        engine.dispose()


def follow_log(conn: Connection, mirror: dict[tuple[str, int], Any], after_seq: int) -> int:
    """Apply the log past `after_seq` to the mirror as pull does; return the new position."""
    entries = conn.execute(
        text("SELECT seq, op, pk FROM drizzlesync.change_log WHERE seq > :s ORDER BY txid, seq"),
        {"s": after_seq},
    ).all()
    for entry in entries:
        if entry.op == "T":
            mirror.clear()
            continue
        key = (entry.pk["region"], entry.pk["id"])
        current = conn.execute(
            text("SELECT v FROM items WHERE region = :r AND id = :i"), {"r": key[0], "i": key[1]}
        ).first()
        if current is None:
            mirror.pop(key, None)
        else:
            mirror[key] = current.v
        after_seq = max(after_seq, entry.seq)
    conn.commit()
    return after_seq


@settings(max_examples=60)
@given(transactions=TRANSACTIONS)
def test_dirty_keys_rebuild_the_table(conn: Connection, transactions: list[Any]) -> None:
    conn.rollback()
    conn.execute(text("TRUNCATE items"))
    conn.execute(text("TRUNCATE drizzlesync.change_log"))
    conn.commit()
    mirror: dict[tuple[str, int], Any] = {}
    position = 0
    for statements, commit in transactions:
        try:
            for sql, params in statements:
                conn.execute(text(sql), params)
        except IntegrityError:  # a moved key collided: the transaction fails, as it would in an app
            conn.rollback()
        else:
            conn.commit() if commit else conn.rollback()
        position = follow_log(conn, mirror, position)
    table = {(row.region, row.id): row.v for row in conn.execute(text("SELECT region, id, v FROM items"))}
    conn.commit()
    assert mirror == table
