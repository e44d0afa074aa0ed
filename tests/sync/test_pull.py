"""Pull: bootstrap, paging, deletes, scope moves, gap-freedom under concurrent commits, resets."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from alembic_drizzlesync.ops import BumpSchemaVersionOp
from tests.sync import seed
from tests.sync.syncclient import SyncClient, row_key


def test_bootstrap_is_paged_and_complete(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice, team = seed.member(db, "alice", "A")
    for i in range(25):
        seed.todo(db, team, f"todo {i}")
    client = SyncClient(http, alice, "alice-1")
    pages = 0
    while client.pull(limit=4)["hasMore"]:
        pages += 1
        assert len(client.received) <= 4 * pages
    assert pages == 6  # 27 rows (team, membership, 25 todos) in pages of 4
    assert client.rows == seed.visible_rows(db, alice)


def test_updates_deletes_and_move_outs_arrive(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice = seed.user(db, "alice")
    mine, theirs = seed.team(db, "A"), seed.team(db, "B")
    seed.join(db, alice, mine)
    kept, deleted, moved = (seed.todo(db, mine, title) for title in ("kept", "deleted", "moved"))
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    db.execute("UPDATE todos SET done = true WHERE id = %s", (kept,))
    db.execute("DELETE FROM todos WHERE id = %s", (deleted,))
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (theirs, moved))
    client.pull_all()
    assert client.rows[row_key("todos", {"id": kept})]["done"] is True
    assert row_key("todos", {"id": deleted}) not in client.rows
    assert row_key("todos", {"id": moved}) not in client.rows
    assert client.rows == seed.visible_rows(db, alice)


def test_losing_and_gaining_a_scope(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice = seed.user(db, "alice")
    a, b = seed.team(db, "A"), seed.team(db, "B")
    seed.join(db, alice, a)
    seed.join(db, alice, b)
    in_b = seed.todo(db, b, "in b")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    assert row_key("todos", {"id": in_b}) in client.rows

    seed.leave(db, alice, b)
    moved_out_meanwhile = seed.todo(db, b, "created after leaving")
    client.pull_all(limit=1)
    assert not any(row.get("team_id") == b or row.get("id") == b for row in client.rows.values())
    assert client.rows == seed.visible_rows(db, alice)
    assert all(c["row"].get("team_id") != b for c in client.received[-5:] if c["op"] == "upsert")

    seed.join(db, alice, b)
    client.pull_all(limit=2)
    assert row_key("todos", {"id": moved_out_meanwhile}) in client.rows
    assert client.rows == seed.visible_rows(db, alice)


def test_row_moved_out_of_a_lost_scope_during_the_scope_change_is_deleted(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    alice = seed.user(db, "alice")
    a, b, c = seed.team(db, "A"), seed.team(db, "B"), seed.team(db, "C")
    seed.join(db, alice, a)
    seed.join(db, alice, b)
    travelling = seed.todo(db, b, "travelling")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    seed.leave(db, alice, b)
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (c, travelling))
    client.pull_all(limit=1)
    assert row_key("todos", {"id": travelling}) not in client.rows
    assert client.rows == seed.visible_rows(db, alice)


def naive_pull(db: psycopg.Connection[Any], after_seq: int) -> tuple[set[str], int]:
    """The cursor this project exists to avoid: everything with a larger identity value."""
    rows = db.execute(
        "SELECT seq, pk->>'id' FROM drizzlesync.change_log AS c "
        "JOIN drizzlesync.synced_table AS s ON s.id = c.table_id "
        "WHERE s.table_name = 'todos' AND seq > %s ORDER BY seq",
        (after_seq,),
    ).fetchall()
    return {row[1] for row in rows}, max((row[0] for row in rows), default=after_seq)


def test_naive_seq_cursor_loses_a_commit_that_ours_delivers(
    db: psycopg.Connection[Any], http: httpx.Client, synced_db: str
) -> None:
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    naive_seen, naive_cursor = naive_pull(db, 0)

    # Sessions cache sequence numbers, so the later writer gets a session of
    # its own: its numbers then come after those of the open transaction.
    with psycopg.connect(synced_db) as long_running, psycopg.connect(synced_db, autocommit=True) as other:
        early = seed.todo(long_running, team, "written first, committed last")  # lower seq, still open
        late = seed.todo(other, team, "written second, committed first")
        client.pull_all()
        seen, naive_cursor = naive_pull(db, naive_cursor)
        naive_seen |= seen
        assert row_key("todos", {"id": late}) in client.rows, "an open transaction held back a committed one"
        long_running.commit()

    client.pull_all()
    seen, naive_cursor = naive_pull(db, naive_cursor)
    naive_seen |= seen
    assert early not in naive_seen, "the naive cursor was expected to skip the late commit"
    assert late in naive_seen
    assert row_key("todos", {"id": early}) in client.rows
    assert client.rows == seed.visible_rows(db, alice)


def test_last_mutation_id_comes_with_its_effects(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    (mutation,) = client.stage(
        [
            {
                "table": "todos",
                "op": "put",
                "pk": {"id": "00000000-0000-4000-8000-000000000001"},
                "values": {"team_id": team, "title": "mine"},
            }
        ]
    )
    client.push()
    client.pull_all()
    assert client.last_mutation_id == mutation
    assert row_key("todos", {"id": "00000000-0000-4000-8000-000000000001"}) in client.rows


def test_unknown_and_foreign_cursors_reset(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice, bob = seed.user(db, "alice"), seed.user(db, "bob")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    good = client.cursor
    assert good is not None
    epoch, _, cursor_id = good.partition(".")
    for cursor in (
        f"{epoch}.00000000-0000-4000-8000-000000000000",
        f"00000000-0000-4000-8000-000000000000.{cursor_id}",
    ):
        client.cursor = cursor
        assert client.pull()["reset"] is True
    thief = SyncClient(http, bob, "bob-1", cursor=good)
    assert thief.pull()["reset"] is True
    client.cursor = "not a cursor"
    response = client.post("/pull", {"protocol": 1, "schemaVersion": 1, "clientId": "alice-1", "cursor": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_truncate_resets_clients(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice, team = seed.member(db, "alice", "A")
    seed.todo(db, team, "soon gone")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    db.execute("TRUNCATE todos")
    client.pull_all()
    assert client.resets == 1
    assert client.rows == seed.visible_rows(db, alice)


def test_a_page_serves_a_key_once_and_a_truncate_just_past_it_waits_for_the_next(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """Two updates of one row, one each of two others, then a truncate. A pull of 3 changes reads
    3 entries (2 rows, each served once) and then 1 more, the truncate after it saying only that
    the window goes on: 3 changes, no reset; the next pull resets."""
    alice, team = seed.member(db, "alice", "A")
    todos = [seed.todo(db, team, name) for name in ("first", "second", "third")]
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    db.execute("UPDATE todos SET title = 'first, again' WHERE id = %s", (todos[0],))
    for todo in todos:
        db.execute("UPDATE todos SET done = true WHERE id = %s", (todo,))
    db.execute("TRUNCATE todos")
    page = client.pull(limit=3)
    assert page["reset"] is False and page["hasMore"] is True
    assert sorted((c["op"], c["pk"]["id"]) for c in page["changes"]) == sorted(("delete", t) for t in todos)
    client.pull_all()
    assert client.resets == 1
    assert client.rows == seed.visible_rows(db, alice)


def test_a_pull_that_ends_its_open_window_exactly_at_the_limit_has_more(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The window a pull continues is older than its own snapshot: commits after it are still unread."""
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    for i in range(5):
        seed.todo(db, team, f"todo {i}")
    assert client.pull(limit=2)["hasMore"] is True  # opens a window of 5 entries, reads 2
    late = seed.todo(db, team, "committed while the window was open")
    assert client.pull(limit=3)["hasMore"] is True  # reads the other 3: the window ends, newer commits wait
    client.pull_all(limit=3)
    assert row_key("todos", {"id": late}) in client.rows
    assert client.rows == seed.visible_rows(db, alice)


def test_compaction_keeps_entries_of_a_writer_open_when_a_cursor_was_made(
    synced_db: str, db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """A writer running when the cursor's snapshot was taken commits later: its entries are ahead of the
    cursor though older than the snapshot's xmax, and compaction must keep them (no needless reset).

    A later transaction commits before the snapshot, so that the writer is
    among the snapshot's running transactions rather than past its xmax.
    Compaction also stays behind every transaction running anywhere in the
    cluster, so on a busy shared server other databases' transactions may
    keep it from deleting anything: the test bites on a server of its own.
    """
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    with psycopg.connect(synced_db) as writer:
        slow = seed.todo(writer, team, "committed after the cursor was made")
        quick = seed.todo(db, team, "committed before the cursor was made")
        client.pull_all()
        (xid,) = writer.execute("SELECT pg_current_xact_id()::text").fetchone() or ("",)
        running = "SELECT %s::xid8 IN (SELECT pg_snapshot_xip(base) FROM drizzlesync.pull_cursor)"
        assert db.execute(running, (xid,)).fetchone() == (True,)
        writer.commit()
    db.execute("SELECT * FROM drizzlesync.compact('1 hour')")
    client.pull_all()
    assert client.resets == 0
    assert {row_key("todos", {"id": slow}), row_key("todos", {"id": quick})} <= set(client.rows)
    assert client.rows == seed.visible_rows(db, alice)


def test_compaction_keeps_what_live_cursors_need_and_resets_expired_ones(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    # Other databases of the cluster may hold the xmin horizon back, so this
    # checks what compaction keeps and whom it resets, not how much it deletes.
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    pending = seed.todo(db, team, "not pulled yet")
    db.execute("SELECT * FROM drizzlesync.compact('1 hour')")
    behind = db.execute(
        "SELECT bool_and(pg_snapshot_xmin(p.base) > c.compacted_through) "
        "FROM drizzlesync.pull_cursor AS p, drizzlesync.compaction AS c"
    ).fetchone()
    assert behind == (True,)
    client.pull_all()
    assert row_key("todos", {"id": pending}) in client.rows
    assert client.resets == 0

    seed.todo(db, team, "pulled after expiry")
    expired = db.execute("SELECT * FROM drizzlesync.compact('0 seconds')").fetchone()
    assert expired is not None and expired[0] >= 1
    client.pull_all()
    assert client.resets == 1
    assert client.rows == seed.visible_rows(db, alice)


def test_a_table_without_scope_rule_is_served_to_every_user(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    alice, bob = seed.user(db, "alice"), seed.user(db, "bob")
    db.execute("SELECT drizzlesync.enable_sync('public', 'users')")
    for user in (alice, bob):
        client = SyncClient(http, user, f"{user}-1")
        client.pull_all(limit=1)
        assert {row["email"] for key, row in client.rows.items() if key[0] == "users"} == {
            "alice@example.com",
            "bob@example.com",
        }


def test_restores_reset_clients(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice = seed.user(db, "alice")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    # A logical restore into another cluster: the cursor names a transaction not reached yet.
    db.execute("UPDATE drizzlesync.pull_cursor SET created_xid = '4000000000000'")
    client.pull_all()
    assert client.resets == 1
    # The documented step after any restore: a new epoch.
    db.execute("UPDATE drizzlesync.installation SET epoch = gen_random_uuid()")
    client.pull_all()
    assert client.resets == 2


def test_a_client_that_moves_to_a_new_schema_version_starts_over(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    alice, team = seed.member(db, "alice", "A")
    seed.todo(db, team, "before the migration")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all()
    # A migration as autogenerate writes it: the column, then the version bump.
    db.execute("ALTER TABLE todos ADD COLUMN note text NOT NULL DEFAULT 'added'")
    for statement in BumpSchemaVersionOp(2).statements():
        db.execute(statement)
    stale = client.post(
        "/pull", {"protocol": 1, "schemaVersion": 1, "clientId": "alice-1", "cursor": client.cursor}
    )
    assert stale.status_code == 409
    client.schema_version = 2
    client.pull_all()
    assert client.resets == 1
    todos = [row for key, row in client.rows.items() if key[0] == "todos"]
    assert [row["note"] for row in todos] == ["added"]
    assert client.rows == seed.visible_rows(db, alice)


def test_every_page_of_a_bootstrap_carries_its_estimated_total_and_no_later_pull_does(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    alice, team = seed.member(db, "alice", "A")
    for i in range(25):
        seed.todo(db, team, f"todo {i}")
    _, other = seed.member(db, "bob", "B")
    db.execute("INSERT INTO todos (team_id, title) SELECT %s, 'theirs' FROM generate_series(1, 40)", (other,))
    db.execute("SELECT drizzlesync.enable_sync('public', 'users')")  # unscoped: every user gets both rows
    db.execute("ANALYZE")
    client = SyncClient(http, alice, "alice-1")
    pages = [client.pull(limit=4)]
    while pages[-1]["hasMore"]:
        pages.append(client.pull(limit=4))
    assert len(pages) == 8  # 29 rows (team, membership, 25 todos, 2 users) in pages of 4
    assert len(client.received) == 29
    assert [page.get("estimatedTotal") for page in pages] == [29] * 8

    seed.todo(db, team, "later")
    later = client.pull(limit=4)
    assert len(later["changes"]) == 1
    assert "estimatedTotal" not in later


def test_a_bootstrap_after_a_reset_estimates_again(db: psycopg.Connection[Any], http: httpx.Client) -> None:
    alice, team = seed.member(db, "alice", "A")
    for i in range(5):
        seed.todo(db, team, f"todo {i}")
    client = SyncClient(http, alice, "alice-1")
    client.pull_all(limit=100)
    client.cursor = "00000000-0000-0000-0000-000000000000.00000000-0000-0000-0000-000000000000"
    reset = client.pull(limit=100)
    assert reset["reset"] and "estimatedTotal" not in reset
    assert client.pull(limit=100)["estimatedTotal"] == 7


def test_beyond_the_counted_rows_the_estimate_is_the_planners(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    alice, team = seed.member(db, "alice", "A")
    _, other = seed.member(db, "bob", "B")
    for owner, rows in ((team, 30_000), (other, 20_000)):
        db.execute(
            "INSERT INTO todos (team_id, title) SELECT %s, 'x' FROM generate_series(1, %s)", (owner, rows)
        )
    db.execute("ANALYZE")
    estimate = SyncClient(http, alice, "alice-1").pull(limit=10)["estimatedTotal"]
    assert 10_000 < estimate and abs(estimate - 30_002) < 30_002 * 0.05
