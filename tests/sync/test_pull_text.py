"""Versions 8 and 17 change how a pull's pages are made, not what they say: their responses are
versions 7's and 16's, byte for byte.

Version 8 carries a pull's pages as text, never parsing them; version 17 takes row images from
row_to_json, tests a page's rows on the scope rule's column and joins the page's text without
arrays. For each, two clients of one user pull the same rows, one under the earlier version's
library objects and one under the later's (the database moved between them with the library's
own upgrade and downgrade): a multi-page bootstrap of several tables, a push of each, an
incremental pull over several pages (inserts, an update with characters JSON escapes, a delete, a
row moved to another user's team), a lost scope's deletes, an idle poll and a reset. Their
responses' text must be equal but for the cursor tokens (random ids), which are numbered in order
of appearance.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import psycopg
import pytest

from alembic_drizzlesync.ops import UpgradeOp
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops
from tests.sync import seed
from tests.sync.table_reads import raw_pull

PAGE = 5
CURSOR = re.compile(r'"cursor":"([^"]+)"')


def pull_all(db: psycopg.Connection[Any], user_id: str, client: str, cursor: str | None) -> list[str]:
    """Every page up to the last (hasMore false), as text."""
    pages: list[str] = []
    while True:
        pages.append(raw_pull(db, user_id, client, cursor, PAGE))
        page = json.loads(pages[-1])
        cursor = page["cursor"]
        if not page["hasMore"]:
            return pages


def last_cursor(pages: list[str]) -> str:
    cursor = json.loads(pages[-1])["cursor"]
    assert isinstance(cursor, str)
    return cursor


def numbered_cursors(pages: list[str]) -> list[str]:
    """The pages with each distinct cursor token replaced by its number in order of appearance."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f'"cursor":"#{numbers.setdefault(match.group(1), len(numbers))}"'

    return [CURSOR.sub(number, page) for page in pages]


@pytest.mark.parametrize("older", [7, 16])
def test_the_responses_are_the_earlier_versions_byte_for_byte(
    synced_db: str, db: psycopg.Connection[Any], older: int
) -> None:
    newer = older + 1
    alice, first = seed.member(db, "alice", "A")
    second = seed.team(db, "B")
    seed.join(db, alice, second)
    todos = [seed.todo(db, team, f"todo {i}") for team in (first, second) for i in range(6)]
    _, other = seed.member(db, "bob", "C")
    seed.todo(db, other, "not hers")
    to_earlier, to_later = UpgradeOp(newer, older), UpgradeOp(older, newer)
    # From the installed version down to the later one (for version 8, the snapshot functions its
    # downgrade knows).
    apply_ops(synced_db, *(UpgradeOp(version, version - 1) for version in range(LIBRARY_VERSION, newer, -1)))

    apply_ops(synced_db, to_earlier)
    bootstrap_earlier = pull_all(db, alice, "earlier", None)
    apply_ops(synced_db, to_later)
    bootstrap_later = pull_all(db, alice, "later", None)
    # Several pages, the first of several tables (users, teams, memberships, todos), with an estimate.
    assert len(bootstrap_later) >= 4 and '"estimatedTotal":' in bootstrap_later[0]
    assert len({c["table"] for c in json.loads(bootstrap_later[0])["changes"]}) >= 2

    for client, todo in (("earlier", todos[0]), ("later", todos[1])):
        patch = {"id": 1, "tx": 1, "table": "todos", "op": "patch", "pk": {"id": todo}}
        mutations = json.dumps([{**patch, "values": {"done": True}}])
        db.execute("SELECT drizzlesync.push(%s, '{}'::jsonb, %s, 1, %s::jsonb)", (alice, client, mutations))
    seed.todo(db, first, "new")
    seed.todo(db, second, "newer")
    db.execute("UPDATE todos SET title = %s WHERE id = %s", ('say "hi"\\ — ü\n\t', todos[2]))
    db.execute("DELETE FROM todos WHERE id = %s", (todos[3],))
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (other, todos[4]))

    def later_pulls(client: str, cursor: str) -> list[str]:
        window = pull_all(db, alice, client, cursor)
        idle = raw_pull(db, alice, client, last_cursor(window), PAGE)
        reset = raw_pull(db, alice, client, f"{uuid.uuid4()}.{uuid.uuid4()}", PAGE)
        return [*window, idle, reset]

    after_later = later_pulls("later", last_cursor(bootstrap_later))
    apply_ops(synced_db, to_earlier)
    after_earlier = later_pulls("earlier", last_cursor(bootstrap_earlier))

    # Alice leaves team B: her next pull is a snapshot of deletes of its rows.
    seed.leave(db, alice, second)
    lost_earlier = pull_all(db, alice, "earlier", last_cursor(after_earlier[:-2]))
    apply_ops(synced_db, to_later)
    lost_later = pull_all(db, alice, "later", last_cursor(after_later[:-2]))

    window = [json.loads(page) for page in after_later[:-2]]
    assert len(window) >= 2 and any(c["op"] == "delete" for p in window for c in p["changes"])
    assert json.loads(after_later[-2])["changes"] == [] and json.loads(after_later[-1])["reset"] is True
    assert json.loads(after_later[0])["lastMutationId"] == 1
    assert any(c["op"] == "delete" for p in lost_later for c in json.loads(p)["changes"])
    assert numbered_cursors([*bootstrap_later, *after_later, *lost_later]) == numbered_cursors(
        [*bootstrap_earlier, *after_earlier, *lost_earlier]
    )
