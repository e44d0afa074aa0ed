"""Push: exactly once, per-column last-writer-wins, deletes win, atomic transactions, rejections, scopes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.sync import seed
from tests.sync.syncclient import ResponseLost, SyncClient, row_key


@pytest.fixture
def world(db: psycopg.Connection[Any]) -> dict[str, str]:
    """Alice and Bob share team A; Carol alone is in team B."""
    names = {name: seed.user(db, name) for name in ("alice", "bob", "carol")}
    names["a"], names["b"] = seed.team(db, "A"), seed.team(db, "B")
    seed.join(db, names["alice"], names["a"])
    seed.join(db, names["bob"], names["a"])
    seed.join(db, names["carol"], names["b"])
    return names


def new_id() -> str:
    return str(uuid.uuid4())


def put_todo(team: str, title: str, todo_id: str | None = None) -> dict[str, Any]:
    return {
        "table": "todos",
        "op": "put",
        "pk": {"id": todo_id or new_id()},
        "values": {"team_id": team, "title": title},
    }


def patch(todo_id: str, **values: Any) -> dict[str, Any]:
    return {"table": "todos", "op": "patch", "pk": {"id": todo_id}, "values": values}


def todo(db: psycopg.Connection[Any], todo_id: str) -> tuple[Any, ...] | None:
    return db.execute("SELECT title, done, team_id::text FROM todos WHERE id = %s", (todo_id,)).fetchone()


def applied_by(db: psycopg.Connection[Any], client_id: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM drizzlesync.change_log WHERE client_id = %s", (client_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_replayed_and_reordered_batches_apply_once(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([put_todo(world["a"], "one"), put_todo(world["a"], "two")])
    client.stage([put_todo(world["a"], "three")])
    client.stage([put_todo(world["a"], "four")])
    first, second = client.outbox[:2], client.outbox[2:]
    body = {"protocol": 1, "schemaVersion": 1, "clientId": "alice-1"}

    early = client.post("/push", {**body, "mutations": second})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "mutation_gap"
    assert early.json()["error"]["lastMutationId"] == 0
    assert applied_by(db, "alice-1") == 0

    for _ in range(2):
        response = client.post("/push", {**body, "mutations": first})
        assert response.json() == {"lastMutationId": 2, "rejected": []}
    assert applied_by(db, "alice-1") == 2

    with pytest.raises(ResponseLost):
        client.push(drop=True)
    client.push(duplicate=True)
    assert client.outbox == []
    assert applied_by(db, "alice-1") == 4
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (4,)


def test_patches_merge_per_column_and_the_later_write_wins(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    alice, bob = SyncClient(http, world["alice"], "alice-1"), SyncClient(http, world["bob"], "bob-1")
    todo_id = new_id()
    alice.stage([put_todo(world["a"], "draft", todo_id)])
    alice.push()
    alice.stage([patch(todo_id, title="alice's title")])
    bob.stage([patch(todo_id, done=True)])
    alice.push()
    bob.push()
    assert todo(db, todo_id) == ("alice's title", True, world["a"])
    bob.stage([patch(todo_id, title="bob's title")])
    alice.stage([patch(todo_id, title="alice again")])
    bob.push()
    alice.push()
    assert todo(db, todo_id) == ("alice again", True, world["a"])


def test_deletes_win_over_later_patches(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    alice, bob = SyncClient(http, world["alice"], "alice-1"), SyncClient(http, world["bob"], "bob-1")
    todo_id = seed.todo(db, world["a"], "contested")
    alice.stage([{"table": "todos", "op": "delete", "pk": {"id": todo_id}}])
    (late,) = bob.stage([patch(todo_id, done=True)])
    alice.push()
    bob.push()
    assert todo(db, todo_id) is None
    assert bob.rejected == {late: "not_found"}


def test_a_client_transaction_applies_whole_or_not_at_all(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    client = SyncClient(http, world["alice"], "alice-1")
    kept_id = new_id()
    good, bad = client.stage(
        [put_todo(world["a"], "fine"), put_todo(world["a"], "x") | {"values": {"title": "x"}}]
    )
    (after,) = client.stage([put_todo(world["a"], "after", kept_id)])
    response = client.push()
    assert response is not None and response.status_code == 200
    assert response.json()["lastMutationId"] == after
    assert client.rejected == {good: "transaction_rolled_back", bad: "constraint_violation"}
    assert db.execute("SELECT title FROM todos").fetchall() == [("after",)]


def test_rejections_stay_visible_when_the_response_was_lost(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    client = SyncClient(http, world["alice"], "alice-1")
    (foreign,) = client.stage([put_todo(world["b"], "into carol's team")])
    with pytest.raises(ResponseLost):
        client.push(drop=True)
    client.push()
    assert client.rejected == {foreign: "forbidden"}
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (0,)


def test_every_row_is_checked_against_scope_before_and_after(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    carols = seed.todo(db, world["b"], "carol's")
    alices = seed.todo(db, world["a"], "alice's")
    client = SyncClient(http, world["alice"], "alice-1")
    ids = client.stage([patch(carols, title="hijacked")])
    ids += client.stage([{"table": "todos", "op": "delete", "pk": {"id": carols}}])
    ids += client.stage([put_todo(world["a"], "overwrite", carols)])
    ids += client.stage([patch(alices, team_id=world["b"])])
    ids += client.stage([put_todo(world["b"], "planted")])
    client.push()
    assert client.rejected == dict.fromkeys(ids, "forbidden")
    assert todo(db, carols) == ("carol's", False, world["b"])
    assert todo(db, alices) == ("alice's", False, world["a"])
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (2,)


def test_pushes_are_recorded_with_the_pushing_client(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    client = SyncClient(http, world["alice"], "alice-1")
    todo_id = new_id()
    client.stage([put_todo(world["a"], "mine", todo_id)])
    client.push()
    seed.todo(db, world["a"], "from SQL")
    rows = db.execute(
        "SELECT pk->>'id', client_id FROM drizzlesync.change_log WHERE op = 'I' AND table_id = "
        "(SELECT id FROM drizzlesync.synced_table WHERE table_name = 'todos') ORDER BY txid, seq"
    ).fetchall()
    assert rows[0] == (todo_id, "alice-1")
    assert rows[1][1] is None


def test_unsupported_schema_version_is_refused_and_nothing_applied(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([put_todo(world["a"], "from the future")])
    for path, extra in (("/push", {"mutations": client.outbox}), ("/pull", {"cursor": None})):
        response = client.post(path, {"protocol": 1, "schemaVersion": 2, "clientId": "alice-1", **extra})
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "schema_version_unsupported"
        assert error["supported"] == {"min": 1, "max": 1}
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM drizzlesync.client").fetchone() == (0,)


def test_a_client_id_belongs_to_one_user(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    SyncClient(http, world["alice"], "shared").pull_all()
    impostor = SyncClient(http, world["bob"], "shared")
    impostor.stage([put_todo(world["a"], "as alice")])
    for response in (
        impostor.push(),
        impostor.post("/pull", {"protocol": 1, "schemaVersion": 1, "clientId": "shared"}),
    ):
        assert response is not None and response.status_code == 403
        assert response.json()["error"]["code"] == "client_id_taken"
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (0,)


def test_a_temporary_failure_is_503_and_applies_nothing(
    db: psycopg.Connection[Any], synced_db: str, world: dict[str, str], server_url: str
) -> None:
    todo_id = seed.todo(db, world["a"], "locked")
    # Sessions opened from now on (the processor's pool has none yet) give up waiting for a lock.
    db.execute(sql.SQL("ALTER DATABASE {} SET lock_timeout = '200ms'").format(sql.Identifier(db.info.dbname)))
    with psycopg.connect(synced_db) as holder, httpx.Client(base_url=server_url) as http:
        holder.execute("SELECT * FROM todos WHERE id = %s FOR UPDATE", (todo_id,))
        client = SyncClient(http, world["alice"], "alice-1")
        client.stage([put_todo(world["a"], "first"), patch(todo_id, done=True)])
        response = client.push()
    assert response is not None and response.status_code == 503
    assert response.json()["error"]["code"] == "temporarily_unavailable"
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM drizzlesync.client WHERE last_mutation_id > 0").fetchone() == (0,)


def test_a_batch_of_patches_keeps_each_rows_own_columns_and_rejects_only_the_bad_one(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    first, second = seed.todo(db, world["a"], "first"), seed.todo(db, world["a"], "second")
    carols = seed.todo(db, world["b"], "carol's")
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([patch(first, title="renamed")])
    client.stage([patch(second, done=True)])
    client.push()
    assert client.rejected == {}
    assert todo(db, first) == ("renamed", False, world["a"])
    assert todo(db, second) == ("second", True, world["a"])

    client.stage([patch(first, done=True)])
    (foreign,) = client.stage([patch(carols, done=True)])
    client.stage([patch(second, title="again")])
    client.push()
    assert client.rejected == {foreign: "forbidden"}
    assert todo(db, first) == ("renamed", True, world["a"])
    assert todo(db, second) == ("again", True, world["a"])
    assert todo(db, carols) == ("carol's", False, world["b"])

    client.stage([patch(first, title="last")])
    (moving_out,) = client.stage([patch(second, team_id=world["b"])])
    client.push()
    assert client.rejected == {foreign: "forbidden", moving_out: "forbidden"}
    assert todo(db, first) == ("last", True, world["a"])
    assert todo(db, second) == ("again", True, world["a"])


# Mutations that a batch of patches to todos must not apply in part: each names a todo's
# key, so a fast path that skipped a check would write that row (jsonb_populate_record
# ignores keys that name no column, and the batch's UPDATE writes no key column).
BAD_IN_A_BATCH_OF_PATCHES = {
    "unknown_column": lambda todo_id, other_id: patch(todo_id, title="bad", secret_flag=True),
    "invalid_key": lambda todo_id, other_id: {**patch(todo_id, title="bad"), "pk": {"id": todo_id, "x": 1}},
    "pk_mismatch": lambda todo_id, other_id: patch(todo_id, title="bad", id=other_id),
    "unknown_table": lambda todo_id, other_id: {**patch(todo_id, title="bad"), "table": "no_such_table"},
}


@pytest.mark.parametrize("code", sorted(BAD_IN_A_BATCH_OF_PATCHES))
def test_a_bad_patch_among_good_ones_to_the_same_table_is_rejected_whole(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str], code: str
) -> None:
    """Since version 8 a batch of patches to one table goes to the batched path first, which
    checks each mutation itself (flag_bad_mutations runs only when it declines the batch)."""
    first, target, last = (seed.todo(db, world["a"], title) for title in ("first", "target", "last"))
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([patch(first, title="first, patched")])
    (bad,) = client.stage([BAD_IN_A_BATCH_OF_PATCHES[code](target, last)])
    client.stage([patch(last, title="last, patched")])
    client.push()
    assert client.rejected == {bad: code}
    assert todo(db, target) == ("target", False, world["a"])
    assert todo(db, first) == ("first, patched", False, world["a"])
    assert todo(db, last) == ("last, patched", False, world["a"])


@pytest.mark.parametrize("op", ["delete", "put"])
def test_a_batch_of_patches_with_one_other_mutation_applies_each_as_what_it_is(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str], op: str
) -> None:
    """A delete among patches deletes (read as a patch of no values it would leave the row), and a
    put of a new row among them inserts it."""
    first, last = seed.todo(db, world["a"], "first"), seed.todo(db, world["a"], "last")
    other = new_id() if op == "put" else seed.todo(db, world["a"], "other")
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([patch(first, title="first, patched")])
    if op == "put":
        client.stage([put_todo(world["a"], "new", other)])
    else:
        client.stage([{"table": "todos", "op": "delete", "pk": {"id": other}}])
    client.stage([patch(last, title="last, patched")])
    client.push()
    assert client.rejected == {}
    assert todo(db, other) == (("new", False, world["a"]) if op == "put" else None)
    assert todo(db, first) == ("first, patched", False, world["a"])
    assert todo(db, last) == ("last, patched", False, world["a"])


def test_a_delete_carrying_the_columns_of_the_patches_around_it_deletes(
    db: psycopg.Connection[Any], world: dict[str, str]
) -> None:
    """The batched path checks a batch whose mutations all name the first one's columns inside
    its UPDATE: a delete that carries such values (the wire schema has no say in SQL) is not one
    of its patches."""
    first, other = seed.todo(db, world["a"], "first"), seed.todo(db, world["a"], "other")
    mutations = [
        {"id": 1, "tx": 1, **patch(first, title="patched")},
        {"id": 2, "tx": 2, **patch(other, title="patched"), "op": "delete"},
    ]
    row = db.execute(
        "SELECT drizzlesync.push(%s, '{}'::jsonb, 'laptop', 1, %s::jsonb)",
        (world["alice"], json.dumps(mutations)),
    ).fetchone()
    assert row is not None and row[0] == {"lastMutationId": 2, "rejected": []}
    assert todo(db, first) == ("patched", False, world["a"])
    assert todo(db, other) is None


def test_the_cached_write_plan_follows_the_tables_columns_and_scope(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    """Since version 8 each table's write plan is cached (`write_plan_cache`): a column added or
    retyped, or the table rescoped, after a push is written and checked the way the table is now."""
    first, second = seed.todo(db, world["a"], "first"), seed.todo(db, world["a"], "second")
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([patch(first, title="cached")])
    client.push()
    assert client.rejected == {}
    db.execute("ALTER TABLE todos ADD COLUMN priority integer")
    client.stage([patch(first, priority=3)])  # unknown_column with the plan made before
    (fraction,) = client.stage([patch(second, priority=2.5)])
    client.push()
    assert client.rejected == {fraction: "invalid_value"}
    db.execute("ALTER TABLE todos ALTER COLUMN done TYPE text")
    client.stage([patch(first, done="maybe")])  # invalid_value for a boolean
    client.push()
    assert client.rejected == {fraction: "invalid_value"}
    assert db.execute("SELECT priority, done FROM todos WHERE id = %s", (first,)).fetchone() == (3, "maybe")
    db.execute("SELECT drizzlesync.set_sync_scope('public', 'todos', $$'elsewhere:' || team_id$$)")
    (moved,) = client.stage([patch(second, title="no longer in alice's scopes")])
    client.push()
    assert client.rejected[moved] == "forbidden"
    assert todo(db, second) == ("second", "false", world["a"])


def test_a_batch_of_patches_never_writes_a_nullable_column_a_patch_did_not_name(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    """The batched path updates the union of the batch's columns; each row keeps the ones its patch left out.

    A NOT NULL column written as NULL would fail the batch and send it down
    the one-by-one path, hiding the fault: the nullable `project_id` cannot.
    """
    projects = [
        str(row[0])
        for row in db.execute(
            "INSERT INTO projects (team_id, name) VALUES (%(t)s, 'one'), (%(t)s, 'two') RETURNING id",
            {"t": world["a"]},
        )
    ]
    first, second = seed.todo(db, world["a"], "first"), seed.todo(db, world["a"], "second")
    db.execute("UPDATE todos SET project_id = %s", (projects[0],))
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([patch(first, title="moved", project_id=projects[1])])
    client.stage([patch(second, title="renamed only")])
    client.push()
    assert client.rejected == {}
    stored = dict(
        db.execute("SELECT title, project_id::text FROM todos WHERE id IN (%s, %s)", (first, second))
    )
    assert stored == {"moved": projects[1], "renamed only": projects[0]}


def test_composite_primary_keys(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    client = SyncClient(http, world["alice"], "alice-1")
    key = {"user_id": world["carol"], "team_id": world["a"]}
    client.stage([{"table": "memberships", "op": "put", "pk": key, "values": {"role": "guest"}}])
    client.stage([{"table": "memberships", "op": "patch", "pk": key, "values": {"role": "admin"}}])
    client.push()
    assert client.rejected == {}
    row = db.execute(
        "SELECT role FROM memberships WHERE user_id = %s AND team_id = %s", (world["carol"], world["a"])
    )
    assert row.fetchone() == ("admin",)
    (whole,) = client.stage([{"table": "memberships", "op": "delete", "pk": key}])
    (partial,) = client.stage([{"table": "memberships", "op": "delete", "pk": {"user_id": world["carol"]}}])
    response = client.push()
    assert response is not None and response.json() == {
        "lastMutationId": partial,
        "rejected": [
            {
                "id": partial,
                "code": "invalid_key",
                "message": "pk must name exactly the primary key columns of the table",
            }
        ],
    }
    assert client.outbox == []
    assert db.execute(
        "SELECT count(*) FROM memberships WHERE user_id = %s", (world["carol"],)
    ).fetchone() == (
        1,  # the whole key deleted the one in team A
    )
    assert whole < partial


def test_rows_of_rejected_mutations_come_back_to_an_optimistic_client(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    """A client that wrote its mutations locally gets the server's rows back for the rejected ones."""
    mine = seed.todo(db, world["a"], "mine")
    client = SyncClient(http, world["alice"], "alice-1")
    client.pull_all()
    planted, ghost = new_id(), new_id()
    optimistic = [
        put_todo(world["b"], "planted in carol's team", planted),
        patch(mine, title=None),  # NOT NULL: rejected
        patch(ghost, title="never existed"),
    ]
    for mutation in optimistic:
        client.stage([mutation])
        row = {"id": mutation["pk"]["id"], "team_id": world["a"], **mutation["values"]}
        client.rows[row_key("todos", row)] = row  # what the client's local database now holds
    client.push()
    assert set(client.rejected.values()) == {"forbidden", "constraint_violation", "not_found"}
    client.pull_all()
    assert client.rows == seed.visible_rows(db, world["alice"])
    assert db.execute(
        "SELECT count(*) FROM drizzlesync.change_log WHERE client_id = 'alice-1'"
    ).fetchone() == (3,)


def test_a_key_that_fits_no_row_is_rejected_and_never_breaks_pulls(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    client = SyncClient(http, world["alice"], "alice-1")
    (bad,) = client.stage([patch("not-a-uuid", title="x")])
    client.push()
    assert client.rejected == {bad: "invalid_value"}
    client.pull_all()
    assert client.rows == seed.visible_rows(db, world["alice"])


def test_tables_outside_public_are_named_schema_dot_table(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    db.execute("CREATE SCHEMA app")
    db.execute('CREATE TABLE app."Notes" (id integer PRIMARY KEY, body text NOT NULL)')
    db.execute("SELECT drizzlesync.enable_sync('app', 'Notes')")
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([{"table": "app.Notes", "op": "put", "pk": {"id": 7}, "values": {"body": "hello"}}])
    client.push()
    assert client.rejected == {}
    result = client.pull()
    assert {"table": "app.Notes", "op": "upsert", "row": {"id": 7, "body": "hello"}} in result["changes"]


def test_two_spellings_of_one_key_in_a_batch_both_apply(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    todo_id = seed.todo(db, world["a"], "original")
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([patch(todo_id, title="renamed")])
    client.stage([patch(todo_id.upper(), done=True)])
    client.push()
    assert client.rejected == {}
    assert todo(db, todo_id) == ("renamed", True, world["a"])


LAST_ID = 2**63 - 1
"""The highest mutation id the protocol allows (a bigint)."""


def test_a_client_at_the_last_mutation_id_keeps_getting_answers(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    """No id overflows the gap check: a retry of the applied batch, a later empty push, 200.

    Both hosts: the Worker reads the ids from the body's digits, not as doubles.
    """
    client = SyncClient(http, world["alice"], "alice-last")
    body = {"protocol": 1, "schemaVersion": 1, "clientId": "alice-last"}
    batch = [
        {"id": 1, "tx": 1, **put_todo(world["a"], "first")},
        {"id": LAST_ID, "tx": 2, **put_todo(world["a"], "last")},
    ]
    for _ in ("first", "retry"):
        response = client.post("/push", {**body, "mutations": batch})
        assert response.status_code == 200, response.text
        assert response.json() == {"lastMutationId": LAST_ID, "rejected": []}
    for mutations in ([], batch[1:]):
        response = client.post("/push", {**body, "mutations": mutations})
        assert response.status_code == 200, response.text
        assert response.json() == {"lastMutationId": LAST_ID, "rejected": []}
    assert applied_by(db, "alice-last") == 2


def test_a_permanent_database_failure_outside_the_mutations_is_500_not_503(
    db: psycopg.Connection[Any], http: httpx.Client, world: dict[str, str]
) -> None:
    """A 503 tells the client to retry: a failure that will happen again must not say so."""
    db.execute(
        "CREATE FUNCTION refuse_clients() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'too many array dimensions' USING ERRCODE = 'program_limit_exceeded'; END $$"
    )
    db.execute(
        "CREATE TRIGGER refuse_clients BEFORE INSERT ON drizzlesync.client "
        "FOR EACH ROW EXECUTE FUNCTION refuse_clients()"
    )
    client = SyncClient(http, world["alice"], "alice-1")
    client.stage([put_todo(world["a"], "never")])
    response = client.push()
    assert response is not None and response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "internal"
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (0,)
