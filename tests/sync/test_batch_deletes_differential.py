"""Library version 30's one DELETE of a batch against the path it replaced, on random batches.

The promise of `apply_deletes` is that a batch of deletes lands exactly as one client transaction at a
time would have: the same rows deleted, the same rejections, the same change-log entries, the same keys
handed back to the client. Hand-written cases cover the causes one by one (tests/sync/test_batches.py,
tests/sync/test_app_triggers.py); this test draws batches that mix them (keys missing, named twice,
in another team's scope, kept by a BEFORE trigger, soft-deleted, re-put and deleted again, in
transactions of several mutations) and pushes each twice over the same rows: as it is, and with
`apply_deletes` replaced by one that takes no batch, so that every delete goes through apply_runs'
halving down to `apply_transaction` and `apply_mutation`, the path of version 29. Both pushes run in
savepoints of one transaction that is rolled back, so each example starts from the rows it drew.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.sync import seed
from tests.sync.test_batches import CLIENT, delete, patch, push, put

KEYS = 6
"""Todos a batch draws its keys from: few, so that keys repeat and runs meet."""

STATES = ("absent", "ours", "theirs", "locked", "archived")
"""A key's row before the push: none; alice's team's; the other team's; alice's, kept by the BEFORE
trigger (a guard); alice's, soft-deleted by it (updated, not deleted)."""

# The one-at-a-time path: a batch of deletes is never taken whole, so push and apply_run go on to
# apply_transaction for each client transaction, as before version 30.
ONE_AT_A_TIME = """
CREATE OR REPLACE FUNCTION drizzlesync.apply_deletes(scope_keys text[], mutations jsonb, plan jsonb)
RETURNS boolean LANGUAGE sql AS 'SELECT false'
"""

Drawn = tuple[str, int, bool]
"""A mutation as drawn: its kind (a key of MAKERS), the index of its key, whether in upper case."""

Outcome = tuple[dict[str, str], dict[str, tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], int]


@pytest.fixture
def teams(db: psycopg.Connection[Any]) -> Iterator[dict[str, str]]:
    """Alice in team A, carol in team B, and on todos the application's BEFORE DELETE trigger that
    keeps a row titled 'locked' and turns the delete of one titled 'archived' into `done = true`. It
    also counts, in a sequence (which no rollback takes back), the deletes it sees of rows out of
    alice's team: one transaction at a time never starts one (apply_mutation checks the locked row's
    scope first), and neither may the one DELETE, even if it is undone."""
    names = {"alice": seed.user(db, "alice"), "a": seed.team(db, "A"), "b": seed.team(db, "B")}
    seed.join(db, names["alice"], names["a"])
    seed.join(db, seed.user(db, "carol"), names["b"])
    db.execute(
        f"""
        CREATE SEQUENCE deleted_elsewhere;
        CREATE FUNCTION keep_some() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.team_id <> '{names["a"]}' THEN
                PERFORM nextval('public.deleted_elsewhere');
            END IF;
            IF OLD.title = 'locked' THEN
                RETURN NULL;
            ELSIF OLD.title = 'archived' THEN
                UPDATE todos SET done = true WHERE id = OLD.id;
                RETURN NULL;
            END IF;
            RETURN OLD;
        END $$;
        CREATE TRIGGER keep_some BEFORE DELETE ON todos FOR EACH ROW EXECUTE FUNCTION keep_some();
        """
    )
    yield names


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[str], list[list[Drawn]]]:
    """Each key's state before the push, and the client transactions of a batch over those keys:
    mostly deletes (a key sometimes in upper case, which names the same uuid), some puts (to either
    team, some titled so that the trigger keeps them) and patches between them, and now and then a
    transaction of two mutations."""
    states = draw(st.lists(st.sampled_from(STATES), min_size=KEYS, max_size=KEYS))
    key = st.integers(0, KEYS - 1)
    mutation = st.one_of(
        st.tuples(st.just("delete"), key, st.booleans()),
        st.tuples(st.just("delete"), key, st.just(False)),
        st.tuples(st.just("delete"), key, st.just(False)),
        st.tuples(st.sampled_from(["put ours", "put theirs", "put locked", "patch"]), key, st.just(False)),
    )
    return states, draw(st.lists(st.lists(mutation, min_size=1, max_size=2), min_size=1, max_size=12))


MAKERS: dict[str, Callable[[str, str, str], dict[str, Any]]] = {
    "delete": lambda key, a, b: delete(key),
    "put ours": lambda key, a, b: put(a, "put", key),
    "put theirs": lambda key, a, b: put(b, "put", key),
    "put locked": lambda key, a, b: put(a, "locked", key),
    "patch": lambda key, a, b: patch(key, done=True),
}
"""A drawn mutation's kind, as test_batches' helpers make it: (key, team A, team B) to mutation."""


def build(
    keys: list[str], a: str, b: str, drawn: list[list[Drawn]]
) -> list[dict[str, Any] | list[dict[str, Any]]]:
    """The drawn transactions as mutations: a transaction of one mutation as that mutation."""
    made: list[dict[str, Any] | list[dict[str, Any]]] = []
    for tx in drawn:
        mutations = [MAKERS[kind](keys[k].upper() if upper else keys[k], a, b) for kind, k, upper in tx]
        made.append(mutations[0] if len(mutations) == 1 else mutations)
    return made


TODOS = "SELECT id::text, team_id::text, title, done, project_id::text FROM todos"


def outcome(db: psycopg.Connection[Any], user: str, transactions: list[Any], rows: str = TODOS) -> Outcome:
    """Push `transactions` and read what it left: the rejections (by position in the batch), the
    rows of the table (`rows`, keyed by its first column), the change log, the rejection table and
    how many deletes of rows out of alice's team the todos trigger saw start.
    The log is compared without its ids, each key's entries in their order; the order between keys
    is not compared: one DELETE logs its rows in the table's order, not the batch's."""
    started = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM deleted_elsewhere"
    before = db.execute(started).fetchone()
    rejected, _calls = push(db, user, transactions)
    after = db.execute(started).fetchone()
    assert before is not None and after is not None
    table = {row[0]: row[1:] for row in db.execute(rows)}
    log = db.execute(
        "SELECT table_id, op, pk::text, scope_before, scope_after, client_id FROM drizzlesync.change_log"
        " ORDER BY txid, seq"
    ).fetchall()
    rejections = db.execute(
        "SELECT mutation_id, code FROM drizzlesync.rejection WHERE client_id = %s ORDER BY 1", (CLIENT,)
    ).fetchall()
    return (
        rejected,
        table,
        sorted(log, key=lambda entry: (entry[0], entry[2])),
        rejections,
        after[0] - before[0],
    )


@settings(max_examples=120)
@given(data=st.data())
def test_a_batch_of_deletes_lands_as_one_transaction_at_a_time_would(
    data: st.DataObject, db: psycopg.Connection[Any], teams: dict[str, str]
) -> None:
    a, b = teams["a"], teams["b"]
    states, drawn = data.draw(scenarios())
    keys = [str(uuid.uuid4()) for _ in range(KEYS)]
    transactions = build(keys, a, b, drawn)

    def seed_rows() -> None:
        for key, state in zip(keys, states, strict=True):
            if state != "absent":
                db.execute(
                    "INSERT INTO todos (id, team_id, title) VALUES (%s, %s, %s)",
                    (key, b if state == "theirs" else a, "todo" if state in ("ours", "theirs") else state),
                )

    batched, one_at_a_time = both_ways(db, seed_rows, teams["alice"], transactions)
    event(f"rejected: {sorted(set(batched[0].values()))}")
    assert batched == one_at_a_time


def both_ways(
    db: psycopg.Connection[Any],
    seed_rows: Callable[[], None],
    user: str,
    transactions: list[Any],
    rows: str = TODOS,
) -> tuple[Outcome, Outcome]:
    """The outcome of the push as it is and through the one-at-a-time path, each from the rows
    `seed_rows` writes, all of it rolled back."""
    with db.transaction(force_rollback=True):
        seed_rows()
        with db.transaction(force_rollback=True):
            batched = outcome(db, user, transactions, rows)
        with db.transaction(force_rollback=True):
            db.execute(ONE_AT_A_TIME)
            one_at_a_time = outcome(db, user, transactions, rows)
    return batched, one_at_a_time


TREES = {
    "no action": "",
    "restrict": "ON DELETE RESTRICT",
    "deferred": "DEFERRABLE INITIALLY DEFERRED",
    "cascade": "ON DELETE CASCADE",
    "set null": "ON DELETE SET NULL",
}
"""Tables of nodes whose parent_id references their own id, by the foreign key's delete action."""


@pytest.fixture
def trees(db: psycopg.Connection[Any], teams: dict[str, str]) -> dict[str, str]:
    """A synced table per entry of TREES, scoped by team like todos."""
    for name, action in TREES.items():
        table = f"tree_{name.replace(' ', '_')}"
        db.execute(
            f"CREATE TABLE {table} (id integer PRIMARY KEY, team_id uuid NOT NULL REFERENCES teams,"
            f" parent_id integer REFERENCES {table} {action})"
        )
        db.execute("SELECT drizzlesync.enable_sync('public', %s, $$'team:' || team_id$$)", (table,))
    return teams


@settings(max_examples=60)
@given(
    kind=st.sampled_from(sorted(TREES)),
    parents=st.lists(st.integers(0, 6), min_size=6, max_size=6),
    theirs=st.sets(st.integers(0, 5), max_size=1),
    deleted=st.lists(st.integers(0, 6), min_size=2, max_size=8) | st.permutations(range(7)),
)
def test_a_batch_of_deletes_of_rows_that_reference_each_other_lands_as_one_at_a_time(
    db: psycopg.Connection[Any],
    trees: dict[str, str],
    kind: str,
    parents: list[int],
    theirs: set[int],
    deleted: list[int],
) -> None:
    """Rows 0 to 5 of a tree (row i's parent is an earlier row, or none), id 6 never there: a batch
    that deletes a parent before its children is refused one transaction at a time by a foreign key
    that does not cascade, and under SET NULL logs each child's update before its delete; one DELETE
    would check the key once, at its end, and remove them all."""
    table = f"tree_{kind.replace(' ', '_')}"

    def seed_rows() -> None:
        for node, parent in enumerate(parents):
            team = trees["b"] if node in theirs else trees["a"]
            db.execute(
                f"INSERT INTO {table} (id, team_id, parent_id) VALUES (%s, %s, %s)",
                (node, team, parent if parent < node else None),
            )

    transactions = [{"table": table, "op": "delete", "pk": {"id": node}} for node in deleted]
    rows = f"SELECT id, team_id::text, parent_id FROM {table}"
    batched, one_at_a_time = both_ways(db, seed_rows, trees["alice"], transactions, rows)
    event(f"{kind}, rejected: {sorted(set(batched[0].values()))}")
    assert batched == one_at_a_time
