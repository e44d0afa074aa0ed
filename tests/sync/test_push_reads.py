"""A batch of patches finds its rows by key: it reads the rows it names, never the user's whole scope.

Inside the pushing transaction `pg_stat_xact_user_tables` counts the rows of
`todos` read by sequential scans and fetched through indexes (see
table_reads.py). The batch's one UPDATE tests each row's scope, which the
scope index could serve: on a table without statistics the planner took
that index, read every row of the team and hashed the batch against them,
so a 100-patch push read all 3,000 rows of its team. And in a table small
next to the batch (version 7) the planner's cheapest plan was a sequential
scan of the whole table, hashed against the batch. Each test runs on todos
as the scope index serves it and as its own index on (team_id, id) does
(library version 13). There the rule's text has no statistics: tested as
text, the planner put the team's rows at half a percent of the table and
scanned all of it, kept in memory and compared with every patch (version
13). Version 14 made statistics on the rule's text; since version 15 push
tests the rule's column, team_id, whose statistics ANALYZE keeps.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from tests.sync import seed

TEAM_ROWS = 3000
OTHER_ROWS = 60_000
PATCHES = 100


@pytest.fixture(params=seed.SCOPE_INDEXES)
def served(db: psycopg.Connection[Any], request: pytest.FixtureRequest) -> psycopg.Connection[Any]:
    """The example database with todos' scope served by the scope index or by its own index."""
    seed.serve_scope(db, request.param)
    return db


def test_a_batch_of_patches_reads_the_rows_it_names_and_no_others(served: psycopg.Connection[Any]) -> None:
    db = served
    alice, team = seed.member(db, "alice", "A")
    others = [seed.team(db, f"other {i}") for i in range(OTHER_ROWS // 1000)]
    for team_id, rows in [(team, TEAM_ROWS)] + [(other, 1000) for other in others]:
        add_todos(db, team_id, rows)
    forget_statistics(db)
    seq_read, index_fetched = push_reads(db, alice, team, PATCHES)
    assert seq_read == 0
    assert index_fetched <= PATCHES, index_fetched  # one lookup by key per patch


def test_a_batch_of_patches_probes_its_rows_even_in_a_table_small_next_to_it(
    served: psycopg.Connection[Any],
) -> None:
    """1,000 patches to a team of 3,000 rows, alone in the table, with statistics: the planner's
    cheapest join by its estimates was a hash join over a sequential scan of the whole table
    (version 7), which tested the scope of every row; since version 8 the batch's key condition
    (`= ANY (ARRAY[key])`) can only be probed, once per patch."""
    db = served
    alice, team = seed.member(db, "alice", "A")
    add_todos(db, team, TEAM_ROWS)
    db.execute("ANALYZE todos")
    seq_read, index_fetched = push_reads(db, alice, team, 1000)
    assert seq_read == 0
    assert index_fetched <= 1000, index_fetched


def test_a_batch_of_patches_probes_its_rows_in_a_table_the_planner_knows_nothing_of(
    served: psycopg.Connection[Any],
) -> None:
    """A team of 3,000 rows alone in a table never analyzed (a new project's first team, a bulk
    load before autovacuum's ANALYZE, a server without autovacuum): the scope test, a test of the
    table alone, was estimated at a handful of rows, which the planner read into memory once and
    tested every patch against, 100 x 3,000 comparisons (500 patches to 5,000 rows: 2-3 s, against
    0.03 s through the index). Since version 29 the test names the batch's row too, so it applies
    after the join and the table's side is the whole table, which only the index reads cheaply."""
    db = served
    alice, team = seed.member(db, "alice", "A")
    add_todos(db, team, TEAM_ROWS)
    forget_statistics(db)
    seq_read, index_fetched = push_reads(db, alice, team, PATCHES)
    assert seq_read == 0
    assert index_fetched <= PATCHES, index_fetched


def test_a_batch_of_deletes_probes_its_rows_in_a_table_the_planner_knows_nothing_of(
    served: psycopg.Connection[Any],
) -> None:
    """Library version 30's one DELETE of a run joins the batch to the table by the key probe, its
    scope test naming the batch's row so that it applies after the row is found: on the same team
    alone in a table never analyzed it reads the rows it names through the primary key. With the
    scope test of the table alone in the DELETE's WHERE, the planner read the whole team by
    sequential scan."""
    db = served
    alice, team = seed.member(db, "alice", "A")
    add_todos(db, team, TEAM_ROWS)
    forget_statistics(db)
    named = db.execute(
        "SELECT id::text FROM todos WHERE team_id = %s ORDER BY random() LIMIT %s", (team, PATCHES)
    ).fetchall()
    deletes = [
        {"id": i, "tx": i, "table": "todos", "op": "delete", "pk": {"id": todo}}
        for i, (todo,) in enumerate(named, start=1)
    ]
    seq_read, index_fetched = pushed_reads(db, alice, deletes)
    left = db.execute("SELECT count(*) FROM todos WHERE team_id = %s", (team,)).fetchone()
    assert left == (TEAM_ROWS - PATCHES,)
    assert seq_read == 0
    assert index_fetched <= PATCHES, index_fetched


def test_a_rule_tested_as_text_without_statistics_has_a_table_its_own_index_serves_scanned(
    db: psycopg.Connection[Any],
) -> None:
    """What the column test guards against, shown by taking it out of the cached write plan:
    the same push as above, testing the rule's text, of which nothing has statistics, reads the
    whole table by sequential scan, once the scope test is also a test of the table alone again
    (as before version 29, which applies it after the join: a second guard of the same plan)."""
    seed.serve_scope(db, "own index")
    alice, team = seed.member(db, "alice", "A")
    add_todos(db, team, TEAM_ROWS)
    db.execute("ANALYZE todos")
    plan = db.execute("""SELECT drizzlesync.write_plans('[{"table": "todos"}]')->'todos'""").fetchone()
    assert plan is not None
    assert plan[0]["scope_column"] == {"prefix": "team:", "column": "team_id", "type": "uuid"}
    db.execute("UPDATE drizzlesync.write_plan_cache SET plan = plan - 'scope_column'")
    scope_on_the_table_alone(db)
    seq_read, _ = push_reads(db, alice, team, 1000)
    assert seq_read >= TEAM_ROWS


def add_todos(db: psycopg.Connection[Any], team: str, rows: int) -> None:
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT %s, 'todo ' || i FROM generate_series(1, %s) AS i",
        (team, rows),
    )


def forget_statistics(db: psycopg.Connection[Any]) -> None:
    """As todos is until it is first analyzed: the planner knows nothing of the team's share."""
    db.execute(
        "DELETE FROM pg_statistic WHERE starelid = 'todos'::regclass "
        "OR starelid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'todos'::regclass)"
    )


def scope_on_the_table_alone(db: psycopg.Connection[Any]) -> None:
    """Puts back version 28's batch UPDATE, whose scope test names the table alone."""
    row = db.execute(
        "SELECT pg_get_functiondef('drizzlesync.apply_patches(text[], jsonb, jsonb)'::regprocedure)"
    ).fetchone()
    assert row is not None and JOINED in row[0]
    db.execute(row[0].replace(JOINED, "(%5$s) IS TRUE"))


JOINED = "((%5$s) OR m.drizzlesync_mutation IS NULL) IS TRUE"
"""Version 29's scope test in the batch UPDATE's text."""


def push_reads(db: psycopg.Connection[Any], user: str, team: str, patches: int) -> tuple[int, int]:
    """Rows of `todos` a push of `patches` patches to rows of `team` read by sequential scans and
    fetched through indexes; the push must apply every patch."""
    named = db.execute(
        "SELECT id::text FROM todos WHERE team_id = %s ORDER BY random() LIMIT %s", (team, patches)
    ).fetchall()
    mutations = [
        {"id": i, "tx": i, "table": "todos", "op": "patch", "pk": {"id": todo}, "values": {"title": f"p {i}"}}
        for i, (todo,) in enumerate(named, start=1)
    ]
    counted = pushed_reads(db, user, mutations)
    titles = db.execute("SELECT count(*) FROM todos WHERE title LIKE 'p %'").fetchone()
    assert titles is not None and titles[0] == patches
    return counted


def pushed_reads(db: psycopg.Connection[Any], user: str, mutations: list[dict[str, Any]]) -> tuple[int, int]:
    """Rows of `todos` a push of `mutations` (numbered from 1) read by sequential scans and fetched
    through indexes; the push must reject none of them."""
    with db.transaction():
        before = reads(db)
        row = db.execute(
            "SELECT drizzlesync.push(%s, '{}'::jsonb, 'laptop', 1, %s::jsonb)", (user, json.dumps(mutations))
        ).fetchone()
        after = reads(db)
    assert row is not None and row[0] == {"lastMutationId": len(mutations), "rejected": []}
    return after[0] - before[0], after[1] - before[1]


def reads(db: psycopg.Connection[Any]) -> tuple[int, int]:
    row = db.execute(
        "SELECT coalesce(sum(seq_tup_read), 0), coalesce(sum(idx_tup_fetch), 0) "
        "FROM pg_stat_xact_user_tables WHERE schemaname = 'public' AND relname = 'todos'"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
