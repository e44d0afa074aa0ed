"""What a request costs does not grow with the number of tables in the database (library version 22).

A push finds the tables its batch names through an index on their wire name,
and a pull page lists the tables without a scope rule through a partial
index, where both read every row of the registry before. A push's check of
deferred constraints reads only the initially deferred rows of pg_constraint
and gives the answer version 18's grouping of every row gave.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from tests.sync import seed
from tests.sync.syncclient import SCHEMA_VERSION

# A large application's schema. In a registry of a few hundred tables the planner rightly reads it
# whole: comparing stored names costs less there than probing the index.
EXTRA_TABLES = 1000
REGISTRY_SCANS = (
    "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables"
    " WHERE schemaname = 'drizzlesync' AND relname = 'synced_table'"
)
# Version 18's reading of the catalog, the reference the new one must agree with.
GROUPED = """
SELECT CASE WHEN NOT coalesce(bool_or(c.any_deferred), false) THEN '-'
            ELSE coalesce(string_agg(format('%I.%I', n.nspname, c.conname), ', '
                                     ORDER BY n.nspname, c.conname) FILTER (WHERE c.all_deferred),
                          '+') END
FROM (SELECT connamespace, conname,
             bool_or(condeferred) AS any_deferred, bool_and(condeferred) AS all_deferred
      FROM pg_constraint GROUP BY connamespace, conname) AS c
JOIN pg_namespace AS n ON n.oid = c.connamespace
"""


def add_synced_tables(db: psycopg.Connection[Any], count: int) -> None:
    for i in range(count):
        db.execute(f"CREATE TABLE extra_{i} (id integer PRIMARY KEY, team_id uuid NOT NULL, note text)")
        db.execute("SELECT drizzlesync.enable_sync('public', %s, $$'team:' || team_id$$)", (f"extra_{i}",))
    db.execute("ANALYZE drizzlesync.synced_table")


def registry_reads(db: psycopg.Connection[Any], statement: str, params: tuple[Any, ...]) -> tuple[int, int]:
    """Sequential and index scans of the registry that running `statement` made."""
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # The view counts this transaction's scans alone: take the difference around the statement.
        before = db.execute(REGISTRY_SCANS).fetchone() or (0, 0)
        db.execute(statement, params)
        after = db.execute(REGISTRY_SCANS).fetchone() or (0, 0)
    return after[0] - before[0], after[1] - before[1]


def test_a_push_and_a_pull_page_find_their_tables_without_reading_the_whole_registry(
    db: psycopg.Connection[Any],
) -> None:
    add_synced_tables(db, EXTRA_TABLES)
    alice, team = seed.member(db, "alice", "A")
    todo = str(uuid.uuid4())
    put = {"id": 1, "tx": 1, "table": "todos", "op": "put", "pk": {"id": todo}}
    put["values"] = {"team_id": team, "title": "first"}
    push = "SELECT drizzlesync.push(%s, '{}'::jsonb, 'laptop', %s, %s::jsonb)"
    db.execute(push, (alice, SCHEMA_VERSION, json.dumps([put])))  # plans cached, statements planned
    patch = {"id": 2, "tx": 2, "table": "todos", "op": "patch", "pk": {"id": todo}, "values": {"done": True}}
    sequential, probes = registry_reads(db, push, (alice, SCHEMA_VERSION, json.dumps([patch])))
    assert (sequential, probes > 0) == (0, True)
    assert db.execute("SELECT done FROM todos WHERE id = %s", (todo,)).fetchone() == (True,)

    pull = "SELECT drizzlesync.pull(%s, '{}'::jsonb, 'laptop', %s, NULL, 100)::text"
    sequential, probes = registry_reads(db, pull, (alice, SCHEMA_VERSION))
    assert (sequential, probes > 0) == (0, True)


def deferred_names(db: psycopg.Connection[Any]) -> str:
    """What the library's check found: '-' (nothing deferred), '+' or the names it sets back."""
    with db.transaction():
        db.execute("SELECT drizzlesync.check_deferred_constraints()")
        row = db.execute("SELECT current_setting('drizzlesync.deferred_constraints')").fetchone()
    assert row is not None
    return ", ".join(sorted(str(row[0]).split(", ")))


def grouped_names(db: psycopg.Connection[Any]) -> str:
    row = db.execute(GROUPED).fetchone()
    assert row is not None
    return str(row[0])


def test_the_deferred_constraints_found_are_those_version_18_found(db: psycopg.Connection[Any]) -> None:
    assert deferred_names(db) == grouped_names(db) == "-"
    # A name that an initially deferred constraint holds alone, in two schemas.
    db.execute("ALTER TABLE todos ALTER CONSTRAINT todos_project_id_fkey DEFERRABLE INITIALLY DEFERRED")
    db.execute("CREATE SCHEMA other")
    db.execute(
        "CREATE TABLE other.items (id integer PRIMARY KEY, parent integer, CONSTRAINT todos_project_id_fkey"
        " FOREIGN KEY (parent) REFERENCES other.items (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    both = "other.todos_project_id_fkey, public.todos_project_id_fkey"
    assert deferred_names(db) == grouped_names(db) == both
    # The public one's name now also held by a constraint that is not deferred: it cannot be named.
    db.execute("ALTER TABLE projects ADD CONSTRAINT todos_project_id_fkey CHECK (name <> '')")
    assert deferred_names(db) == grouped_names(db) == "other.todos_project_id_fkey"
    # Deferrable but initially immediate: nothing to set back for it.
    db.execute(
        "ALTER TABLE other.items ALTER CONSTRAINT todos_project_id_fkey DEFERRABLE INITIALLY IMMEDIATE"
    )
    assert deferred_names(db) == grouped_names(db) == "+"
