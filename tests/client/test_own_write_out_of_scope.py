"""What the 300-step convergence runs flagged as "a rejected insert still shown": a device keeps a
row it wrote itself into a team its user has since left, and the server never tells it to drop it.

The steps, taken from a traced run (seeds 120, 124 and 137 at 300 steps): the user joins a team;
the device writes a todo into it and pushes (accepted); the pull that would have brought the new
team is lost; the user leaves the team; the next pull starts from the cursor that never held the
team, sees no scope change, and skips the change-log entry of the device's own write, since its
scope is not one the cursor holds. The device shows the todo for ever (and differs from the server
at quiescence). The push was accepted, so nothing in the client's outbox or rebase is involved:
the pull's window must treat the changes this client pushed as relevant to it, whatever their
scope (the server's pull SQL, templates/sql; not the client engine's to change)."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from tests.sync import seed
from tests.sync.syncclient import ResponseLost, SyncClient, row_key


def test_an_own_write_into_a_team_left_meanwhile_is_deleted_by_the_next_pull(
    synced_db: str, sync_server: str
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db, httpx.Client(base_url=sync_server) as http:
        user, home = seed.member(db, "bob", "home")
        other = seed.team(db, "other")
        device = SyncClient(http, user, f"device-{uuid.uuid4()}")
        device.pull_all()

        seed.join(db, user, other)
        todo = {"id": str(uuid.uuid4())}
        device.stage(
            [{"table": "todos", "op": "put", "pk": todo, "values": {"team_id": other, "title": "mine"}}],
            optimistic=True,
        )
        response = device.push()
        assert response is not None and response.json()["rejected"] == []  # accepted: bob is in the team
        with pytest.raises(ResponseLost):
            device.pull(drop=True)  # the pull that would have brought the team is lost
        seed.leave(db, user, other)

        device.pull_all()
        assert db.execute("SELECT team_id::text FROM todos WHERE id = %s", (todo["id"],)).fetchone() == (
            other,
        )
        assert row_key("todos", todo) not in device.rows, "the device still shows a todo of a team bob left"
        assert device.rows == seed.visible_rows(db, user)
        assert home in {row["team_id"] for row in device.rows.values() if "team_id" in row}
