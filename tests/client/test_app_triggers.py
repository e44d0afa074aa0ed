"""A device whose writes an application's BEFORE trigger skips (returns NULL) on the server, through
a real `drizzlesync serve`: an edit and a delete of a row the trigger keeps as it is, and an insert
it ignores. The push accepts them, and the device ends with the server's rows: before library
version 26 it kept its edit and lost the row it deleted for good, and the insert was rejected
`forbidden` though it was in the user's own team."""

from __future__ import annotations

import psycopg

from tests.sync import seed
from tests.sync.test_app_triggers import GUARD

from .conftest import run_integration


def test_a_device_gets_back_the_rows_a_trigger_kept_from_its_writes(
    synced_db: str, sync_server: str, node22: str
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, team = seed.member(db, "ada", "crew")
        db.execute(GUARD)
        edited, deleted = seed.todo(db, team, "locked"), seed.todo(db, team, "locked")
        seed.todo(db, team, "free")

    env = {"USER_ID": user, "TEAM_ID": team, "EDITED_ID": edited, "DELETED_ID": deleted}
    report = run_integration(node22, "app-triggers", sync_server, env)

    assert report["optimistic"][edited] == "edited offline"
    assert deleted not in report["optimistic"] and report["optimistic"][report["ignored"]] == "ignored"
    with psycopg.connect(synced_db) as db:
        server = {str(row[0]): row[1] for row in db.execute("SELECT id, title FROM todos")}
    assert report["todos"] == server
    assert server[edited] == server[deleted] == "locked" and report["ignored"] not in server
    assert report["rejected"] == []
    assert (report["state"], report["pending"]) == ("idle", 0)
