"""A device killed (SIGKILL) at one point of its work, then opened again on the same database
file, against a real `drizzlesync serve` (runtime/test/integration/crash-recovery.ts): during
its bootstrap, with a push sent, with a push applied whose answer it never read, while it
applies the pull after its writes, inside a local transaction. Each time, every write committed
before the kill reaches Postgres exactly once, the one it was inside does not, and the device
ends with the server's rows and an empty outbox."""

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


def device(
    node: str, base: str, env: dict[str, str], step: str, kill_at: str = ""
) -> tuple[int, list[dict[str, Any]]]:
    run = subprocess.run(
        [node, "--disable-warning=ExperimentalWarning", "test/integration/crash-recovery.ts"],
        cwd=ROOT / "runtime",
        env={**os.environ, **env, "SYNC_URL": base, "STEP": step, "KILL_AT": kill_at},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode in (0, -9), run.stderr
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines()]


@pytest.mark.parametrize(
    "kill_at", ["bootstrap-tx:2", "push-sent", "push-answered", "sync-tx:1", "sync-tx:2", "write"]
)
def test_a_killed_device_recovers_every_committed_write_once(
    synced_db: str, sync_server: str, node22: str, tmp_path: Path, kill_at: str
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, team = seed.member(db, "ada", "crew")
        for index in range(7):
            seed.todo(db, team, f"server {index}")
        db.execute(TODO_AUDIT)
    env = {"USER_ID": user, "TEAM_ID": team, "DB_FILE": str(tmp_path / "device.sqlite3")}

    status, lines = device(node22, sync_server, env, "work", kill_at)
    assert status == -9, f"the device was not killed at {kill_at}: {lines}"
    committed = {line["committed"]: line["title"] for line in lines if "committed" in line}
    started = {line["started"] for line in lines if "started" in line}

    status, lines = device(node22, sync_server, env, "finish")
    final = lines[-1]
    assert (final["pending"], final["state"], final["error"]) == (0, "idle", None)
    server, twice = team_todos_and_repeats(synced_db, team)
    assert final["todos"] == server
    for row_id, title in committed.items():
        assert server.get(row_id) == title, (row_id, title)
    for row_id in started - set(committed):
        assert row_id not in server, "a write the kill rolled back reached the server"
    assert twice == [], "a write was applied more than once"
    if kill_at.startswith("bootstrap"):
        # The reopened device went on with the bootstrap from its stored cursor, and said so: it
        # received the rows after its first page (three), where a reset would send them all again,
        # though it had asked for the next page before the kill (library version 27).
        assert final["bootstrap"] is not None and final["bootstrap"]["done"] is True, final["bootstrap"]
        assert len(server) == 7
        with psycopg.connect(synced_db) as db:
            visible = len(seed.visible_rows(db, user))
        assert final["bootstrap"]["received"] == visible - 3, (final["bootstrap"], visible)
