"""`drizzlesync compact` and `drizzlesync serve` from the command line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from alembic_drizzlesync.cli import main
from tests.sync import seed
from tests.sync.syncclient import SyncClient

EXAMPLE_PYPROJECT = Path(__file__).resolve().parents[2] / "example_project" / "pyproject.toml"


def test_compact_runs_in_batches_while_a_client_keeps_syncing(
    synced_db: str, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db, httpx.Client(base_url=server_url) as http:
        user, team = seed.user(db, "alice"), seed.team(db, "A")
        seed.join(db, user, team)
        client = SyncClient(http, user, "alice-1")
        for round_ in range(3):
            for i in range(5):
                seed.todo(db, team, f"round {round_} todo {i}")
            client.pull(limit=3)
            args = ["compact", "--database-url", synced_db, "--pyproject", str(EXAMPLE_PYPROJECT)]
            assert main([*args, "--batch-size", "2"]) == 0
        client.pull_all()
        assert client.resets == 0
        assert client.rows == seed.visible_rows(db, user)
    assert "change-log entries deleted" in capsys.readouterr().out


def test_serve_and_compact_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "serve" in out and "compact" in out


def test_serve_serves_the_configured_project(synced_db: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["serve", "--database-url", synced_db, "--pyproject", str(EXAMPLE_PYPROJECT), "--port", str(port)]
    server = subprocess.Popen([sys.executable, "-m", "alembic_drizzlesync.cli", *args])
    try:
        with psycopg.connect(synced_db, autocommit=True) as db:
            user, team = seed.user(db, "alice"), seed.team(db, "A")
            seed.join(db, user, team)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                try:
                    client = SyncClient(http, user, "alice-1")
                    client.pull_all()
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            assert {key[0] for key in client.rows} == {"teams", "memberships"}
    finally:
        server.terminate()
        server.wait(10)
