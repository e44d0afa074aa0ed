"""What every push pays before its mutations: finding its write plans (library version 20).

`write_plans` checks each cached plan against its table's shape
(`table_shape`), so that a column added or a rule changed is never written
with a stale plan (tests/sync/test_push.py). Until version 20 it computed the
shape three times for each table a batch named, each a SQL function parsed
and planned anew, and called `wire_name` once per synced table besides: 40 %
of a one-patch push. Counted here with `track_functions = 'all'`, which
counts a SQL function's calls unless the planner inlined it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from tests.sync import seed
from tests.sync.syncclient import SCHEMA_VERSION

CALLS = (
    "SELECT funcname, calls FROM pg_stat_xact_user_functions"
    " WHERE schemaname = 'drizzlesync' AND funcname IN ('table_shape', 'wire_name')"
)


def push_calls(db: psycopg.Connection[Any], user: str, batch: list[dict[str, Any]]) -> dict[str, int]:
    """The calls of table_shape and wire_name that pushing `batch` made."""
    with db.transaction():
        db.execute("SET LOCAL track_functions = 'all'")
        # The view also counts calls of earlier transactions not yet reported: take the difference.
        before = dict(db.execute(CALLS).fetchall())
        db.execute(
            "SELECT drizzlesync.push(%s, '{}'::jsonb, 'fixed-cost', %s, %s::jsonb)",
            (user, SCHEMA_VERSION, json.dumps(batch)),
        )
        after = dict(db.execute(CALLS).fetchall())
    return {name: after.get(name, 0) - before.get(name, 0) for name in ("table_shape", "wire_name")}


def test_a_push_computes_the_shape_of_each_table_it_names_once(db: psycopg.Connection[Any]) -> None:
    alice, team = seed.member(db, "alice", "A")
    project = str(uuid.uuid4())
    todos = [str(uuid.uuid4()) for _ in range(3)]
    batch: list[dict[str, Any]] = [
        {"table": "projects", "op": "put", "pk": {"id": project}, "values": {"team_id": team, "name": "P"}},
        *(
            {"table": "todos", "op": "put", "pk": {"id": t}, "values": {"team_id": team, "title": t}}
            for t in todos
        ),
    ]
    for i, mutation in enumerate(batch, start=1):
        mutation.update(id=i, tx=i)
    # push reads the plan of the first mutation's table to try the batch whole; a batch of two
    # tables is not taken whole, and then the plans of both are read.
    assert push_calls(db, alice, batch) == {"table_shape": 1 + 2, "wire_name": 0}
    patch = {"id": 5, "tx": 5, "table": "todos", "op": "patch", "pk": {"id": todos[0]}}
    patch["values"] = {"done": True}
    assert push_calls(db, alice, [patch]) == {"table_shape": 1, "wire_name": 0}
    assert db.execute("SELECT done FROM todos WHERE id = %s", (todos[0],)).fetchone() == (True,)


def test_wire_name_means_the_same_under_any_search_path(db: psycopg.Connection[Any]) -> None:
    """wire_name is inlined into its callers' statements, parsed under their search_path: an
    operator or a type of another schema found first must not change the name."""
    db.execute("CREATE SCHEMA hostile")
    db.execute(
        "CREATE FUNCTION hostile.glue(text, text) RETURNS text"
        " LANGUAGE sql IMMUTABLE AS $$ SELECT 'hijacked' $$"
    )
    db.execute("CREATE OPERATOR hostile.|| (leftarg = text, rightarg = text, function = hostile.glue)")
    db.execute(
        "CREATE FUNCTION hostile.same(name, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$"
    )
    db.execute("CREATE OPERATOR hostile.= (leftarg = name, rightarg = text, function = hostile.same)")
    with db.transaction():
        db.execute("SET LOCAL search_path = hostile, pg_catalog")
        assert db.execute("SELECT 'a'::text || 'b'").fetchone() == ("hijacked",)  # the operator is found
        names = db.execute(
            "SELECT drizzlesync.wire_name(n, t) FROM (VALUES ('app'::name, 'items'::name),"
            " ('public'::name, 'todos'::name)) AS v(n, t)"
        ).fetchall()
    assert names == [("app.items",), ("todos",)]
