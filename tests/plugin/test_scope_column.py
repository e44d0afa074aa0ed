"""Library version 13 serves a scope rule from the table's own index on (rule column, primary key).

A rule that is a constant before one column's text reads back into that
column's value; where the table has a btree on the column and then the
primary key, bootstrap pages walk it and the library builds no scope index.
Any other rule, or any other index, keeps the scope index (test_scope_index.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import EnableSyncOp, InstallOp, RefreshScopeIndexOp, SetSyncScopeOp, UpgradeOp
from tests.plugin.test_scope_index import scope_indexes
from tests.support import apply_ops, execute

NOTES = (
    'CREATE TABLE notes (id bigint PRIMARY KEY, team integer, owner text, code uuid, "Desk" smallint,'
    " due timestamptz, kind varchar(10))"
)


def read_back(url: str, table: str = "notes") -> tuple[Any, ...]:
    """scope_column of a synced table: (prefix, column, type, index)."""
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT c.prefix, c.column_name, c.column_type::text, c.index_name::text"
            " FROM drizzlesync.synced_table AS s, drizzlesync.scope_column(s) AS c WHERE s.table_name = %s",
            (table,),
        ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("'team:' || team", ("team:", "team", "integer", "notes_team")),
        ("team::text", ("", "team", "integer", "notes_team")),
        ("  'o''k:'||owner  ", ("o'k:", "owner", "text", "notes_owner")),
        ("owner", ("", "owner", "text", "notes_owner")),
        ("'c:' || code", ("c:", "code", "uuid", "notes_code")),
        ("""'d:' || "Desk\"""", ("d:", "Desk", "smallint", "notes_desk")),
        ("'k:' || kind", ("k:", "kind", "character varying", "notes_kind")),
        ("'t:' || id", ("t:", "id", "bigint", "notes_pkey")),  # the key itself: its own index
        # Read back, but no index on (column, key): the scope index stays.
        ("'d:' || due::date", (None, None, None, None)),  # not one column's text
        ("'d:' || due", (None, None, None, None)),  # a type with more than one text form
        ("'team:' || team || ':x'", (None, None, None, None)),
        ("lower(owner)", (None, None, None, None)),
        ("'Team:' || TEAM", (None, None, None, None)),  # an unquoted name in capitals: not read back
    ],
)
def test_a_rule_reads_back_into_its_column_and_index(
    db_url: str, rule: str, expected: tuple[Any, ...]
) -> None:
    execute(
        db_url,
        NOTES,
        "CREATE INDEX notes_team ON notes (team, id)",
        "CREATE INDEX notes_owner ON notes (owner, id)",
        "CREATE INDEX notes_code ON notes (code, id) INCLUDE (owner)",
        'CREATE INDEX notes_desk ON notes ("Desk", id)',
        "CREATE INDEX notes_kind ON notes (kind, id)",
    )
    apply_ops(db_url, InstallOp(), EnableSyncOp("notes", None, rule))
    prefix, column, type_name, index = read_back(db_url)
    if expected[0] is None:
        assert (column, index) == (None, None)
        assert len(scope_indexes(db_url)) == (0 if "due" in rule else 1)  # due::date cannot be indexed
    else:
        assert (prefix, column, type_name, index) == expected
        assert scope_indexes(db_url) == []


@pytest.mark.parametrize(
    "index",
    [
        "CREATE INDEX notes_team ON notes (team)",  # no key order within a team
        "CREATE INDEX notes_team ON notes (team, id) WHERE team > 0",  # not every row
        "CREATE INDEX notes_team ON notes (team DESC, id)",
        "CREATE INDEX notes_team ON notes (id, team)",
        "CREATE INDEX notes_team ON notes (team, id, owner)",
        "CREATE INDEX notes_team ON notes USING hash (team)",
        "CREATE INDEX notes_team ON notes ((team + 0), id)",
    ],
)
def test_an_index_of_another_shape_keeps_the_scope_index(db_url: str, index: str) -> None:
    execute(db_url, NOTES, index)
    apply_ops(db_url, InstallOp(), EnableSyncOp("notes", None, "'team:' || team"))
    assert read_back(db_url)[3] is None
    assert len(scope_indexes(db_url)) == 1


def test_a_key_column_after_the_first_keeps_the_scope_index(db_url: str) -> None:
    """memberships' (user_id, team_id) key scoped by team_id: an index (team_id, user_id, team_id)
    cannot exist, and (team_id, user_id) would leave the key's order to a filter."""
    execute(
        db_url,
        "CREATE TABLE members (user_id integer, team_id integer, PRIMARY KEY (user_id, team_id))",
        "CREATE INDEX members_team ON members (team_id, user_id)",
    )
    apply_ops(db_url, InstallOp(), EnableSyncOp("members", None, "'team:' || team_id"))
    assert read_back(db_url, "members")[3] is None
    assert len(scope_indexes(db_url)) == 1


def test_unreadable_keys_read_back_to_no_value_and_no_error(db_url: str) -> None:
    """Keys come from user_scopes, so any text: the filter keeps the values whose one text form
    follows the prefix, and selects exactly the rows under the keys."""
    execute(
        db_url,
        NOTES,
        "CREATE INDEX notes_team ON notes (team, id)",
        "INSERT INTO notes (id, team) SELECT g, g % 4 - 1 FROM generate_series(1, 40) AS g",  # teams -1 to 2
    )
    apply_ops(db_url, InstallOp(), EnableSyncOp("notes", None, "'team:' || team"))
    keys = ["team:1", "team:002", "team:abc", "team:99999999999", "other:0", "team:", "team:-1", "team:+0"]
    with psycopg.connect(localdb.libpq_url(db_url)) as conn:
        row = conn.execute(
            "SELECT drizzlesync.scope_column_filter(s, %s) FROM drizzlesync.synced_table AS s", (keys,)
        ).fetchone()
        assert row == ("t.team = ANY('{-1,1}'::integer[])",)
        one = conn.execute(
            "SELECT drizzlesync.scope_column_filter(s, ARRAY['team:abc']),"
            " drizzlesync.scope_column_filter(s, ARRAY['team:2'])  FROM drizzlesync.synced_table AS s"
        ).fetchone()
        assert one == ("false", "t.team = '2'::integer")


# Each type the rule's column may have, its values at the edges of its text forms.
KEYED = {
    "smallint": ["-32768", "-1", "0", "7", "10", "32767"],
    "integer": ["-2147483648", "-7", "0", "7", "70", "2147483647"],
    "bigint": ["-9223372036854775808", "0", "7", "9223372036854775807"],
    "uuid": ["00000000-0000-0000-0000-000000000000", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
    "text": ["", "7", "007", "a", "A", "é", " a", "a "],
}
VALUE_TEXTS = sorted({v for values in KEYED.values() for v in values})
# What a key may be: a value's text and variations of it that are not its text, or anything.
KEY_TEXTS = st.one_of(
    st.sampled_from(VALUE_TEXTS),
    st.sampled_from(VALUE_TEXTS).map(lambda v: "0" + v),
    st.sampled_from(VALUE_TEXTS).map(lambda v: "+" + v),
    st.sampled_from(VALUE_TEXTS).map(str.upper),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=6),
)
KEYS = st.lists(st.one_of(KEY_TEXTS.map(lambda k: "k:" + k), KEY_TEXTS), max_size=6)


@pytest.fixture(scope="module")
def keyed(pg_server: str) -> Iterator[psycopg.Connection[Any]]:
    """A table a type, scoped by 'k:' || v and indexed on (v, id), holding KEYED's values."""
    with localdb.temporary_database(pg_server) as url:
        for type_name, values in KEYED.items():
            table = f"k_{type_name}"
            execute(
                url,
                f"CREATE TABLE {table} (id serial PRIMARY KEY, v {type_name})",
                f"CREATE INDEX ON {table} (v, id)",
                f"INSERT INTO {table} (v) SELECT unnest({sql_array(values)}::text[])::{type_name}",
            )
        apply_ops(url, InstallOp(), *(EnableSyncOp(f"k_{t}", None, "'k:' || v") for t in KEYED))
        with psycopg.connect(localdb.libpq_url(url), autocommit=True) as conn:
            yield conn


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


@settings(max_examples=80, deadline=None)
@given(keys=KEYS)
def test_the_filter_selects_exactly_the_rows_under_the_keys(
    keyed: psycopg.Connection[Any], keys: list[str]
) -> None:
    """Through the filter alone, with no test of the rule beside it: every type, any keys. Push's
    test (library version 15), from the read-back its write plan keeps, is the same condition, and a
    pull page's (library version 17) selects the same rows through the values it reads back."""
    for type_name in KEYED:
        table = f"k_{type_name}"
        row = keyed.execute(
            "SELECT drizzlesync.scope_column_filter(s, %s) FROM drizzlesync.synced_table AS s"
            " WHERE s.table_name = %s",
            (keys, table),
        ).fetchone()
        assert row is not None and row[0] is not None, table
        planned = keyed.execute(
            "SELECT drizzlesync.write_plans(jsonb_build_array(jsonb_build_object('table', %s::text)))->%s",
            (table, table),
        ).fetchone()
        assert planned is not None and planned[0] is not None, table
        read = planned[0]["scope_column"]
        pushed = keyed.execute(
            "SELECT drizzlesync.scope_column_test(%s::text, %s::name, %s::regtype, %s::text[])",
            (read["prefix"], read["column"], read["type"], keys),
        ).fetchone()
        assert pushed == row, (table, keys)
        through_filter = keyed.execute(
            f"SELECT array_agg(t.id ORDER BY t.id) FROM {table} AS t WHERE {row[0]}"
        )
        by_rule = keyed.execute(
            f"SELECT array_agg(t.id ORDER BY t.id) FROM {table} AS t WHERE ('k:' || t.v) = ANY(%s)", (keys,)
        ).fetchone()
        assert through_filter.fetchone() == by_rule, (table, keys, row[0])
        through_values = keyed.execute(
            f"SELECT array_agg(t.id ORDER BY t.id) FROM {table} AS t"
            f" WHERE t.v = ANY(drizzlesync.scope_column_values(%s, %s::regtype, %s)::{read['type']}[])",
            (read["prefix"], read["type"], keys),
        )
        assert through_values.fetchone() == by_rule, (table, keys)


def test_a_column_under_a_nondeterministic_collation_keeps_the_scope_index(db_url: str) -> None:
    """Under a case-insensitive collation 'Ann' = 'ann': the column's equality is not its rule's."""
    execute(
        db_url,
        "CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        "CREATE TABLE notes (id bigint PRIMARY KEY, owner text COLLATE nocase)",
        "CREATE INDEX notes_owner ON notes (owner, id)",
    )
    apply_ops(db_url, InstallOp(), EnableSyncOp("notes", None, "'user:' || owner"))
    assert read_back(db_url)[3] is None
    assert len(scope_indexes(db_url)) == 1


def test_rescoping_onto_another_column_brings_the_scope_index_back(db_url: str) -> None:
    execute(db_url, NOTES, "CREATE INDEX notes_team ON notes (team, id)")
    apply_ops(db_url, InstallOp(), EnableSyncOp("notes", None, "'team:' || team"))
    assert scope_indexes(db_url) == []
    apply_ops(db_url, SetSyncScopeOp("notes", None, "'user:' || owner", "'team:' || team"))
    assert read_back(db_url)[3] is None and len(scope_indexes(db_url)) == 1
    apply_ops(db_url, SetSyncScopeOp("notes", None, "'team:' || team", "'user:' || owner"))
    assert scope_indexes(db_url) == []


def test_a_refresh_follows_the_tables_indexes_and_leaves_an_index_as_decided_alone(db_url: str) -> None:
    execute(db_url, NOTES)
    apply_ops(db_url, InstallOp(), EnableSyncOp("notes", None, "'team:' || team"))

    def scope_index_oid() -> Any:
        with psycopg.connect(localdb.libpq_url(db_url)) as conn:
            row = conn.execute("SELECT to_regclass('public.drizzlesync_scope_1')::oid").fetchone()
        assert row is not None
        return row[0]

    built = scope_index_oid()
    assert built is not None
    apply_ops(db_url, RefreshScopeIndexOp("notes"), RefreshScopeIndexOp("not_synced"))
    assert scope_index_oid() == built  # not built again
    execute(db_url, "CREATE INDEX notes_team ON notes (team, id)")
    apply_ops(db_url, RefreshScopeIndexOp("notes"))
    assert scope_indexes(db_url) == []
    execute(db_url, "DROP INDEX notes_team")
    apply_ops(db_url, RefreshScopeIndexOp("notes"))
    assert len(scope_indexes(db_url)) == 1


def test_version_13_drops_the_scope_index_the_tables_index_serves_and_its_downgrade_rebuilds_it(
    db_url: str,
) -> None:
    execute(
        db_url,
        NOTES,
        "CREATE TABLE other (id bigint PRIMARY KEY, team integer)",
        "CREATE INDEX notes_team ON notes (team, id)",
    )
    apply_ops(
        db_url,
        InstallOp(12),
        EnableSyncOp("notes", None, "'team:' || team"),
        EnableSyncOp("other", None, "'team:' || team"),
    )
    assert [table for table, _ in scope_indexes(db_url)] == ["notes", "other"]
    apply_ops(db_url, UpgradeOp(12, 13))
    assert [table for table, _ in scope_indexes(db_url)] == ["other"]
    apply_ops(db_url, UpgradeOp(13, 12))
    assert [table for table, _ in scope_indexes(db_url)] == ["notes", "other"]
