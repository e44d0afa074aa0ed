"""`drizzlesync compact` and `drizzlesync serve` from the command line."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from alembic_drizzlesync.cli import main
from alembic_drizzlesync.config import AuthConfig, parse_config
from alembic_drizzlesync.sync import cli as sync_cli
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """`drizzlesync serve ARGS` in its own process: its base URL, and a file with what it printed."""
    port = free_port()
    output = tmp_path / "serve.log"
    with output.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "alembic_drizzlesync.cli", "serve", *args, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.post(f"{url}/pull")
                    break
                except httpx.ConnectError:
                    assert server.poll() is None, output.read_text()
                    time.sleep(0.1)
            yield url, output
        finally:
            server.terminate()
            server.wait(10)


def test_serve_dev_serves_the_configured_project_and_says_what(synced_db: str, tmp_path: Path) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, _ = seed.member(db, "alice", "A")
        db.execute("SELECT drizzlesync.enable_sync('public', 'users')")
    args = ["--database-url", synced_db, "--pyproject", str(EXAMPLE_PYPROJECT), "--dev"]
    with serving(args, tmp_path) as (url, output), httpx.Client(base_url=url) as http:
        client = SyncClient(http, user, "alice-1")
        client.pull_all()
        assert {key[0] for key in client.rows} == {"teams", "memberships", "users"}
    printed = output.read_text()
    assert "WARNING: --dev trusts 'Authorization: Bearer <user id>' as is" in printed
    assert "auth: DEVELOPMENT" in printed
    assert "    public.todos: scope 'team:' || team_id" in printed
    assert "WARNING: public.users has no scope rule" in printed
    assert "WARNING: public.todos" not in printed


def test_serve_with_two_workers_serves_from_both(synced_db: str, tmp_path: Path) -> None:
    """`--workers 2`: each worker process rebuilds the app from the arguments its parent checked."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, _ = seed.member(db, "alice", "A")
    args = ["--database-url", synced_db, "--pyproject", str(EXAMPLE_PYPROJECT), "--dev", "--workers", "2"]
    with serving(args, tmp_path) as (url, output), httpx.Client(base_url=url) as http:
        for index in range(6):  # new connections, which the kernel spreads over the workers
            http.headers["connection"] = "close"
            client = SyncClient(http, user, f"alice-{index}")
            client.pull_all()
            assert {key[0] for key in client.rows} == {"teams", "memberships"}
    printed = output.read_text()
    assert "workers: 2, each with a pool of 10 connections" in printed
    assert printed.count("Application startup complete") == 2


def test_serve_takes_jwt_auth_from_the_pyproject(synced_db: str, tmp_path: Path) -> None:
    secret = "serve-test-secret-of-32-bytes-at-least"
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        EXAMPLE_PYPROJECT.read_text() + '\n[tool.drizzlesync.auth]\nsecret_env = "TEST_JWT_SECRET"\n'
    )
    with psycopg.connect(synced_db, autocommit=True) as db:
        user, _ = seed.member(db, "alice", "A")
    token = jwt.encode({"sub": user, "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    body = {"protocol": 1, "schemaVersion": 1, "clientId": "alice-1", "cursor": None}
    args = ["--database-url", synced_db, "--pyproject", str(pyproject)]
    with serving(args, tmp_path, {"TEST_JWT_SECRET": secret}) as (url, output):
        signed = httpx.post(f"{url}/pull", json=body, headers={"authorization": f"Bearer {token}"})
        trusted = httpx.post(f"{url}/pull", json=body, headers={"authorization": f"Bearer {user}"})
    assert signed.status_code == 200
    assert trusted.status_code == 401 and trusted.json()["error"]["code"] == "token_malformed"
    assert "auth: JWT (HS256) with a shared secret" in output.read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "no authentication configured"),
        (["--dev", "--host", "0.0.0.0"], "--dev: refused on --host 0.0.0.0"),
        (
            ["--dev", "--jwks-url", "https://a/jwks"],
            "--dev: trusts 'Bearer <user id>' and takes no JWT flags",
        ),
        (["--jwt-secret-env", "UNSET_SECRET_FOR_TEST"], "UNSET_SECRET_FOR_TEST is not set"),
        (["--dev", "--workers", "0"], "--workers: expected at least 1, got 0"),
        (["--dev", "--pool-size", "0"], "--pool-size: expected at least 1, got 0"),
    ],
)
def test_serve_refuses_to_start_without_safe_auth(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "--database-url", "postgresql://127.0.0.1:9/x", "--pyproject", str(EXAMPLE_PYPROJECT)]
    assert main([*args, *flags]) == 2
    assert message in capsys.readouterr().err


def test_serve_fails_at_start_when_there_is_no_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--database-url", "postgresql://127.0.0.1:9/x", "--dev"]) == 2
    assert "no [tool.drizzlesync] found" in capsys.readouterr().err


def test_serve_fails_at_start_with_the_cause_when_the_database_is_unreachable_or_bare(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "--pyproject", str(EXAMPLE_PYPROJECT), "--dev", "--database-url"]
    with pytest.raises(SystemExit, match="DrizzleSync is not installed in this database"):
        main([*args, db_url])
    assert main([*args, "postgresql://127.0.0.1:9/x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("drizzlesync serve: cannot reach the database: ") and "port 9 failed" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["generate", "check", "compact"])
def test_every_command_says_in_one_line_that_the_database_is_unreachable(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "--database-url",
        "postgresql://127.0.0.1:9/x",
        *(["--out", str(tmp_path)] if command != "compact" else []),
    ]
    assert main([command, *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"drizzlesync {command}: cannot reach the database: ") and err.count("\n") == 1


def serve_args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sync_cli.add_commands(parser.add_subparsers())
    return parser.parse_args(["serve", *flags])


def test_serve_flags_override_the_pyproject_auth_one_setting_at_a_time() -> None:
    config = parse_config({"auth": {"secret_env": "S", "issuer": "https://a", "audience": "x"}})
    file_only = sync_cli._auth_config(serve_args(), config)
    assert file_only == config.auth
    assert sync_cli._auth_config(
        serve_args("--jwt-audience", "y", "--jwt-leeway", "5"), config
    ) == AuthConfig(secret_env="S", issuer="https://a", audience=("y",), leeway_seconds=5)
    assert sync_cli._auth_config(serve_args("--jwks-url", "https://idp/jwks"), config) == AuthConfig(
        jwks_url="https://idp/jwks", issuer="https://a", audience=("x",)
    )
    assert sync_cli._auth_config(serve_args("--jwt-secret-env", "T"), parse_config({})) == AuthConfig(
        secret_env="T"
    )
    assert sync_cli._auth_config(serve_args("--dev"), config) is None
