"""Version 8 carries a pull's pages as text, never parsing them: its responses are version 7's, byte for byte.

Two clients of one user pull the same rows, one under version 7's library
objects and one under version 8's (the database moved between them with
the library's own upgrade and downgrade): a multi-page bootstrap of several
tables, a push of each, an incremental pull over several pages (inserts, an
update with characters JSON escapes, a delete), a lost scope's deletes, an
idle poll and a reset. Their responses' text must be equal but for the
cursor tokens (random ids), which are numbered in order of appearance.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import psycopg

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


def test_version_8_responses_are_version_7s_byte_for_byte(
    synced_db: str, db: psycopg.Connection[Any]
) -> None:
    alice, first = seed.member(db, "alice", "A")
    second = seed.team(db, "B")
    seed.join(db, alice, second)
    todos = [seed.todo(db, team, f"todo {i}") for team in (first, second) for i in range(6)]
    _, other = seed.member(db, "bob", "C")
    seed.todo(db, other, "not hers")
    seven, eight = UpgradeOp(8, 7), UpgradeOp(7, 8)
    # From the installed version down to 8, whose snapshot functions version 8's downgrade knows.
    apply_ops(synced_db, *(UpgradeOp(version, version - 1) for version in range(LIBRARY_VERSION, 8, -1)))

    apply_ops(synced_db, seven)
    bootstrap_7 = pull_all(db, alice, "seven", None)
    apply_ops(synced_db, eight)
    bootstrap_8 = pull_all(db, alice, "eight", None)
    # Several pages, the first of several tables (users, teams, memberships, todos), with an estimate.
    assert len(bootstrap_8) >= 4 and '"estimatedTotal":' in bootstrap_8[0]
    assert len({c["table"] for c in json.loads(bootstrap_8[0])["changes"]}) >= 2

    for client, todo in (("seven", todos[0]), ("eight", todos[1])):
        patch = {"id": 1, "tx": 1, "table": "todos", "op": "patch", "pk": {"id": todo}}
        mutations = json.dumps([{**patch, "values": {"done": True}}])
        db.execute("SELECT drizzlesync.push(%s, '{}'::jsonb, %s, 1, %s::jsonb)", (alice, client, mutations))
    seed.todo(db, first, "new")
    seed.todo(db, second, "newer")
    db.execute("UPDATE todos SET title = %s WHERE id = %s", ('say "hi"\\ — ü\n\t', todos[2]))
    db.execute("DELETE FROM todos WHERE id = %s", (todos[3],))

    def later_pulls(client: str, cursor: str) -> list[str]:
        window = pull_all(db, alice, client, cursor)
        idle = raw_pull(db, alice, client, last_cursor(window), PAGE)
        reset = raw_pull(db, alice, client, f"{uuid.uuid4()}.{uuid.uuid4()}", PAGE)
        return [*window, idle, reset]

    after_8 = later_pulls("eight", last_cursor(bootstrap_8))
    apply_ops(synced_db, seven)
    after_7 = later_pulls("seven", last_cursor(bootstrap_7))

    # Alice leaves team B: her next pull is a snapshot of deletes of its rows.
    seed.leave(db, alice, second)
    lost_7 = pull_all(db, alice, "seven", last_cursor(after_7[:-2]))
    apply_ops(synced_db, eight)
    lost_8 = pull_all(db, alice, "eight", last_cursor(after_8[:-2]))

    window = [json.loads(page) for page in after_8[:-2]]
    assert len(window) >= 2 and any(c["op"] == "delete" for p in window for c in p["changes"])
    assert json.loads(after_8[-2])["changes"] == [] and json.loads(after_8[-1])["reset"] is True
    assert json.loads(after_8[0])["lastMutationId"] == 1
    assert any(c["op"] == "delete" for p in lost_8 for c in json.loads(p)["changes"])
    assert numbered_cursors([*bootstrap_8, *after_8, *lost_8]) == numbered_cursors(
        [*bootstrap_7, *after_7, *lost_7]
    )
