"""An idle client's poll is answered by one statement (library version 8): a young cursor, presented
again, with nothing relevant since its base, gets that cursor back and no changes. These tests make
one change of each kind that the window reads from its own range of the log, and check that the poll
after it is not answered that way: each fails if the one-statement answer misses that range. The
last one checks version 8's other pull change, the heap kept between a large window's pages."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import pytest

from tests.sync import seed
from tests.sync.syncclient import SyncClient
from tests.sync.table_reads import pull_reading, raw_pull


def bare_pull(db: psycopg.Connection[Any], user: str, client_id: str, cursor: str) -> dict[str, Any]:
    """The response of one pull through the hosts' entry point, in its own transaction."""
    response: dict[str, Any] = json.loads(raw_pull(db, user, client_id, cursor, 100))
    return response


def idle(db: psycopg.Connection[Any], http: httpx.Client, user: str, client_id: str) -> str:
    """The client pulled to the end, its cursor presented once (which deletes the ones before it), and
    that cursor: a poll from it now is answered with it, unchanged."""
    client = SyncClient(http, user, client_id)
    client.pull_all()
    client.pull()
    assert client.cursor is not None
    assert bare_pull(db, user, client_id, client.cursor) == {
        "cursor": client.cursor, "hasMore": False, "reset": False, "lastMutationId": 0, "changes": [],
    }  # fmt: skip
    return client.cursor


def changes(response: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(c["table"], c["op"], c.get("pk") or {"id": c["row"]["id"]}) for c in response["changes"]]


def test_a_change_in_the_users_scope_is_not_missed(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    """The range of the user's scope keys (an entry's scope after the change)."""
    alice, team = seed.member(db, "alice", "A")
    cursor = idle(db, http, alice, "alice-1")
    todo = seed.todo(db, team, "new")
    response = bare_pull(db, alice, "alice-1", cursor)
    assert response["cursor"] != cursor
    assert changes(response) == [("todos", "upsert", {"id": todo})]


def test_a_row_that_left_the_users_scope_is_not_missed(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The example's tables log a move as a delete under the scope it left (the range of the user's
    scope keys, as the entry's scope before the change) and an update under the new one."""
    alice, team = seed.member(db, "alice", "A")
    other = seed.team(db, "B")
    todo = seed.todo(db, team, "moves away")
    cursor = idle(db, http, alice, "alice-1")
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (other, todo))
    response = bare_pull(db, alice, "alice-1", cursor)
    assert changes(response) == [("todos", "delete", {"id": todo})]


def test_a_move_captured_by_pairing_old_and_new_rows_is_not_missed(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The capture pairing old and new rows (partitioned tables, scope rules reading a whole row)
    logs a move, since library version 9, as the split capture does: a delete under
    the scope it left, in the range of the user's scope keys. (Versions 5 to 8 logged it as one
    entry, found through a range of moves' scopes before, which version 9 dropped.)"""
    # The example's todos get the pairing trigger that such tables have, in place of the split pair.
    db.execute("DROP TRIGGER drizzlesync_capture_update_keys ON todos")
    db.execute("DROP TRIGGER drizzlesync_capture_update_move ON todos")
    (capture,) = db.execute(
        "SELECT format('drizzlesync.capture_%s', id) FROM drizzlesync.synced_table WHERE table_name = 'todos'"
    ).fetchone() or ("",)
    db.execute(
        "CREATE TRIGGER drizzlesync_capture_update AFTER UPDATE ON todos"
        " REFERENCING OLD TABLE AS drizzlesync_old NEW TABLE AS drizzlesync_new"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {capture}()"
    )
    alice, team = seed.member(db, "alice", "A")
    todo = seed.todo(db, team, "moves away")
    cursor = idle(db, http, alice, "alice-1")
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (seed.team(db, "B"), todo))
    response = bare_pull(db, alice, "alice-1", cursor)
    assert changes(response) == [("todos", "delete", {"id": todo})]


def test_a_change_of_an_unscoped_table_is_not_missed(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    """The range of entries without a scope, those of unscoped tables."""
    alice, _ = seed.member(db, "alice", "A")
    db.execute("SELECT drizzlesync.enable_sync('public', 'users')")
    cursor = idle(db, http, alice, "alice-1")
    db.execute("UPDATE users SET name = 'Alice' WHERE id = %s", (alice,))
    response = bare_pull(db, alice, "alice-1", cursor)
    assert [(c["table"], c["op"], c["row"]["name"]) for c in response["changes"]] == [
        ("users", "upsert", "Alice")
    ]


def test_a_truncate_is_not_missed(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    """The same range holds truncates, which reset."""
    alice, team = seed.member(db, "alice", "A")
    seed.todo(db, team, "soon gone")
    cursor = idle(db, http, alice, "alice-1")
    db.execute("TRUNCATE todos")
    assert bare_pull(db, alice, "alice-1", cursor)["reset"] is True


def test_the_clients_own_push_outside_its_scopes_is_not_missed(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The range of the client's own pushed entries, whatever their scope: the user joins a team, the
    device pushes a row into it, and the user leaves before any pull, so that the poll's scope keys are
    the cursor's again. The row is found only through that range, and arrives as a delete."""
    alice, _ = seed.member(db, "alice", "A")
    other = seed.team(db, "B")
    cursor = idle(db, http, alice, "alice-1")
    seed.join(db, alice, other)
    client = SyncClient(http, alice, "alice-1")
    todo = "00000000-0000-4000-8000-000000000001"
    client.stage(
        [{"table": "todos", "op": "put", "pk": {"id": todo}, "values": {"team_id": other, "title": "mine"}}]
    )
    pushed = client.push()
    assert pushed is not None and pushed.json()["rejected"] == []
    seed.leave(db, alice, other)
    response = bare_pull(db, alice, "alice-1", cursor)
    assert changes(response) == [("todos", "delete", {"id": todo})]
    assert response["lastMutationId"] == 1


def test_an_idle_poll_answers_with_the_clients_last_mutation_id_as_it_is_now(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """As the full pull does (a push whose mutations all changed nothing writes no log entry)."""
    alice, _ = seed.member(db, "alice", "A")
    cursor = idle(db, http, alice, "alice-1")
    db.execute("UPDATE drizzlesync.client SET last_mutation_id = 7 WHERE client_id = 'alice-1'")
    response = bare_pull(db, alice, "alice-1", cursor)
    assert (response["cursor"], response["changes"], response["lastMutationId"]) == (cursor, [], 7)


def test_a_poll_from_another_users_cursor_is_not_answered_with_it(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """A cursor is its client's and user's: presented by anyone else it resets, as before."""
    alice, team = seed.member(db, "alice", "A")
    bob = seed.user(db, "bob")
    seed.join(db, bob, team)
    cursor = idle(db, http, alice, "alice-1")
    assert bare_pull(db, bob, "bob-1", cursor)["reset"] is True
    assert bare_pull(db, alice, "alice-1", cursor)["cursor"] == cursor


def test_only_the_cursor_as_a_pull_answered_it_is_answered_by_the_idle_poll(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """Version 9 finds the presented cursor by its text (epoch and id as uuid_out writes them),
    where version 8 cast the token's halves to uuid after matching it against a pattern. A token
    spelt otherwise, which the uuid casts would read as the same cursor, is refused by the full
    pull as before (400), and another epoch's token resets; none gets the idle answer."""
    alice, _ = seed.member(db, "alice", "A")
    cursor = idle(db, http, alice, "alice-1")
    epoch, _, cursor_id = cursor.partition(".")
    unhyphenated = epoch.replace("-", "")
    for spelt in (cursor.upper(), f"{cursor}\n", f"{{{epoch}}}.{cursor_id}", f"{unhyphenated}.{cursor_id}"):
        with pytest.raises(psycopg.Error) as refused:
            bare_pull(db, alice, "alice-1", spelt)
        detail = json.loads(refused.value.diag.message_detail or "{}")
        assert (refused.value.sqlstate, detail.get("code")) == ("DZ400", "invalid_cursor")
    other_epoch = f"00000000-0000-4000-8000-000000000000.{cursor_id}"
    assert bare_pull(db, alice, "alice-1", other_epoch)["reset"] is True
    assert bare_pull(db, alice, "alice-1", cursor)["cursor"] == cursor


def test_a_poll_reads_one_cursor_of_a_client_that_has_many(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """Only a client's oldest cursor can be answered with (no older one left to delete), and version 9's
    one statement reads that one alone: a client that presents an old cursor again and again (each pull
    that is not idle stores a new cursor and deletes none, the presented one being the oldest) leaves
    many, and the poll must not read them all. The thirty here are copies of the presented one, each
    stored by a transaction of its own, as such pulls store them."""
    alice, _ = seed.member(db, "alice", "A")
    cursor = idle(db, http, alice, "laptop")
    for _ in range(30):
        db.execute(
            "INSERT INTO drizzlesync.pull_cursor"
            " SELECT (jsonb_populate_record(c, jsonb_build_object("
            "     'id', gen_random_uuid(), 'created_xid', pg_current_xact_id()))).*"
            " FROM drizzlesync.pull_cursor AS c WHERE c.id = %s",
            (cursor.partition(".")[2],),
        )
        db.commit()
    assert db.execute("SELECT count(*) FROM drizzlesync.pull_cursor").fetchone() == (31,)
    response, seq_reads, index_reads = pull_reading(
        db, alice, cursor, 100, table=("drizzlesync", "pull_cursor")
    )
    assert response["cursor"] == cursor
    assert seq_reads + index_reads <= 2


def test_a_poll_on_a_schema_version_no_longer_served_is_refused(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """Once a newer schema version is registered, a client polling on the old one must migrate (409),
    idle cursor or not: version 9's one statement answers only a client on the newest version."""
    alice, _ = seed.member(db, "alice", "A")
    cursor = idle(db, http, alice, "alice-1")
    db.execute("INSERT INTO drizzlesync.schema_version (version) VALUES (2)")
    with pytest.raises(psycopg.Error) as refused:
        bare_pull(db, alice, "alice-1", cursor)
    detail = json.loads(refused.value.diag.message_detail or "{}")
    assert (refused.value.sqlstate, detail.get("code")) == ("DZ409", "schema_version_unsupported")


def test_a_window_of_more_than_one_page_keeps_the_backends_heap(
    db: psycopg.Connection[Any], http: httpx.Client, synced_db: str
) -> None:
    """Version 8's window_page frees one large block once per backend (the session setting
    `drizzlesync.snapshot_heap` says so), on a connection that never bootstrapped; not for a
    window of one page."""
    alice, team = seed.member(db, "alice", "A")
    cursor = idle(db, http, alice, "alice-1")
    for title in ("one", "two", "three"):
        seed.todo(db, team, title)

    def kept_after_a_page(room: int) -> str | None:
        with psycopg.connect(synced_db, autocommit=True) as fresh, fresh.transaction():
            fresh.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            fresh.execute(
                "SELECT drizzlesync.pull(%s, '{}'::jsonb, %s, 1, %s, %s)", (alice, "alice-1", cursor, room)
            )
            row = fresh.execute("SELECT current_setting('drizzlesync.snapshot_heap', true)").fetchone()
        assert row is not None
        return row[0] if row[0] else None

    assert kept_after_a_page(10) is None
    assert kept_after_a_page(2) == "kept"
