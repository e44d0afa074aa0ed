"""A client asks for the next pages of a pull before it has stored the ones before (the runtime asks up
to `pullPagesAhead` ahead and applies several arrived pages in one transaction), so the cursor it last
stored may be several pages behind the newest it presented. Since library version 27 the server keeps
the cursors before a presented one whose page said `hasMore` (up to 64), so a client stopped in
mid-pull (a reload, a closed tab, a killed app) resumes from its stored cursor instead of being reset
to download everything again; the cursor of a pull's last page, once presented, clears the rest."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.sync import seed
from tests.sync.table_reads import raw_pull

CLIENT = "tablet"


def page(db: psycopg.Connection[Any], user: str, cursor: str | None, limit: int = 10) -> dict[str, Any]:
    response: dict[str, Any] = json.loads(raw_pull(db, user, CLIENT, cursor, limit))
    return response


def cursors(db: psycopg.Connection[Any]) -> int:
    (count,) = db.execute(
        "SELECT count(*) FROM drizzlesync.pull_cursor WHERE client_id = %s", (CLIENT,)
    ).fetchone() or (0,)
    return int(count)


def keys(response: dict[str, Any]) -> list[str]:
    """Each change of a page as text: a bootstrap's are upserts of whole rows."""
    return [json.dumps(change, sort_keys=True) for change in response["changes"]]


def test_a_pull_resumed_from_a_cursor_pages_behind_the_newest_goes_on_from_it(
    db: psycopg.Connection[Any],
) -> None:
    alice, team = seed.member(db, "alice", "A")
    for n in range(60):
        seed.todo(db, team, f"todo {n}")
    first = page(db, alice, None)
    second = page(db, alice, first["cursor"])  # asked for while the first page is applied
    third = page(db, alice, second["cursor"])  # and this one too: the client stored nothing yet
    assert first["hasMore"] and second["hasMore"] and third["hasMore"]

    # The app is reloaded: it stored the first page's cursor and presents it again.
    again = page(db, alice, first["cursor"])
    assert again["reset"] is False
    assert keys(again) == keys(second)

    # Later pages of the resumed pull go on from there, and the download ends with every row once.
    received = keys(first) + keys(again)
    response = again
    while response["hasMore"]:
        response = page(db, alice, response["cursor"])
        assert response["reset"] is False
        received += keys(response)
    assert len(received) == len(set(received)) == len(seed.visible_rows(db, alice))


def test_the_last_pages_cursor_presented_clears_the_ones_before_it(db: psycopg.Connection[Any]) -> None:
    """Kept cursors do not outlive the pull: once the client presents the cursor of a page that said no
    more (its next poll), the ones before are deleted, and the idle poll answers it again."""
    alice, team = seed.member(db, "alice", "A")
    for n in range(30):
        seed.todo(db, team, f"todo {n}")
    response = page(db, alice, None)
    while response["hasMore"]:
        response = page(db, alice, response["cursor"])
    assert cursors(db) > 2
    last = response["cursor"]
    assert page(db, alice, last)["cursor"] == last  # nothing new: answered with itself
    assert cursors(db) == 1
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        (idle,) = db.execute(
            "SELECT drizzlesync.idle_poll(%s, drizzlesync.user_scope_keys(%s, '{}'), %s, 1, %s)",
            (alice, alice, CLIENT, last),
        ).fetchone() or (None,)
    assert idle is not None and json.loads(idle)["cursor"] == last


def test_a_long_pull_keeps_at_most_64_cursors_behind_the_presented_one(db: psycopg.Connection[Any]) -> None:
    alice, team = seed.member(db, "alice", "A")
    db.execute(
        "INSERT INTO todos (team_id, title) SELECT %s, 'todo ' || n FROM generate_series(1, 80) AS n", (team,)
    )
    response = page(db, alice, None, limit=1)
    pages = 1
    while response["hasMore"]:
        response = page(db, alice, response["cursor"], limit=1)
        pages += 1
        assert cursors(db) <= 66  # the 64 kept, the presented one and the new one
    assert pages > 70 and cursors(db) == 66


def test_a_client_resumed_again_and_again_from_the_same_cursor_is_not_reset(
    db: psycopg.Connection[Any],
) -> None:
    """Each resume asks its pages ahead anew, and a client killed before it stores one leaves them
    behind: the cursors kept are the presented one's own chain, so those left behind never push the
    stored cursor out (counted among all the client's cursors, they did after 13 resumes)."""
    alice, team = seed.member(db, "alice", "A")
    for n in range(60):
        seed.todo(db, team, f"todo {n}")
    stored = page(db, alice, None, limit=1)["cursor"]
    for _ in range(30):
        response = page(db, alice, stored, limit=1)
        assert response["reset"] is False
        for _ in range(4):  # the pages asked for ahead, then the app is killed before it stores one
            response = page(db, alice, response["cursor"], limit=1)
            assert response["reset"] is False
