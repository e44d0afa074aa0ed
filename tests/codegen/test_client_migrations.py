"""Client migrations in a real SQLite: the outbox triggers, and N → N+1 with pending rows kept."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from alembic_drizzlesync.codegen.client_migrations.history import (
    Version,
    highest_version,
    migration_steps,
    read_retired,
    record,
    render_history,
    retire,
)
from alembic_drizzlesync.codegen.client_migrations.key_checks import key_checks
from alembic_drizzlesync.codegen.client_migrations.shape import ColumnShape, TableShape
from alembic_drizzlesync.localdb import libpq_url
from tests.support import execute

from .conftest import FIXTURE_SQL, fixture_plan, generate_into


def migrate(db: sqlite3.Connection, out: Path) -> int:
    """What the client runtime does: run every step above the stored schema version."""
    has_state = db.execute("SELECT 1 FROM sqlite_master WHERE name = '_sync_state'").fetchone()
    current = db.execute("SELECT schema_version FROM _sync_state").fetchone()[0] if has_state else 0
    for step in sorted((out / "client-migrations").glob("*.sql")):
        if int(step.stem) > current:
            db.executescript(f"BEGIN;\n{step.read_text()}\nCOMMIT;")
    return int(db.execute("SELECT schema_version FROM _sync_state").fetchone()[0])


def outbox(db: sqlite3.Connection) -> list[tuple[str, str, dict[str, object], dict[str, object] | None]]:
    rows = db.execute('SELECT "table", op, pk, "values" FROM _sync_outbox ORDER BY id').fetchall()
    return [(t, op, json.loads(pk), json.loads(v) if v else None) for t, op, pk, v in rows]


def test_outbox_records_puts_changed_columns_and_deletes(fixture_url: str, tmp_path: Path) -> None:
    generate_into(fixture_url, tmp_path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(db, tmp_path) == 1
    db.execute("INSERT INTO orgs (id, name, slug) VALUES (1, 'Acme', 'acme')")
    db.execute("UPDATE orgs SET name = 'Acme Inc', slug = slug WHERE id = 1")
    db.execute("UPDATE orgs SET slug = 'acme' WHERE id = 1")  # no change: nothing to send
    db.execute("UPDATE orgs SET id = 2 WHERE id = 1")
    db.execute("UPDATE _sync_state SET applying = 1")
    db.execute("INSERT INTO orgs (id, name, slug) VALUES (9, 'pulled', 'p')")
    db.execute("UPDATE _sync_state SET applying = 0")
    db.execute("DELETE FROM orgs WHERE id = 2")
    assert outbox(db) == [
        (
            "orgs",
            "put",
            {"id": 1},
            {"id": 1, "owner_membership": None, "name": "Acme", "slug": "acme"},
        ),
        ("orgs", "patch", {"id": 1}, {"name": "Acme Inc"}),
        ("orgs", "delete", {"id": 1}, None),
        (
            "orgs",
            "put",
            {"id": 2},
            {"id": 2, "owner_membership": None, "name": "Acme Inc", "slug": "acme"},
        ),
        ("orgs", "delete", {"id": 2}, None),
    ]


def test_generated_columns_are_not_pushed_and_blobs_travel_as_hex(fixture_url: str, tmp_path: Path) -> None:
    generate_into(fixture_url, tmp_path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    db.execute("INSERT INTO texts (id, t, m, moods, label) VALUES ('a', 'x', 'ok', '[]', 'X')")
    db.execute("INSERT INTO misc (id, flag, jb, data) VALUES (1, 1, '{}', x'00ff')")
    (_, _, _, text_values), (_, _, _, misc_values) = outbox(db)
    assert text_values is not None and "label" not in text_values
    assert misc_values is not None and misc_values["data"] == "00FF"


def test_floats_are_recorded_with_every_digit(fixture_url: str, tmp_path: Path) -> None:
    """SQLite's JSON writes a double with 15 significant digits: 0.30000000000000004 was pushed as
    0.3, stored so on the server and pulled back so by every device. Puts and patches alike."""
    generate_into(fixture_url, tmp_path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    # Magnitudes an app writes; SQLite's own printing is exact from about 1e-82 to 1e118 (3.49, 3.51).
    exact = [0.1 + 0.2, 51.507350717093014, float(2**60 + 2**8), 1 / 3, 6.02214076e23 * (1 + 2**-52)]
    for i, value in enumerate(exact):
        db.execute(
            "INSERT INTO numbers (id, small, big_serial, small_serial, counter, real, dbl) "
            "VALUES (?, 0, 1, 1, 1, ?, ?)",
            (i, value, -value),
        )
        db.execute("UPDATE numbers SET dbl = ? WHERE id = ?", (value * 3, i))
    puts = [values for _, op, _, values in outbox(db) if op == "put"]
    patches = [values for _, op, _, values in outbox(db) if op == "patch"]
    assert [(p["real"], p["dbl"]) for p in puts if p] == [(v, -v) for v in exact]
    assert [p["dbl"] for p in patches if p] == [v * 3 for v in exact]


UUID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"


def test_a_uuid_key_postgres_would_spell_otherwise_is_refused_when_written(
    fixture_url: str, tmp_path: Path
) -> None:
    """Postgres stores any spelling of a uuid as lowercase with hyphens and pulls send that, so a
    device that wrote another kept two rows. The key checks refuse such a write; a pulled row, an
    update leaving the key alone, and a key that is no uuid at all (the server's to refuse) pass."""
    generate_into(fixture_url, tmp_path)
    plan = fixture_plan(fixture_url)
    checks = {table.sqlite_name: key_checks(table) for table in plan.synced if key_checks(table)}
    assert sorted(checks) == ["auth_users", "texts"]  # auth.users and texts: their keys are uuids
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    for _, sql in checks["texts"]:
        db.execute(sql)

    def insert(key: str) -> None:
        db.execute("INSERT INTO texts (id, t, m, moods) VALUES (?, 'x', 'ok', '[]')", (key,))

    hyphens_every_four = "6f96-19ff-8b86-d011-b42d-00c0-4fc9-64ff"
    for key in [UUID.upper(), f"{{{UUID}}}", UUID.replace("-", ""), hyphens_every_four]:
        with pytest.raises(sqlite3.IntegrityError, match=r"write texts\.id as Postgres writes a uuid"):
            insert(key)
    assert outbox(db) == []
    insert(UUID)
    insert("not-a-uuid")
    with pytest.raises(sqlite3.IntegrityError, match="write texts.id"):
        db.execute("UPDATE texts SET id = ? WHERE id = ?", (UUID.upper(), UUID))
    db.execute("UPDATE _sync_state SET applying = 1")
    insert(UUID.upper())  # pulled: Postgres's spelling by definition
    db.execute("UPDATE _sync_state SET applying = 0")
    db.execute("UPDATE texts SET id = id, t = 'y' WHERE id = ?", (UUID.upper(),))
    assert [(op, pk) for _, op, pk, _ in outbox(db)] == [
        ("put", {"id": UUID}),
        ("put", {"id": "not-a-uuid"}),
        ("patch", {"id": UUID.upper()}),
    ]


def test_a_char_or_varchar_key_postgres_would_store_otherwise_is_refused_when_written(
    db_url: str, tmp_path: Path
) -> None:
    """Postgres pads a char(n) to n characters and cuts a varchar(n)'s spaces past n (and refuses
    anything else past n), and pulls send what it stored: a device that wrote `'ab'` into a char(3)
    key kept a second row, `'ab '`, for good. The key checks refuse exactly the keys Postgres would
    store otherwise, as it says for each."""
    execute(
        db_url, "CREATE TABLE codes (code char(3), region varchar(4), name text, PRIMARY KEY (code, region))"
    )
    generate_into(db_url, tmp_path)
    (table,) = fixture_plan(db_url).synced
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    for _, sql in key_checks(table):
        db.execute(sql)
    candidates = [("ab", "eu"), ("ab ", "eu"), ("abc", "euro"), ("a", "e"), ("ab ", "eu   "), ("abcd ", "eu")]
    with psycopg.connect(libpq_url(db_url)) as pg:
        for code, region in candidates:
            try:
                stored = pg.execute(
                    "SELECT to_jsonb(%s::char(3)) #>> '{}', %s::varchar(4)", (code, region)
                ).fetchone()
            except psycopg.errors.DataError:  # varchar(4) past its length, not all spaces: refused
                pg.rollback()
                stored = None
            kept = stored == (code, region)
            if kept:
                db.execute("INSERT INTO codes (code, region, name) VALUES (?, ?, 'x')", (code, region))
            else:
                with pytest.raises(
                    sqlite3.IntegrityError, match="write the key as Postgres stores it, codes.code"
                ):
                    db.execute("INSERT INTO codes (code, region, name) VALUES (?, ?, 'x')", (code, region))
    assert [pk for _, _, pk, _ in outbox(db)] == [
        {"code": "ab ", "region": "eu"},
        {"code": "abc", "region": "euro"},
    ]
    with pytest.raises(sqlite3.IntegrityError, match=r"padded with spaces to 3 characters \(a char\(3\)\)"):
        db.execute("UPDATE codes SET code = 'x' WHERE code = 'abc'")
    db.execute("UPDATE _sync_state SET applying = 1")
    db.execute(
        "INSERT INTO codes (code, region, name) VALUES ('zz', 'eu', 'pulled')"
    )  # Postgres's by definition


def test_virtual_generated_columns_are_not_pushed(pg18_url: str, tmp_path: Path) -> None:
    """Postgres 18's virtual generated columns, like stored ones, are computed by the server: the outbox
    triggers never record them, or the server would refuse the whole batch and wedge the client's queue."""
    execute(pg18_url, FIXTURE_SQL.read_text(encoding="utf-8"))
    files = generate_into(pg18_url, tmp_path)
    for name in ("doubled", "tripled"):
        assert f'column: "{name}", codec: "int", nullable: true, pushed: false }}' in files["sync-meta.ts"]
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    db.execute(
        'INSERT INTO numbers (id, small, "int", big_serial, small_serial, counter, doubled, tripled) '
        "VALUES (1, 1, 2, 1, 1, 1, 4, 6)"
    )
    db.execute("UPDATE numbers SET tripled = 9, doubled = 8 WHERE id = 1")  # the server's to change: not sent
    db.execute('UPDATE numbers SET "int" = 3, tripled = 9 WHERE id = 1')
    (put, patch) = outbox(db)
    assert put[1] == "put" and put[3] is not None and {"int", "doubled", "tripled"} & set(put[3]) == {"int"}
    assert patch[1:] == ("patch", {"id": 1}, {"int": 3})


def test_a_new_schema_version_keeps_pending_outbox_rows(fixture_url: str, tmp_path: Path) -> None:
    generate_into(fixture_url, tmp_path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    db.execute("INSERT INTO orgs (id, name, slug) VALUES (1, 'Acme', 'acme')")
    db.execute("UPDATE _sync_state SET cursor = 'c1'")
    pending = outbox(db)
    with psycopg.connect(libpq_url(fixture_url), autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE orgs ADD COLUMN motto text DEFAULT 'ship it', DROP COLUMN owner_membership CASCADE"
        )
        conn.execute("CREATE TABLE notes (id integer PRIMARY KEY, body text)")
    generate_into(fixture_url, tmp_path)
    assert sorted(p.name for p in (tmp_path / "client-migrations").glob("*.sql")) == ["0001.sql", "0002.sql"]
    assert migrate(db, tmp_path) == 2
    assert outbox(db) == pending
    assert db.execute("SELECT id, name, motto FROM orgs").fetchall() == [(1, "Acme", "ship it")]
    assert db.execute("SELECT cursor FROM _sync_state").fetchone() == (None,)
    db.execute("UPDATE orgs SET motto = 'later' WHERE id = 1")
    db.execute("INSERT INTO notes VALUES (1, 'hi')")
    assert outbox(db)[-2:] == [
        ("orgs", "patch", {"id": 1}, {"motto": "later"}),
        ("notes", "put", {"id": 1}, {"id": 1, "body": "hi"}),
    ]
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(fresh, tmp_path) == 2
    assert [r[1] for r in fresh.execute("PRAGMA table_info(orgs)")] == [
        r[1] for r in db.execute("PRAGMA table_info(orgs)")
    ]


def test_a_shape_change_without_a_version_bump_rewrites_the_step_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shape = TableShape("t", "t", (ColumnShape("id", "id", "INTEGER", True, None, True),), ("id",), ())
    wider = TableShape(
        "t", "t", (*shape.columns, ColumnShape("x", "x", "TEXT", False, None, True)), ("id",), ()
    )
    history = record(record([], 1, (shape,)), 2, (shape,))
    assert [v.version for v in history] == [1, 2] and not caplog.records
    history = record(history, 2, (wider,))
    assert [v.version for v in history] == [1, 2] and history[-1].tables == (wider,)
    assert "schema version is still 2" in caplog.text
    indexed = TableShape("t", "t", wider.columns, ("id",), (("t_x_idx", ("x",)),))
    caplog.clear()
    assert record(history, 2, (indexed,))[-1].tables == (indexed,) and not caplog.records
    assert [v.version for v in record(history, None, (shape,))] == [1, 2, 3]
    assert not caplog.records
    assert [v.version for v in record(history, 1, (shape,))] == [1]
    assert "schema version(s) 2 dropped from the client migrations (a downgrade to 1)" in caplog.text


def test_the_warning_of_an_unbumped_shape_change_asks_for_the_bump_in_that_revision(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning said "bump it with op.bump_sync_schema_version()", and a user who did so in the
    next revision shipped an empty step: step 2 already made the new shape, so step 3, computed from
    it, added nothing, and devices that ran step 2 as first written kept failing on the missing
    column. The warning now says that a later bump comes too late, and where the bump must go."""
    shape = TableShape("t", "t", (ColumnShape("id", "id", "INTEGER", True, None, True),), ("id",), ())
    wider = TableShape(
        "t", "t", (*shape.columns, ColumnShape("x", "x", "TEXT", False, None, True)), ("id",), ()
    )
    rewritten = record(record(record([], 1, (shape,)), 2, (shape,)), 2, (wider,))
    later_bump = record(rewritten, 3, (wider,))
    assert migration_steps(later_bump)[-1] == (3, ['UPDATE "_sync_state" SET "schema_version" = 3'])
    assert "neither from this step nor from a bump in a later revision" in caplog.text
    assert "add op.bump_sync_schema_version(3) to its upgrade()" in caplog.text
    assert "op.revert_sync_schema_version(3) to its downgrade()" in caplog.text


def test_a_version_a_downgrade_dropped_is_not_taken_again_for_another_shape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Devices may run a version a downgrade dropped: its number came back for the next shape, to
    which they never migrated (their stored version already said it), and every pull failed on a
    column they lacked. history.json keeps the number and its hash, autogenerate bumps past it, and
    a revision taking it for another shape is warned of; upgrading back to the same shape is not."""
    shape = TableShape("t", "t", (ColumnShape("id", "id", "INTEGER", True, None, True),), ("id",), ())
    priority = TableShape(
        "t", "t", (*shape.columns, ColumnShape("p", "p", "INTEGER", False, None, True)), ("id",), ()
    )
    estimate = TableShape(
        "t", "t", (*shape.columns, ColumnShape("e", "e", "REAL", False, None, True)), ("id",), ()
    )
    shipped = record(record([], 1, (shape,)), 2, (priority,))
    downgraded = record(shipped, 1, (shape,))
    retired = retire(shipped, downgraded[-1], {})
    assert retired == {2: shipped[-1].hash}
    text = render_history(downgraded, retired)
    assert read_retired(text) == retired and highest_version(text) == 2
    assert highest_version(render_history(downgraded)) == 1

    caplog.clear()
    assert retire(downgraded, record(downgraded, 2, (priority,))[-1], retired) == {}
    assert not caplog.records
    assert retire(downgraded, record(downgraded, 3, (estimate,))[-1], retired) == retired
    assert not caplog.records
    assert retire(downgraded, record(downgraded, 2, (estimate,))[-1], retired) == {}
    assert "schema version 2 was shipped with another shape before a downgrade dropped it" in caplog.text


def test_index_changes_keep_the_cursor_and_type_changes_are_not_copied(
    fixture_url: str, tmp_path: Path
) -> None:
    generate_into(fixture_url, tmp_path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    db.execute("INSERT INTO users (id, auth_id, name) VALUES (1, 'a', 'Ann')")
    db.execute("UPDATE _sync_state SET cursor = 'c1'")
    with psycopg.connect(libpq_url(fixture_url), autocommit=True) as conn:
        conn.execute("CREATE INDEX users_name_idx ON users (name)")
    generate_into(fixture_url, tmp_path)
    assert migrate(db, tmp_path) == 2
    assert db.execute("SELECT cursor FROM _sync_state").fetchone() == ("c1",)
    assert db.execute(
        "SELECT name FROM sqlite_master WHERE tbl_name = 'users' AND type = 'index'"
    ).fetchall() == [("users_name_idx",)]
    with psycopg.connect(libpq_url(fixture_url), autocommit=True) as conn:
        conn.execute("ALTER TABLE users DROP COLUMN auth_id, ADD COLUMN auth_id integer")
    generate_into(fixture_url, tmp_path)
    assert migrate(db, tmp_path) == 3
    assert db.execute("SELECT id, name, auth_id FROM users").fetchall() == [(1, "Ann", None)]
    assert db.execute("SELECT cursor FROM _sync_state").fetchone() == (None,)


def test_outbox_keys_are_postgres_names_when_sqlite_needs_other_ones(
    fixture_url: str, tmp_path: Path
) -> None:
    """SQLite ignores case: "Name" and name cannot both be columns there, but stay apart on the wire."""
    generate_into(fixture_url, tmp_path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    assert [r[1] for r in db.execute('PRAGMA table_info("Mixed Case Table")')] == ["id", "Name", "name2"]
    db.execute("""INSERT INTO "Mixed Case Table" VALUES (1, 'upper', 'lower')""")
    db.execute("""UPDATE "Mixed Case Table" SET name2 = 'changed'""")
    assert outbox(db) == [
        ("Mixed Case Table", "put", {"id": 1}, {"id": 1, "Name": "upper", "name": "lower"}),
        ("Mixed Case Table", "patch", {"id": 1}, {"name": "changed"}),
    ]


def test_a_column_made_not_null_takes_its_default_or_leaves_the_row_to_the_refill(
    fixture_url: str, tmp_path: Path
) -> None:
    """Copied as they were, a client's NULLs there failed the step on every open, and the client
    stayed at the old version, which the server no longer serves. Its pending puts lose their
    nulls there, which the server would refuse."""
    execute(fixture_url, "CREATE TABLE notes (id integer PRIMARY KEY, body text, tag text)")
    generate_into(fixture_url, tmp_path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db, tmp_path)
    db.execute("INSERT INTO notes VALUES (1, NULL, 'x'), (2, 'y', NULL), (3, 'z', 'w')")
    pending = outbox(db)
    execute(
        fixture_url,
        "UPDATE notes SET body = coalesce(body, ''), tag = coalesce(tag, '')",
        "ALTER TABLE notes ALTER body SET DEFAULT 'empty', ALTER body SET NOT NULL, ALTER tag SET NOT NULL",
    )
    generate_into(fixture_url, tmp_path)
    assert migrate(db, tmp_path) == 2
    assert db.execute("SELECT id, body, tag FROM notes ORDER BY id").fetchall() == [
        (1, "empty", "x"),
        (3, "z", "w"),
    ]
    assert [values for _, _, _, values in pending] == [
        {"id": 1, "body": None, "tag": "x"},
        {"id": 2, "body": "y", "tag": None},
        {"id": 3, "body": "z", "tag": "w"},
    ]
    assert [values for _, _, _, values in outbox(db)] == [
        {"id": 1, "tag": "x"},
        {"id": 2, "body": "y"},
        {"id": 3, "body": "z", "tag": "w"},
    ]
    assert db.execute("SELECT cursor FROM _sync_state").fetchone() == (None,)


def test_a_synced_table_whose_sqlite_name_moves_is_warned_of(caplog: pytest.LogCaptureFixture) -> None:
    """A table added later whose name collides takes the suffix a synced table had."""
    key = (ColumnShape("id", "id", "INTEGER", True, None, True),)
    before = (TableShape("app_labels2", "app_labels", key, ("id",), ()),)
    history = record([], 1, before)
    record(history, 2, (TableShape("notes", "notes", key, ("id",), ()), *before))
    assert not caplog.records
    record(
        history,
        2,
        (
            TableShape("app_labels2", "app.labels", key, ("id",), ()),
            TableShape("app_labels3", "app_labels", key, ("id",), ()),
        ),
    )
    assert "synced table app_labels is app_labels3 in SQLite now, app_labels2 before" in caplog.text


def test_columns_swapping_names_swap_their_values_and_pending_writes() -> None:
    """Each moved value goes through a name no column has, so neither overwrites the other; a value
    of every JSON type moves as it was, and a write without the column gains none."""

    def column(name: str, renamed_from: str | None = None) -> ColumnShape:
        return ColumnShape(name, name, "TEXT", name == "id", None, True, renamed_from)

    before = (TableShape("notes", "notes", (column("id"), column("a"), column("b")), ("id",), ()),)
    after = (TableShape("notes", "notes", (column("id"), column("a", "b"), column("b", "a")), ("id",), ()),)
    (_, first), (_, second) = migration_steps(record(record([], 1, before), 2, after))
    db = sqlite3.connect(":memory:")
    db.executescript(";\n".join(first))
    db.execute("INSERT INTO notes VALUES ('n1', 'first', 'second')")
    writes = [{"a": "x", "b": [1, {"c": True}]}, {"a": None}, {"b": False}, {"a": 1.5, "other": "kept"}]
    for values in writes:
        db.execute(
            "INSERT INTO _sync_outbox (tx, \"table\", op, pk, \"values\") VALUES (1, 'notes', 'patch', ?, ?)",
            ('{"id": "n1"}', json.dumps(values)),
        )
    db.executescript(";\n".join(second))
    assert db.execute("SELECT a, b FROM notes").fetchall() == [("second", "first")]
    assert [values for _, _, _, values in outbox(db)] == [
        {"id": "n1", "b": "first", "a": "second"},  # the insert's own put
        {"b": "x", "a": [1, {"c": True}]},
        {"b": None},
        {"a": False},
        {"b": 1.5, "other": "kept"},
    ]


def notes(*columns: ColumnShape) -> tuple[TableShape, ...]:
    return (TableShape("notes", "notes", columns, ("id",), ()),)


def text_column(name: str, renamed_from: str | None = None) -> ColumnShape:
    return ColumnShape(name, name, "TEXT", name == "id", None, True, renamed_from)


def test_the_version_after_a_rename_leaves_the_renamed_table_alone() -> None:
    """The rename belongs to its own step: the next version, recorded without it, rebuilt the table
    again (and cleared the cursor: a bootstrap on every device) though nothing of it changed."""
    key, title = text_column("id"), text_column("title")
    label = text_column("label", renamed_from="title")
    other = TableShape("tags", "tags", (key,), ("id",), ())
    history = record(
        record(record([], 1, notes(key, title)), 2, notes(key, label)),
        3,
        (*notes(key, text_column("label")), other),
    )
    (_, _), (_, second), (_, third) = migration_steps(history)
    assert 'DROP TABLE "notes"' in second
    assert not [s for s in third if '"notes"' in s]
    assert third[-1] == 'UPDATE "_sync_state" SET "schema_version" = 3, "cursor" = NULL'  # for the new table


def test_a_column_renamed_into_a_dropped_one_s_name_takes_its_own_values() -> None:
    """Dropping title and renaming label to title in one version: the new title holds label's values
    on the device and in pending writes; the dropped title's pending values go, as a dropped column's do."""
    key = text_column("id")
    before = notes(key, text_column("title"), text_column("label"))
    after = notes(key, text_column("title", renamed_from="label"))
    (_, first), (_, second) = migration_steps(record(record([], 1, before), 2, after))
    db = sqlite3.connect(":memory:")
    db.executescript(";\n".join(first))
    db.execute("UPDATE _sync_state SET applying = 1")
    db.execute("INSERT INTO notes VALUES ('n1', 'dropped title', 'kept label')")
    db.execute("UPDATE _sync_state SET applying = 0")
    db.execute("UPDATE notes SET title = 'edited title', label = 'edited label'")
    db.execute("UPDATE notes SET title = 'edited title again'")
    db.executescript(";\n".join(second))
    assert db.execute("SELECT id, title FROM notes").fetchall() == [("n1", "edited label")]
    assert [values for _, _, _, values in outbox(db)] == [{"title": "edited label"}, {}]


def test_a_renamed_column_whose_name_a_json_path_cannot_spell_is_not_moved() -> None:
    """SQLite's JSON paths have no escape for '"', and read '\\' in a quoted label as itself where
    the stored key holds it escaped: such a column's pending values are pruned as a dropped one's."""
    key = text_column("id")
    for name in ('say "hi"', "back\\slash"):
        steps = migration_steps(
            record(record([], 1, notes(key, text_column(name))), 2, notes(key, text_column("plain", name)))
        )
        assert not [s for s in steps[1][1] if s.startswith('UPDATE "_sync_outbox"')]


def pending_after(history: list[Version], start: int, writes: list[dict[str, object]]) -> list[object]:
    """The pending writes' values of a device built at version `start`, after the steps above it."""
    steps = migration_steps(history)
    db = sqlite3.connect(":memory:")
    for version, statements in steps:
        if version <= start:
            db.executescript(";\n".join(statements))
    for values in writes:
        db.execute(
            "INSERT INTO _sync_outbox (tx, \"table\", op, pk, \"values\") VALUES (1, 'notes', 'patch', ?, ?)",
            ('{"id": "n1"}', json.dumps(values)),
        )
    for version, statements in steps:
        if version > start:
            db.executescript(f"BEGIN;\n{';'.join(statements)};\nCOMMIT;")
    return [values for _, _, _, values in outbox(db)]


@pytest.mark.parametrize("reuse", ["renamed", "added"])
def test_a_name_reused_in_a_later_step_does_not_take_a_dropped_column_s_pending_values(reuse: str) -> None:
    """Version 3 drops title; version 4 gives the name to note (or to a new column). A device at
    version 2 runs both steps, and the runtime prunes dropped columns only after the last: step 4
    handed the old title's pending value to the new title, which the server then overwrote."""
    key, title, note = text_column("id"), text_column("title"), text_column("note")
    reused = text_column("title", "note") if reuse == "renamed" else text_column("title")
    fourth = notes(key, reused) if reuse == "renamed" else notes(key, note, reused)
    history = record(
        record(record(record([], 1, notes(key, title)), 2, notes(key, title, note)), 3, notes(key, note)),
        4,
        fourth,
    )
    pending = pending_after(history, 2, [{"title": "old title"}, {"note": "a note"}])
    assert pending == ([{}, {"title": "a note"}] if reuse == "renamed" else [{}, {"note": "a note"}])


def test_a_column_made_not_null_loses_its_pending_nulls() -> None:
    """A put queued with null in a column since made NOT NULL was refused, its row lost: the null
    goes, so the server keeps the row's value or takes the column's default."""
    key = text_column("id")
    tightened = ColumnShape("note", "note", "TEXT", True, "'m'", True)
    history = record(record([], 1, notes(key, text_column("note"))), 2, notes(key, tightened))
    assert pending_after(history, 1, [{"note": None}, {"note": "kept"}]) == [{}, {"note": "kept"}]


def test_a_name_whose_rename_cannot_be_moved_still_drops_stale_values() -> None:
    """`a"b` renamed into dropped X cannot move (a JSON path cannot spell it); X's pending value is
    still the dropped X's, not the new X's, and goes."""
    key = text_column("id")
    before = notes(key, text_column("X"), text_column('a"b'))
    after = notes(key, text_column("X", renamed_from='a"b'))
    assert pending_after(record(record([], 1, before), 2, after), 1, [{"X": "old X value"}]) == [{}]


@pytest.mark.parametrize("taker", ["reindexed", "rebuilt", "added"])
def test_an_index_name_moving_to_another_table_ends_on_that_table(taker: str) -> None:
    """A revision drops `shared_idx` from one table and gives the name to an index of another (the
    table before it in the step). Made before the old index was dropped, the new one failed the
    step on every open (an index of that name exists), or was made and then dropped by the other
    table's statements, leaving the device without it."""
    key, x = text_column("id"), text_column("x")
    giver = TableShape("givers", "givers", (key, x), ("id",), (("shared_idx", ("x",)),))
    taken = ("shared_idx", ("x",))
    before_taker = TableShape("takers", "takers", (key, x), ("id",), ())
    columns = (key, x, text_column("y")) if taker == "rebuilt" else (key, x)
    after_taker = TableShape("takers", "takers", columns, ("id",), (taken,))
    before = (giver,) if taker == "added" else (before_taker, giver)
    after = (after_taker, replace(giver, indexes=()))
    steps = migration_steps(record(record([], 1, before), 2, after))
    db = sqlite3.connect(":memory:", isolation_level=None)
    for _, statements in steps:
        db.executescript(f"BEGIN;\n{';'.join(statements)};\nCOMMIT;")
    indexes = db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    assert indexes.fetchall() == [("shared_idx", "takers")]
