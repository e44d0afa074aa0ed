"""A batch of puts to one table is one statement, and a mixed batch is cut into runs applied that
way (library version 19); so is a batch of deletes (version 30); each writes what one client
transaction at a time would.

`apply_puts` tries a batch as one `INSERT ... ON CONFLICT DO UPDATE` and undoes
it unless every put lands whole and in scope, as `apply_deletes` does with one
`DELETE`; `apply_runs` cuts a batch that none of them nor `apply_patches` takes
into runs of puts, patches or deletes to one table, each tried whole;
`apply_run` cuts a run that fails in halves, each tried the same way, down to
single client transactions, which reject the mutations that fail. Each test
pushes through `drizzlesync.push` on the test's own connection with
`track_functions = 'pl'`, so `pg_stat_xact_user_functions` tells which path
wrote: a mutation applied whole never calls `apply_mutation`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.sync import seed
from tests.sync.syncclient import SCHEMA_VERSION

CLIENT = "alice-device"


@pytest.fixture
def world(db: psycopg.Connection[Any]) -> dict[str, str]:
    """Alice in team A; Carol alone in team B."""
    names = {name: seed.user(db, name) for name in ("alice", "carol")}
    names["a"], names["b"] = seed.team(db, "A"), seed.team(db, "B")
    seed.join(db, names["alice"], names["a"])
    seed.join(db, names["carol"], names["b"])
    return names


def put(team: str, title: Any, todo_id: str | None = None, **values: Any) -> dict[str, Any]:
    return {
        "table": "todos",
        "op": "put",
        "pk": {"id": todo_id or str(uuid.uuid4())},
        "values": {"team_id": team, "title": title, **values},
    }


def push(
    db: psycopg.Connection[Any], user: str, transactions: list[dict[str, Any] | list[dict[str, Any]]]
) -> tuple[dict[str, str], int]:
    """Push `transactions` (a mutation, or a list of them, each a client transaction) with ids after
    the client's last one: the codes of the rejected (by mutation index in the batch) and how many
    calls of apply_mutation returned (Postgres does not count a call that raised)."""
    row = db.execute(
        "SELECT coalesce(max(last_mutation_id), 0) FROM drizzlesync.client WHERE client_id = %s", (CLIENT,)
    ).fetchone()
    assert row is not None
    first = int(row[0]) + 1
    batch: list[dict[str, Any]] = []
    for tx, mutations in enumerate(transactions):
        for m in mutations if isinstance(mutations, list) else [mutations]:
            batch.append({"id": first + len(batch), "tx": first + tx, **m})
    calls = (
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
        " WHERE schemaname = 'drizzlesync' AND funcname = 'apply_mutation'"
    )
    with db.transaction():
        db.execute("SET LOCAL track_functions = 'pl'")
        # The view also counts the calls of earlier transactions not yet reported (Postgres 15
        # reports at most once a second): the push's own calls are the difference.
        before = db.execute(calls).fetchone()
        result = db.execute(
            "SELECT drizzlesync.push(%s, '{}'::jsonb, %s, %s, %s::jsonb)",
            (user, CLIENT, SCHEMA_VERSION, json.dumps(batch)),
        ).fetchone()
        after = db.execute(calls).fetchone()
    assert result is not None and before is not None and after is not None
    response = result[0]
    assert response["lastMutationId"] == first + len(batch) - 1
    return {str(r["id"] - first): r["code"] for r in response["rejected"]}, int(after[0]) - int(before[0])


def todos(db: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    rows = db.execute("SELECT id::text, title, done, team_id::text, project_id::text FROM todos")
    return {row[0]: row[1:] for row in rows}


def test_a_batch_of_puts_inserts_and_overwrites_in_one_statement(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """Defaults fill what an inserted row's put leaves out; an existing row keeps every column its
    put leaves out; each row is logged as the client's."""
    project = db.execute(
        "INSERT INTO projects (team_id, name) VALUES (%s, 'p') RETURNING id::text", (world["a"],)
    ).fetchone()
    assert project is not None
    kept = seed.todo(db, world["a"], "old")
    db.execute("UPDATE todos SET done = true, project_id = %s WHERE id = %s", (project[0], kept))
    new = str(uuid.uuid4())
    rejected, calls = push(
        db, world["alice"], [put(world["a"], "overwritten", kept), put(world["a"], "new", new)]
    )
    assert (rejected, calls) == ({}, 0)
    assert todos(db) == {
        kept: ("overwritten", True, world["a"], project[0]),
        new: ("new", False, world["a"], None),
    }
    logged = db.execute(
        "SELECT pk->>'id' FROM drizzlesync.change_log WHERE client_id = %s ORDER BY 1", (CLIENT,)
    ).fetchall()
    assert logged == sorted([(kept,), (new,)])


def test_values_in_another_wire_form_are_converted(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """A timestamp that does not start with a digit from 1 to 9 (`infinity`) is converted by
    value_from_wire: the batch is rebuilt in its columns' input forms and still written in one
    statement."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    rejected, calls = push(
        db,
        world["alice"],
        [
            put(world["a"], "one", first, updated_at="infinity"),
            put(world["a"], "two", second, updated_at="2026-12-05T12:00:00Z"),
        ],
    )
    assert (rejected, calls) == ({}, 0)
    stamps = dict(db.execute("SELECT title, updated_at::text FROM todos").fetchall())
    assert stamps == {"one": "infinity", "two": "2026-12-05 12:00:00+00"}


# A put among good ones that the batch must not write: each is rejected with its code and the
# others land, one client transaction at a time. Arguments: the world, an existing todo of team
# A, one of team B.
BAD_PUTS: dict[str, tuple[str, Callable[[dict[str, str], str, str], dict[str, Any]]]] = {
    "unknown column": ("unknown_column", lambda w, ours, theirs: put(w["a"], "bad", secret=True)),
    "extra key column": (
        "invalid_key",
        lambda w, ours, theirs: {**put(w["a"], "bad"), "pk": {"id": str(uuid.uuid4()), "x": 1}},
    ),
    "key repeated with another value": (
        "pk_mismatch",
        lambda w, ours, theirs: put(w["a"], "bad", id=ours),
    ),
    "unknown table": ("unknown_table", lambda w, ours, theirs: {**put(w["a"], "bad"), "table": "nope"}),
    "other scope's row overwritten": ("forbidden", lambda w, ours, theirs: put(w["a"], "bad", theirs)),
    "row moved out of scope": ("forbidden", lambda w, ours, theirs: put(w["b"], "bad", ours)),
    "row made in another scope": ("forbidden", lambda w, ours, theirs: put(w["b"], "bad")),
    "not null broken": ("constraint_violation", lambda w, ours, theirs: put(w["a"], None)),
    "value of the wrong type": ("invalid_value", lambda w, ours, theirs: put(w["a"], 5)),
    "value that does not convert": (
        "invalid_value",
        lambda w, ours, theirs: put(w["a"], "bad", updated_at="not a time"),
    ),
    "other columns": (
        "constraint_violation",
        lambda w, ours, theirs: {**put(w["a"], "x"), "values": {"title": "x"}},
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PUTS))
def test_a_bad_put_among_good_ones_is_rejected_and_the_others_land(
    db: psycopg.Connection[Any], world: dict[str, str], case: str
) -> None:
    code, make = BAD_PUTS[case]
    ours, theirs = seed.todo(db, world["a"], "ours"), seed.todo(db, world["b"], "theirs")
    before = todos(db)
    first, last = str(uuid.uuid4()), str(uuid.uuid4())
    rejected, calls = push(
        db,
        world["alice"],
        [put(world["a"], "first", first), make(world, ours, theirs), put(world["a"], "last", last)],
    )
    assert rejected == {"1": code}
    assert calls > 0  # the batch went one transaction at a time
    assert todos(db) == before | {
        first: ("first", False, world["a"], None),
        last: ("last", False, world["a"], None),
    }


@pytest.mark.parametrize("rule", ["'team:' || team_id", "'team:' || team_id || ''"])
def test_the_current_row_is_tested_against_the_scopes_under_either_form_of_rule(
    db: psycopg.Connection[Any], world: dict[str, str], rule: str
) -> None:
    """A rule that reads back to its column is tested on that column (t.team_id); any other rule's
    columns are unqualified, which ON CONFLICT's WHERE (beside `excluded`) reads from the current row
    through a subquery."""
    db.execute("SELECT drizzlesync.set_sync_scope('public', 'todos', %s)", (rule,))
    ours, theirs = seed.todo(db, world["a"], "ours"), seed.todo(db, world["b"], "theirs")
    rejected, calls = push(
        db, world["alice"], [put(world["a"], "kept", ours), put(world["a"], "taken", theirs)]
    )
    assert rejected == {"1": "forbidden"}
    assert calls > 0
    assert todos(db)[theirs] == ("theirs", False, world["b"], None)
    rejected, calls = push(db, world["alice"], [put(world["a"], "again", ours), put(world["a"], "new")])
    assert (rejected, calls) == ({}, 0)
    assert todos(db)[ours][0] == "again"


def test_two_puts_of_one_key_apply_in_order(db: psycopg.Connection[Any], world: dict[str, str]) -> None:
    """One statement cannot write a row twice: the batch is cut in two, a put each, applied in order,
    the later put winning."""
    key = str(uuid.uuid4())
    rejected, calls = push(
        db, world["alice"], [put(world["a"], "first", key), put(world["a"], "second", key)]
    )
    assert rejected == {}
    assert calls == 2
    assert todos(db) == {key: ("second", False, world["a"], None)}


def test_a_deferred_constraint_broken_by_the_batch_rejects_only_its_transaction(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """The deferred checks run before the batch reports success; a violation sends it down the
    slower path, which rejects the put that broke the constraint."""
    db.execute(
        "ALTER TABLE todos DROP CONSTRAINT todos_project_id_fkey, ADD CONSTRAINT todos_project_id_fkey"
        " FOREIGN KEY (project_id) REFERENCES projects (id) DEFERRABLE INITIALLY DEFERRED"
    )
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    rejected, calls = push(
        db,
        world["alice"],
        [
            put(world["a"], "good", good, project_id=None),
            put(world["a"], "bad", bad, project_id=str(uuid.uuid4())),
        ],
    )
    assert rejected == {"1": "constraint_violation"}
    assert calls > 0
    assert set(todos(db)) == {good}


def patch(todo_id: str, **values: Any) -> dict[str, Any]:
    return {"table": "todos", "op": "patch", "pk": {"id": todo_id}, "values": values}


def delete(todo_id: str) -> dict[str, Any]:
    return {"table": "todos", "op": "delete", "pk": {"id": todo_id}}


def test_a_mixed_batch_applies_its_runs_whole_and_in_order(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """Puts, then patches, a delete, then puts again: each run of two or more is one statement, the
    delete its own transaction; a row written by several runs ends as the last one wrote it."""
    x, y, gone = (seed.todo(db, world["a"], title) for title in ("x", "y", "gone"))
    new = str(uuid.uuid4())
    rejected, calls = push(
        db,
        world["alice"],
        [
            put(world["a"], "x put", x),
            put(world["a"], "new", new),
            patch(x, title="x patched", done=True),
            patch(y, done=True),
            delete(gone),
            put(world["a"], "x put again", x),
            put(world["a"], "y put", y),
        ],
    )
    assert (rejected, calls) == ({}, 1)  # the delete
    assert todos(db) == {
        x: ("x put again", True, world["a"], None),
        y: ("y put", True, world["a"], None),
        new: ("new", False, world["a"], None),
    }


def test_a_run_that_does_not_apply_whole_goes_one_transaction_at_a_time(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    theirs, ours = seed.todo(db, world["b"], "theirs"), seed.todo(db, world["a"], "ours")
    first = str(uuid.uuid4())
    rejected, calls = push(
        db,
        world["alice"],
        [
            put(world["a"], "first", first),
            put(world["a"], "taken", theirs),
            patch(ours, title="patched"),
            patch(first, done=True),
            {**patch(ours, title="bad"), "table": "nope"},
            put(world["a"], "after", ours),
            put(world["a"], "first again", first),
        ],
    )
    assert rejected == {"1": "forbidden", "4": "unknown_table"}
    assert calls == 1  # the first put, its run gone one at a time; the flagged one is not applied
    assert todos(db) == {
        theirs: ("theirs", False, world["b"], None),
        ours: ("after", False, world["a"], None),
        first: ("first again", True, world["a"], None),
    }


def test_a_transaction_of_several_kinds_is_a_run_of_its_own(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """A client transaction is never split: one that puts and patches goes whole, one mutation at a
    time, between runs of puts and of patches applied whole."""
    x = seed.todo(db, world["a"], "x")
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    rejected, calls = push(
        db,
        world["alice"],
        [
            [put(world["a"], "a", a), put(world["a"], "b", b)],
            put(world["a"], "c", c),
            [put(world["a"], "d", d), patch(d, done=True)],
            patch(x, done=True),
            patch(a, done=True),
        ],
    )
    assert (rejected, calls) == ({}, 2)
    assert {todo: row[:2] for todo, row in todos(db).items()} == {
        x: ("x", True),
        a: ("a", True),
        b: ("b", False),
        c: ("c", False),
        d: ("d", True),
    }


def test_a_transaction_that_fails_in_a_run_rolls_back_whole(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """A client transaction of two puts inside a run of puts, one of them forbidden: the run goes one
    transaction at a time and the failing transaction's other put is rolled back with it."""
    theirs = seed.todo(db, world["b"], "theirs")
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    rejected, calls = push(
        db,
        world["alice"],
        [
            delete(str(uuid.uuid4())),
            put(world["a"], "a", a),
            [put(world["a"], "b", b), put(world["a"], "x", theirs)],
            put(world["a"], "c", c),
        ],
    )
    assert rejected == {"2": "transaction_rolled_back", "3": "forbidden"}
    assert calls == 4  # all but the forbidden put
    assert set(todos(db)) == {theirs, a, c}


def test_runs_of_two_tables_each_apply_whole(db: psycopg.Connection[Any], world: dict[str, str]) -> None:
    """A device's new project and then its todos: a run of puts per table, each one statement."""
    project = str(uuid.uuid4())
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    rejected, calls = push(
        db,
        world["alice"],
        [
            {
                "table": "projects",
                "op": "put",
                "pk": {"id": project},
                "values": {"team_id": world["a"], "name": "p"},
            },
            {
                "table": "projects",
                "op": "put",
                "pk": {"id": str(uuid.uuid4())},
                "values": {"team_id": world["a"], "name": "q"},
            },
            put(world["a"], "a", a, project_id=project),
            put(world["a"], "b", b, project_id=project),
        ],
    )
    assert (rejected, calls) == ({}, 0)
    assert todos(db) == {a: ("a", False, world["a"], project), b: ("b", False, world["a"], project)}


def test_one_bad_put_among_many_costs_halving_runs_not_a_transaction_each(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """A batch of one run that fails whole is cut in two at the transaction nearest its middle, and
    each half goes the same way, down to halves of one put, which apply one client transaction at a
    time: of 16 puts only the forbidden one (where apply_mutation raises, uncounted) and the one
    beside it reach apply_mutation, where without the cut all 15 good ones did."""
    theirs = seed.todo(db, world["b"], "theirs")
    keys = [str(uuid.uuid4()) for _ in range(15)]
    batch = [put(world["a"], f"todo {i}", key) for i, key in enumerate(keys)]
    batch.insert(11, put(world["a"], "taken", theirs))
    rejected, calls = push(db, world["alice"], list(batch))
    assert (rejected, calls) == ({"11": "forbidden"}, 1)
    stored = todos(db)
    assert stored.pop(theirs) == ("theirs", False, world["b"], None)
    assert stored == {key: (f"todo {i}", False, world["a"], None) for i, key in enumerate(keys)}


def project(db: psycopg.Connection[Any], team: str, name: str) -> str:
    row = db.execute("INSERT INTO projects (team_id, name) VALUES (%s, %s) RETURNING id::text", (team, name))
    found = row.fetchone()
    assert found is not None
    return str(found[0])


def test_a_run_of_deletes_is_one_statement(db: psycopg.Connection[Any], world: dict[str, str]) -> None:
    """Library version 30: a batch of deletes (each its own client transaction, as a device that
    clears a list offline sends them) is one DELETE. A key the table does not hold, or one the batch
    names twice, deletes nothing more and is accepted, as one transaction at a time accepts it; each
    row removed is logged as the client's."""
    gone = [seed.todo(db, world["a"], f"todo {i}") for i in range(3)]
    kept = seed.todo(db, world["a"], "kept")
    rejected, calls = push(db, world["alice"], [delete(key) for key in [*gone, str(uuid.uuid4()), gone[0]]])
    assert (rejected, calls) == ({}, 0)
    assert set(todos(db)) == {kept}
    logged = db.execute(
        "SELECT pk->>'id' FROM drizzlesync.change_log WHERE client_id = %s ORDER BY 1", (CLIENT,)
    ).fetchall()
    assert logged == sorted((key,) for key in gone)


def test_a_delete_of_another_scopes_row_among_many_is_rejected_and_the_others_land(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """The one DELETE left a row it names in place, out of the user's scopes, so it is undone, and
    the run is cut in halves down to the transaction at fault, as a run of puts is. The row out of
    scope is never deleted, not even for a moment: a sequence (which no rollback takes back) counts
    the calls of a trigger on deletes of team B's rows."""
    db.execute(
        f"""
        CREATE SEQUENCE theirs_deleted;
        CREATE FUNCTION count_theirs() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.team_id = '{world["b"]}' THEN PERFORM nextval('public.theirs_deleted'); END IF;
            RETURN OLD;
        END $$;
        CREATE TRIGGER count_theirs BEFORE DELETE ON todos FOR EACH ROW EXECUTE FUNCTION count_theirs();
        """
    )
    ours = [seed.todo(db, world["a"], f"todo {i}") for i in range(7)]
    theirs = seed.todo(db, world["b"], "theirs")
    batch = [delete(key) for key in ours]
    batch.insert(5, delete(theirs))
    rejected, calls = push(db, world["alice"], list(batch))
    assert rejected == {"5": "forbidden"}
    assert calls == 1  # the half of two beside the forbidden delete
    assert todos(db) == {theirs: ("theirs", False, world["b"], None)}
    assert db.execute("SELECT is_called FROM theirs_deleted").fetchone() == (False,)


def test_a_delete_a_foreign_key_refuses_is_rejected_alone(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """A project its todos still reference, under ON DELETE RESTRICT: the statement fails, and the
    transaction that deletes that project is rejected while the other deletes of the run land."""
    db.execute(
        "ALTER TABLE todos DROP CONSTRAINT todos_project_id_fkey, ADD CONSTRAINT todos_project_id_fkey"
        " FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE RESTRICT"
    )
    empty = [project(db, world["a"], f"empty {i}") for i in range(3)]
    used = project(db, world["a"], "used")
    todo = seed.todo(db, world["a"], "in a project")
    db.execute("UPDATE todos SET project_id = %s WHERE id = %s", (used, todo))
    batch = [{"table": "projects", "op": "delete", "pk": {"id": key}} for key in [*empty, used]]
    rejected, calls = push(db, world["alice"], list(batch))
    assert rejected == {"3": "constraint_violation"}
    assert calls == 1  # the project beside it, in the last half of two
    remaining = db.execute("SELECT id::text FROM projects").fetchall()
    assert remaining == [(used,)]


def tree(db: psycopg.Connection[Any], action: str, teams: list[str]) -> str:
    """A synced table of nodes whose parent_id references their own id under `action`: node i in
    `teams[i]`, the parent of node i > 0 node 0. Returns the table's name."""
    db.execute(
        "CREATE TABLE nodes (id integer PRIMARY KEY, team_id uuid NOT NULL REFERENCES teams,"
        f" parent_id integer REFERENCES nodes {action})"
    )
    db.execute("SELECT drizzlesync.enable_sync('public', 'nodes', $$'team:' || team_id$$)")
    for node, team in enumerate(teams):
        db.execute("INSERT INTO nodes VALUES (%s, %s, %s)", (node, team, 0 if node else None))
    return "nodes"


def node_deletes(table: str, nodes: list[int]) -> list[dict[str, Any] | list[dict[str, Any]]]:
    return [{"table": table, "op": "delete", "pk": {"id": node}} for node in nodes]


@pytest.mark.parametrize("action", ["", "ON DELETE RESTRICT", "DEFERRABLE INITIALLY DEFERRED"])
def test_a_tree_deleted_parent_first_is_refused_as_one_transaction_at_a_time_refuses_it(
    db: psycopg.Connection[Any], world: dict[str, str], action: str
) -> None:
    """One DELETE of a parent and its children checks the foreign key once, at its end (or at the
    batch's, deferred), when the children are gone too; one transaction at a time refuses the parent,
    its children still there. A table whose rows reference each other under a key that does not
    cascade is left to the slower path (library version 30, before release)."""
    table = tree(db, action, [world["a"]] * 3)
    rejected, calls = push(db, world["alice"], node_deletes(table, [0, 1, 2]))
    assert rejected == {"0": "constraint_violation"}
    assert calls > 0
    assert db.execute("SELECT id FROM nodes").fetchall() == [(0,)]


def test_a_row_out_of_scope_a_later_delete_cascades_to_is_rejected(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """Node 1, of team B, goes with node 0 by ON DELETE CASCADE. Deleted before node 0, as one
    transaction at a time applies them, it is still there and out of scope: `forbidden`. The one
    DELETE never removed it, yet it is gone by the statement's end, so the rows the batch names are
    counted as they were when the DELETE began (library version 30, before release)."""
    table = tree(db, "ON DELETE CASCADE", [world["a"], world["b"], world["a"]])
    rejected, _calls = push(db, world["alice"], node_deletes(table, [1, 0, 2]))
    assert rejected == {"0": "forbidden"}
    assert db.execute("SELECT id FROM nodes").fetchall() == []
