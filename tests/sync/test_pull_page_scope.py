"""A pull page tests a row's scope on the rule's column, where the rule reads back to one (library
version 17).

Version 11's page query made each row's rule text (`'team:' || team_id`) and looked for it among
the scope keys; since version 17, for a rule that reads back to one column (scope_column), it
tests that column against the values the keys read back to, found once a page. The same rows are
in scope either way: a row moved out of the user's teams still arrives as a delete, one moved in
as an upsert, and a rule that does not read back is tested by its text as before.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from tests.sync import seed
from tests.sync.table_reads import caught_up, raw_pull

CACHED_QUERY = (
    "SELECT c.query FROM drizzlesync.page_query_cache AS c "
    "JOIN drizzlesync.synced_table AS t ON t.id = c.table_id WHERE t.table_name = 'todos'"
)
COLUMN_TEST = "t.team_id = ANY((SELECT drizzlesync.scope_column_values('team:', 'uuid', $5)::uuid[])::uuid[])"


def todo_changes(db: psycopg.Connection[Any], user: str, cursor: str) -> tuple[set[tuple[str, str]], str]:
    """The (op, id) of every todos change of the next page, and the page's cursor."""
    page = json.loads(raw_pull(db, user, "laptop", cursor, 100))
    changes = {
        (c["op"], (c["row"] if c["op"] == "upsert" else c["pk"])["id"])
        for c in page["changes"]
        if c["table"] == "todos"
    }
    return changes, str(page["cursor"])


def moves_in_and_out(db: psycopg.Connection[Any]) -> str:
    """Alice's pages over a todo written in her team, one moved out of it and one moved into it;
    returns the page query cached for todos."""
    alice, team = seed.member(db, "alice", "A")
    other = seed.team(db, "B")
    leaving, arriving = seed.todo(db, team, "leaving"), seed.todo(db, other, "arriving")
    cursor = caught_up(db, alice)

    written = seed.todo(db, team, "written")
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (other, leaving))
    db.execute("UPDATE todos SET team_id = %s WHERE id = %s", (team, arriving))
    changes, _ = todo_changes(db, alice, cursor)
    assert changes == {("upsert", written), ("delete", leaving), ("upsert", arriving)}
    row = db.execute(CACHED_QUERY).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize("by", seed.SCOPE_INDEXES)
def test_a_rule_that_reads_back_is_tested_on_its_column(db: psycopg.Connection[Any], by: str) -> None:
    """Whatever index serves the scope: the read-back does not depend on it."""
    seed.serve_scope(db, by)
    query = moves_in_and_out(db)
    assert COLUMN_TEST in query
    assert "'team:' || team_id" not in query and "ANY($5)" not in query


def test_a_rule_that_does_not_read_back_is_tested_by_its_text(db: psycopg.Connection[Any]) -> None:
    """The same keys from a rule of another form (a text after the column): no column to test."""
    db.execute("SELECT drizzlesync.set_sync_scope('public', 'todos', $$'team:' || team_id || ''$$)")
    query = moves_in_and_out(db)
    assert "scope_column_values" not in query
    assert "('team:' || team_id || '')::text AS scope" in query and "cur.scope = ANY($5)" in query
