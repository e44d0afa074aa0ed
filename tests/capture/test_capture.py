"""Change capture: every kind of statement logs exactly the keys it changed.

An UPDATE of a plain table (version 6) logs each updated row's key under its
scope after the update ('U', with that scope as before and after), and for
each row whose key or scope changed, its old key under its old scope ('D',
scope before only): a pull's readers of each scope find the keys they must
re-read. A partitioned table pairs old and new rows by key instead (an UPDATE
moving a row to another partition fires no row trigger)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import DisableSyncOp, EnableSyncOp, InstallOp, SetSyncScopeOp
from tests.support import apply_ops, change_log, execute

SCHEMA = """
CREATE TABLE todos (id integer PRIMARY KEY, team text NOT NULL, title text);
CREATE SCHEMA "App Data";
CREATE TABLE "App Data"."Größe Items" (
    "Region" text, "ID" integer, "Menge" numeric, PRIMARY KEY ("Region", "ID")
);
CREATE TABLE pairs (id integer PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, label text);
CREATE TABLE no_key (value text);
"""


@pytest.fixture
def conn(db_url: str) -> Iterator[Connection]:
    execute(db_url, *SCHEMA.strip().split(";\n"))
    apply_ops(
        db_url,
        InstallOp(),
        EnableSyncOp("todos", scope="'team:' || team"),
        EnableSyncOp("Größe Items", schema="App Data"),
        EnableSyncOp("pairs", scope="label"),
    )
    engine = create_engine(db_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def run(conn: Connection, *statements: str) -> None:
    """Run the statements in one transaction and commit it."""
    for statement in statements:
        conn.execute(text(statement))
    conn.commit()


def test_single_and_multi_row_inserts_log_one_entry_per_row(conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x')")
    run(conn, "INSERT INTO todos VALUES (2, 'a', 'y'), (3, 'b', 'z')")
    assert change_log(conn) == [
        ("todos", "I", {"id": 1}, None, "team:a", None),
        ("todos", "I", {"id": 2}, None, "team:a", None),
        ("todos", "I", {"id": 3}, None, "team:b", None),
    ]


def test_insert_on_conflict_logs_each_row_once(conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x')")
    run(
        conn,
        "INSERT INTO todos VALUES (1, 'b', 'changed'), (2, 'a', 'new') "
        "ON CONFLICT (id) DO UPDATE SET team = excluded.team, title = excluded.title",
    )
    assert sorted(change_log(conn)[1:], key=lambda entry: (entry[2]["id"], entry[1])) == [
        ("todos", "D", {"id": 1}, "team:a", None, None),
        ("todos", "U", {"id": 1}, "team:b", "team:b", None),
        ("todos", "I", {"id": 2}, None, "team:a", None),
    ]


def test_on_conflict_do_nothing_logs_nothing_for_the_existing_row(conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x')")
    run(conn, "INSERT INTO todos VALUES (1, 'b', 'y') ON CONFLICT DO NOTHING")
    assert len(change_log(conn)) == 1


def test_copy_is_captured(db_url: str, conn: Connection) -> None:
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as raw:
        with raw.cursor().copy("COPY todos (id, team, title) FROM STDIN") as copy:
            for i in range(1, 4):
                copy.write_row((i, "c", f"row {i}"))
    assert [entry[:3] for entry in change_log(conn)] == [
        ("todos", "I", {"id": 1}),
        ("todos", "I", {"id": 2}),
        ("todos", "I", {"id": 3}),
    ]


def test_update_logs_changed_keys_with_scope_before_and_after(conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x'), (2, 'a', 'y'), (3, 'a', 'z')")
    run(conn, "UPDATE todos SET team = 'b' WHERE id IN (1, 2)")
    run(conn, "UPDATE todos SET title = 'none' WHERE false")
    run(conn, "UPDATE todos SET title = 'same team', team = team WHERE id = 3")
    assert sorted(change_log(conn)[3:], key=lambda entry: (entry[2]["id"], entry[1])) == [
        ("todos", "D", {"id": 1}, "team:a", None, None),
        ("todos", "U", {"id": 1}, "team:b", "team:b", None),
        ("todos", "D", {"id": 2}, "team:a", None, None),
        ("todos", "U", {"id": 2}, "team:b", "team:b", None),
        ("todos", "U", {"id": 3}, "team:a", "team:a", None),
    ]


def test_primary_key_update_logs_both_keys(conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x'), (2, 'a', 'y')")
    run(conn, "UPDATE todos SET id = id + 10")
    moved = sorted(change_log(conn)[2:], key=lambda entry: (entry[2]["id"], entry[1]))
    assert moved == [
        ("todos", "D", {"id": 1}, "team:a", None, None),
        ("todos", "D", {"id": 2}, "team:a", None, None),
        ("todos", "U", {"id": 11}, "team:a", "team:a", None),
        ("todos", "U", {"id": 12}, "team:a", "team:a", None),
    ]


def test_key_swap_logs_each_rows_old_and_new_key(conn: Connection) -> None:
    run(conn, "INSERT INTO pairs VALUES (1, 'a'), (2, 'b')")
    run(conn, "UPDATE pairs SET id = 3 - id")
    swapped = sorted(change_log(conn)[2:], key=lambda entry: (entry[2]["id"], entry[1]))
    # Key 1 now holds the row labelled b and key 2 the row labelled a.
    assert swapped == [
        ("pairs", "D", {"id": 1}, "a", None, None),
        ("pairs", "U", {"id": 1}, "b", "b", None),
        ("pairs", "D", {"id": 2}, "b", None, None),
        ("pairs", "U", {"id": 2}, "a", "a", None),
    ]


def test_moving_one_key_among_several_logs_the_rest_as_updates(conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x'), (2, 'a', 'y'), (3, 'b', 'z')")
    run(
        conn,
        "SET LOCAL drizzlesync.client_id = 'client-3'",
        "UPDATE todos SET id = CASE WHEN id = 2 THEN 20 ELSE id END, team = 'c'",
    )
    moved = sorted(change_log(conn)[3:], key=lambda entry: (entry[2]["id"], entry[1]))
    assert moved == [
        ("todos", "D", {"id": 1}, "team:a", None, "client-3"),
        ("todos", "U", {"id": 1}, "team:c", "team:c", "client-3"),
        ("todos", "D", {"id": 2}, "team:a", None, "client-3"),
        ("todos", "D", {"id": 3}, "team:b", None, "client-3"),
        ("todos", "U", {"id": 3}, "team:c", "team:c", "client-3"),
        ("todos", "U", {"id": 20}, "team:c", "team:c", "client-3"),
    ]


def test_shifting_composite_keys_pairs_each_key_with_its_new_row(db_url: str, conn: Connection) -> None:
    execute(
        db_url,
        "CREATE TABLE shifts (region text, id integer, label text, "
        "PRIMARY KEY (region, id) DEFERRABLE INITIALLY DEFERRED)",
    )
    apply_ops(db_url, EnableSyncOp("shifts", scope="label"))
    run(conn, "INSERT INTO shifts VALUES ('eu', 1, 'a'), ('eu', 2, 'b'), ('us', 1, 'c')")
    run(conn, "UPDATE shifts SET id = id + 1 WHERE region = 'eu'")
    # (eu, 2) was b and now holds a; (eu, 1) is gone; (eu, 3) is new; us is untouched.
    shifted = sorted(change_log(conn)[3:], key=lambda entry: (entry[2]["region"], entry[2]["id"], entry[1]))
    assert shifted == [
        ("shifts", "D", {"region": "eu", "id": 1}, "a", None, None),
        ("shifts", "D", {"region": "eu", "id": 2}, "b", None, None),
        ("shifts", "U", {"region": "eu", "id": 2}, "a", "a", None),
        ("shifts", "U", {"region": "eu", "id": 3}, "b", "b", None),
    ]


def test_an_equal_key_with_another_text_form_is_logged_as_moved(db_url: str, conn: Connection) -> None:
    # A row's old and new keys are compared on their text form: numeric 1.0
    # and 1.00 are one key to the table but two to the comparison, so both
    # are logged. Pull deduplicates them as jsonb, where they are equal again.
    execute(db_url, "CREATE TABLE amounts (value numeric PRIMARY KEY)")
    apply_ops(db_url, EnableSyncOp("amounts"))
    run(conn, "INSERT INTO amounts VALUES (1.0)")
    run(conn, "UPDATE amounts SET value = 1.00")
    logged = conn.execute(text("SELECT op, pk->>'value' FROM drizzlesync.change_log ORDER BY seq")).all()
    assert sorted(tuple(row) for row in logged[1:]) == [("D", "1.0"), ("U", "1.00")]
    assert conn.execute(text("SELECT count(DISTINCT pk) FROM drizzlesync.change_log")).scalar_one() == 1


def test_delete_and_truncate(conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x'), (2, 'b', 'y')")
    run(conn, "DELETE FROM todos WHERE id = 1")
    run(conn, "TRUNCATE todos")
    assert change_log(conn)[2:] == [
        ("todos", "D", {"id": 1}, "team:a", None, None),
        ("todos", "T", None, None, None, None),
    ]


def test_composite_keys_non_public_schema_and_unusual_names(conn: Connection) -> None:
    items = '"App Data"."Größe Items"'
    run(conn, f"INSERT INTO {items} VALUES ('eu', 1, 2.5), ('us', 1, 3)")
    run(conn, f'UPDATE {items} SET "Menge" = 4 WHERE "Region" = \'eu\'')
    run(conn, f"DELETE FROM {items} WHERE \"Region\" = 'us'")
    assert change_log(conn) == [
        ("Größe Items", "I", {"ID": 1, "Region": "eu"}, None, None, None),
        ("Größe Items", "I", {"ID": 1, "Region": "us"}, None, None, None),
        ("Größe Items", "U", {"ID": 1, "Region": "eu"}, None, None, None),
        ("Größe Items", "D", {"ID": 1, "Region": "us"}, None, None, None),
    ]


def test_one_statement_shares_the_transaction_id(conn: Connection) -> None:
    conn.execute(text("INSERT INTO todos VALUES (1, 'a', 'x')"))
    conn.execute(text("UPDATE todos SET title = 'y'"))
    xid = conn.execute(text("SELECT pg_current_xact_id()::text")).scalar_one()
    conn.commit()
    txids = conn.execute(text("SELECT DISTINCT txid::text FROM drizzlesync.change_log")).scalars().all()
    assert txids == [xid]


def test_pushing_client_is_recorded_and_bulk_maintenance_can_skip(conn: Connection) -> None:
    run(conn, "SET LOCAL drizzlesync.client_id = 'client-7'", "INSERT INTO todos VALUES (1, 'a', 'x')")
    run(conn, "SET LOCAL drizzlesync.skip_capture = on", "INSERT INTO todos VALUES (2, 'a', 'x')")
    run(conn, "INSERT INTO todos VALUES (3, 'a', 'x')")
    assert change_log(conn) == [
        ("todos", "I", {"id": 1}, None, "team:a", "client-7"),
        ("todos", "I", {"id": 3}, None, "team:a", None),
    ]


def test_adding_a_column_keeps_capture_working(conn: Connection) -> None:
    run(conn, "ALTER TABLE todos ADD COLUMN due date", "INSERT INTO todos VALUES (1, 'a', 'x', '2030-01-01')")
    run(conn, "ALTER TABLE todos DROP COLUMN title", "UPDATE todos SET due = NULL")
    assert [entry[1] for entry in change_log(conn)] == ["I", "U"]


def test_disable_stops_capture(db_url: str, conn: Connection) -> None:
    apply_ops(db_url, DisableSyncOp("todos", scope="'team:' || team"))
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x')")
    assert change_log(conn) == []


def test_a_new_scope_rule_applies_to_the_next_write(db_url: str, conn: Connection) -> None:
    run(conn, "INSERT INTO todos VALUES (1, 'a', 'x')")
    apply_ops(db_url, SetSyncScopeOp("todos", scope="'title:' || title", old_scope="'team:' || team"))
    run(conn, "UPDATE todos SET title = 'y'")
    assert change_log(conn)[1:] == [
        ("todos", "D", {"id": 1}, "title:x", None, None),
        ("todos", "U", {"id": 1}, "title:y", "title:y", None),
    ]


def test_partitioned_tables_are_captured_on_the_parent(db_url: str, conn: Connection) -> None:
    execute(
        db_url,
        "CREATE TABLE events (id integer, region text, PRIMARY KEY (region, id)) PARTITION BY LIST (region)",
        "CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu')",
        "CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us')",
    )
    apply_ops(db_url, EnableSyncOp("events", scope="region"))
    run(conn, "INSERT INTO events VALUES (1, 'eu'), (2, 'us')")
    run(conn, "UPDATE events SET region = 'us' WHERE id = 1")
    assert sorted(change_log(conn), key=lambda entry: (entry[1], entry[2]["id"])) == [
        ("events", "D", {"id": 1, "region": "eu"}, "eu", None, None),
        ("events", "I", {"id": 1, "region": "eu"}, None, "eu", None),
        ("events", "I", {"id": 1, "region": "us"}, None, "us", None),
        ("events", "I", {"id": 2, "region": "us"}, None, "us", None),
    ]


def test_a_partitioned_tables_move_between_scopes_is_logged_under_each_scope(
    db_url: str, conn: Connection
) -> None:
    """The capture pairing old and new rows (partitioned tables, whole-row rules) logs a row whose
    scope changed as the split capture does (library version 9): its old key as 'D' under the old
    scope, then the row under its new scope alone, so a reader of either scope finds it in the range
    of its own scope; and every entry's scope_hash is the hash of the scope it is found under."""
    execute(
        db_url,
        "CREATE TABLE tasks (id integer, at date, team text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
        "CREATE TABLE tasks_2025 PARTITION OF tasks FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
    )
    apply_ops(db_url, EnableSyncOp("tasks", scope="team"))
    run(conn, "INSERT INTO tasks VALUES (1, '2025-02-01', 'a'), (2, '2025-02-01', 'a')")
    run(conn, "UPDATE tasks SET team = CASE id WHEN 1 THEN 'b' ELSE team END")
    first, second = {"id": 1, "at": "2025-02-01"}, {"id": 2, "at": "2025-02-01"}
    assert sorted(change_log(conn)[2:], key=lambda entry: (entry[2]["id"], entry[1])) == [
        ("tasks", "D", first, "a", None, None),
        ("tasks", "U", first, "b", "b", None),
        ("tasks", "U", second, "a", "a", None),
    ]
    unhashed = conn.execute(
        text(
            "SELECT count(*) FROM drizzlesync.change_log "
            "WHERE scope_hash <> hashtext(coalesce(scope_after, scope_before, ''))"
        )
    ).scalar()
    assert unhashed == 0


def test_a_table_without_primary_key_is_refused_by_name(db_url: str, conn: Connection) -> None:
    with pytest.raises(Exception, match=r"table public\.no_key has no primary key"):
        apply_ops(db_url, EnableSyncOp("no_key"))


@pytest.mark.parametrize(
    ("key_type", "shown_as"),
    [
        ("integer[]", r"integer\[\]"),
        ("jsonb", "jsonb"),
        ("pair", r"public\.pair"),
        ("keyed_pair", r"public\.keyed_pair"),
        ("float8", "double precision"),
        ("real", "real"),
        ("citext", r"public\.citext"),
        ("ltree", r"public\.ltree"),
        ("handle", r"public\.handle"),
    ],
)
def test_a_key_that_cannot_travel_is_refused_by_column(
    db_url: str, conn: Connection, key_type: str, shown_as: str
) -> None:
    """A pushed key names each column by one JSON scalar, and the log keeps a float as its writer
    prints it (rounded under extra_float_digits 0): such tables failed at every pull. The protocol
    functions compare keys with pg_catalog's operators: an extension's type has none (ltree: every
    patch rejected, every pull meeting a change failed), or a wrong one (citext compared as text,
    case-sensitive, under pages in citext's order: a bootstrap skipped rows)."""
    execute(
        db_url,
        "CREATE EXTENSION citext",
        "CREATE EXTENSION ltree",
        "CREATE DOMAIN handle AS citext",
        "CREATE TYPE pair AS (a integer, b text)",
        "CREATE DOMAIN keyed_pair AS pair",
        f'CREATE TABLE odd_keys (region text, "Key" {key_type}, PRIMARY KEY (region, "Key"))',
    )
    refusal = rf'table public\.odd_keys cannot be synced: its primary key column "Key" is of type {shown_as},'
    with pytest.raises(Exception, match=refusal):
        apply_ops(db_url, EnableSyncOp("odd_keys"))
    synced = conn.execute(text("SELECT count(*) FROM drizzlesync.synced_table WHERE table_name = 'odd_keys'"))
    assert synced.scalar() == 0


def test_a_second_table_of_the_same_wire_name_is_refused(db_url: str, conn: Connection) -> None:
    """Table b of schema a and table "a.b" of public both travel as "a.b": pulls mixed their rows
    and pushes wrote one of them."""
    execute(
        db_url,
        "CREATE SCHEMA a",
        "CREATE TABLE a.b (id integer PRIMARY KEY)",
        'CREATE TABLE "a.b" (id integer PRIMARY KEY)',
    )
    apply_ops(db_url, EnableSyncOp("b", schema="a"))
    refusal = r'table public\."a\.b" cannot be synced: it would travel as "a\.b", the name synced table a\.b '
    with pytest.raises(Exception, match=refusal):
        apply_ops(db_url, EnableSyncOp("a.b"))


def test_an_invalid_scope_rule_is_refused_when_enabling(db_url: str, conn: Connection) -> None:
    execute(db_url, "CREATE TABLE notes (id integer PRIMARY KEY)")
    with pytest.raises(Exception, match=r"scope rule 'team_id' of public\.notes is not a valid expression"):
        apply_ops(db_url, EnableSyncOp("notes", scope="team_id"))
