"""A device offline a long time (runtime/test/integration/long-offline.ts) against a real
`drizzlesync serve`: it queued 20,000 writes (inserts, the same rows updated again and again,
deletes, key changes, writes into a team the user left meanwhile) while the server compacted its
log past the device's cursor, and its token expires in the middle of the catch-up. Every write
reaches Postgres once and in order, the device ends with the server's rows, none of the lost
team's, and an empty outbox."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.sync import seed

from .conftest import ROOT, TODO_AUDIT, team_todos_and_repeats


def device(node: str, base: str, env: dict[str, str], step: str, **extra: str) -> dict[str, Any]:
    run = subprocess.run(
        [node, "--disable-warning=ExperimentalWarning", "test/integration/long-offline.ts"],
        cwd=ROOT / "runtime",
        env={**os.environ, **env, **extra, "SYNC_URL": base, "STEP": step},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return report


# Writes the device queues: PROBE_WRITES=20000 runs the full probe (minutes); the suite runs fewer.
WRITES = os.environ.get("PROBE_WRITES", "2500")


@pytest.mark.parametrize("expire_on", ["push:4", "pull:2"])
def test_a_device_offline_for_long_catches_up(
    synced_db: str, sync_server: str, node22: str, tmp_path: Path, expire_on: str
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, team = seed.member(db, "ada", "crew")
        lost = seed.team(db, "side")
        seed.join(db, user, lost)
        gone = seed.todo(db, team, "deleted while the device was away")
        for index in range(5):
            seed.todo(db, lost, f"side {index}")
        db.execute(TODO_AUDIT)
    env = {"USER_ID": user, "TEAM_ID": team, "TEAM_LOST": lost, "DB_FILE": str(tmp_path / "d.sqlite3")}

    first = device(node22, sync_server, env, "bootstrap")
    assert gone in first["todos"]
    # 45 titles of 100 kB in a row: a batch holding them is over the host's 4 MiB (413).
    offline = device(node22, sync_server, env, "offline", WRITES=WRITES, BIG="45")
    print({key: value for key, value in offline.items() if key != "expected"})

    with psycopg.connect(synced_db, autocommit=True) as db:
        added = seed.todo(db, team, "added while the device was away")
        db.execute("DELETE FROM todos WHERE id = %s", (gone,))
        db.execute("DELETE FROM memberships WHERE user_id = %s AND team_id = %s", (user, lost))
        db.execute("SELECT * FROM drizzlesync.compact('0 seconds')")

    # Pages of 200: the bootstrap the compaction forces is several pages, one asked for ahead.
    final = device(node22, sync_server, env, "reconnect", EXPIRE_ON=expire_on, PULL_LIMIT="200")

    assert (final["pending"], final["state"], final["error"]) == (0, "idle", None)
    assert final["renewals"] == 1 and final["requests"][f"{expire_on.split(':')[0]} 401"] == 1
    # One 413, whose maxBytes cuts every later batch (before, halved batches met it twice and
    # carried the rest a quarter as full).
    assert final["requests"]["push 413"] == 1
    assert final["bootstrap"]["done"] is True
    server, twice = team_todos_and_repeats(synced_db, team)
    with psycopg.connect(synced_db) as db:
        lost_rows = db.execute("SELECT count(*) FROM todos WHERE team_id = %s", (lost,)).fetchone()
    expected = {key: value for key, value in offline["expected"].items() if value is not None}
    expected[added] = "added while the device was away"
    assert server == expected
    assert twice == []
    assert final["todos"] == server
    assert final["lostTodos"] == 0
    assert final["teams"] == [team]
    assert lost_rows == (5,)
    assert final["rejected"] == ["forbidden"] * 20
