"""An empty incremental pull from a young cursor answers with that cursor and writes nothing (library
version 6; young: under a minute old, under ten minutes since version 23); an older one is refreshed
in place (library version 16), and changes still arrive."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg

from tests.sync import seed
from tests.sync.syncclient import SyncClient, row_key
from tests.sync.table_reads import PULL_AS_HOST


def bare_pull(db: psycopg.Connection[Any], user: str, client_id: str, cursor: str) -> tuple[str, bool, int]:
    """The cursor an empty pull answers with, whether its transaction took a transaction id (any write
    does), and how many cursor rows there are after it."""
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = db.execute(PULL_AS_HOST, (user, client_id, cursor, 100)).fetchone()
        wrote = db.execute("SELECT pg_current_xact_id_if_assigned() IS NOT NULL").fetchone()
    cursors = db.execute("SELECT count(*) FROM drizzlesync.pull_cursor").fetchone()
    assert row is not None and wrote is not None and cursors is not None
    response = json.loads(row[0])
    assert response["changes"] == [] and response["hasMore"] is False and response["reset"] is False
    return str(response["cursor"]), bool(wrote[0]), int(cursors[0])


def caught_up(db: psycopg.Connection[Any], http: httpx.Client) -> tuple[str, str, SyncClient, str]:
    """Alice, her team, her client pulled to the end, and its cursor, presented once: the first
    presentation of a cursor deletes the ones before it."""
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    client.pull()
    assert client.cursor is not None
    return alice, team, client, client.cursor


def test_an_empty_pull_from_a_young_cursor_answers_with_it_and_writes_nothing(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    alice, team, client, cursor = caught_up(db, http)
    _, _, cursors = bare_pull(db, alice, "alice-1", cursor)
    assert bare_pull(db, alice, "alice-1", cursor) == (cursor, False, cursors)

    todo = seed.todo(db, team, "after the empty pulls")
    client.pull()
    assert row_key("todos", {"id": todo}) in client.rows
    assert client.cursor != cursor
    assert client.rows == seed.visible_rows(db, alice)


def test_an_empty_pull_from_a_cursor_under_ten_minutes_old_writes_nothing(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """Since library version 23 an idle client's poll refreshes its cursor once in ten minutes, where
    version 16 did once a minute: a polling client writes a tenth as often."""
    alice, _, _, cursor = caught_up(db, http)
    db.execute("UPDATE drizzlesync.pull_cursor SET created_at = now() - interval '9 minutes 50 seconds'")
    assert bare_pull(db, alice, "alice-1", cursor) == (cursor, False, 1)


def test_an_empty_pull_from_a_cursor_over_ten_minutes_old_refreshes_it_in_place(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """So that a polling client's cursor never ages into expiry, nor holds compaction back: since
    library version 16 the idle poll moves the cursor's base to its own snapshot and its time to now,
    where the full pull stored a new cursor (four times the server's CPU). Then changes still arrive,
    a transaction running during that poll's included."""
    alice, team, client, old = caught_up(db, http)
    db.execute("UPDATE drizzlesync.pull_cursor SET created_at = now() - interval '601 seconds'")
    # The base's xmax, the next transaction id when it was taken: its xmin would stay put while any
    # transaction of the cluster that began before it runs on (another test's connection, say).
    (base_before,) = db.execute(
        "SELECT pg_snapshot_xmax(base) FROM drizzlesync.pull_cursor WHERE id = %s", (old.partition(".")[2],)
    ).fetchone() or (None,)
    with psycopg.connect(db.info.dsn) as writer:
        running = seed.todo(writer, team, "running during the refresh")
        assert bare_pull(db, alice, "alice-1", old) == (old, True, 1)
        refreshed = db.execute(
            "SELECT created_at > now() - interval '1 minute', pg_snapshot_xmax(base) > %s"
            " FROM drizzlesync.pull_cursor WHERE id = %s",
            (base_before, old.partition(".")[2]),
        ).fetchone()
        assert refreshed == (True, True)
        assert bare_pull(db, alice, "alice-1", old) == (old, False, 1)  # young again: nothing written
        writer.commit()
    client.pull_all()
    assert row_key("todos", {"id": running}) in client.rows
    assert client.resets == 0
    assert client.rows == seed.visible_rows(db, alice)


def test_changes_made_between_empty_pulls_from_one_cursor_all_arrive(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The base kept by the answered cursor is older than the snapshots of the empty pulls since: what
    committed in between, and what was still running when they looked, comes with the next window."""
    alice, team, client, cursor = caught_up(db, http)
    other = seed.team(db, "B")
    with psycopg.connect(db.info.dsn) as writer:
        running = seed.todo(writer, team, "running during the empty pulls")
        seed.todo(db, other, "another team's")
        assert bare_pull(db, alice, "alice-1", cursor)[0] == cursor
        writer.commit()
    client.pull_all()
    assert row_key("todos", {"id": running}) in client.rows
    assert client.resets == 0
    assert client.rows == seed.visible_rows(db, alice)
