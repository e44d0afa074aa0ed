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
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from sqlalchemy.engine import make_url

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
    assert "  pool: at most 10 Postgres connections (--pool-size)" in printed
    assert "WARNING: serve may open" not in printed


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
        ready = http.get("/health")  # the readiness check, in whichever worker answers
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    printed = output.read_text()
    assert "workers: 2, each with a pool of 10 connections" in printed
    assert f"readiness: GET {url}/health" in printed
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


def test_serve_warns_when_its_pool_may_need_more_connections_than_the_server_has_room_for(
    synced_db: str, tmp_path: Path
) -> None:
    args = ["--database-url", synced_db, "--pyproject", str(EXAMPLE_PYPROJECT), "--dev"]
    with serving([*args, "--pool-size", "5000"], tmp_path) as (url, output):
        assert httpx.post(f"{url}/pull").status_code == 401  # it serves all the same
    printed = output.read_text()
    assert "WARNING: serve may open 5000 Postgres connections (a pool of 5000), but the server" in printed
    assert "lower --pool-size or --workers, or raise max_connections" in printed


def test_the_room_for_connections_is_what_other_sessions_and_connection_limits_leave(
    synced_db: str,
) -> None:
    with psycopg.connect(synced_db, autocommit=True) as db:
        room = sync_cli._connection_room(db)
        max_connections = db.execute("SELECT current_setting('max_connections')::int").fetchone()
        assert max_connections is not None and 0 < room <= max_connections[0]
        with psycopg.connect(synced_db):
            assert sync_cli._connection_room(db) == room - 1
        # A role's own limit counts its own sessions; a database's, the sessions on it, which a role
        # sees as client backends when it may read all statistics.
        role = f"{db.info.dbname}_limited"
        db.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 3")
        try:
            with psycopg.connect(synced_db, user=role, autocommit=True) as limited:
                assert sync_cli._connection_room(limited) == 3
                with psycopg.connect(synced_db, user=role):
                    assert sync_cli._connection_room(limited) == 2
                db.execute(f"GRANT pg_read_all_stats TO {role}")
                db.execute(f"ALTER DATABASE {db.info.dbname} CONNECTION LIMIT 1")
                others = client_sessions_on_the_database(db) - 1  # all but the limited one itself
                assert sync_cli._connection_room(limited) == 1 - others
        finally:
            db.execute(f"ALTER DATABASE {db.info.dbname} CONNECTION LIMIT -1")
            db.execute(f"DROP ROLE {role}")


def client_sessions_on_the_database(db: psycopg.Connection[Any]) -> int:
    """Client sessions on `db`'s database, `db` among them (it may read all statistics)."""
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend'"
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("workers", "pool_size", "room", "warned"),
    [(1, 10, 10, None), (1, 11, 10, "11 Postgres connections (a pool of 11), but the server has room for 10"),
     (4, 10, 39, "40 Postgres connections (4 pools of 10)"), (4, 10, -2, "room for 0 more")],
)  # fmt: skip
def test_the_pool_warning_counts_every_workers_pool(
    workers: int, pool_size: int, room: int, warned: str | None
) -> None:
    warning = sync_cli._pool_warning(workers, pool_size, room)
    assert warning is None if warned is None else warned in str(warning)


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


def test_serve_says_in_one_line_which_privilege_its_role_lacks(
    synced_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A role with just what the protocol needs (USAGE, EXECUTE on push and pull) cannot read the
    registry `serve` checks at start: that was a traceback."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        role = f"{db.info.dbname}_host"
        db.execute(f"CREATE ROLE {role} LOGIN")
        db.execute(f"GRANT USAGE ON SCHEMA drizzlesync TO {role}")
        try:
            url = make_url(synced_db).set(username=role).render_as_string(hide_password=False)
            args = ["serve", "--pyproject", str(EXAMPLE_PYPROJECT), "--dev", "--database-url", url]
            assert main(args) == 1
            err = capsys.readouterr().err
            assert err.startswith("drizzlesync serve: the database role lacks a privilege: permission denied")
            assert err.count("\n") == 1
        finally:
            db.execute(f"DROP OWNED BY {role}")
            db.execute(f"DROP ROLE {role}")


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


@pytest.mark.parametrize(
    ("args", "flag", "value"),
    [
        (["compact"], "--batch-size", "0"),
        (["compact"], "--batch-size", "-1"),
        (["serve", "--dev"], "--max-body-bytes", "0"),
    ],
)
def test_a_size_below_one_is_refused_before_anything_runs(
    args: list[str], flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch of 0 used to fail inside the database with a traceback, a body limit of 0 to make
    every request 413."""
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--database-url", "postgresql://127.0.0.1:9/x", flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}: expected a positive integer, got {value}" in capsys.readouterr().err


def test_serve_warns_of_a_scope_rule_in_another_collation_than_the_database_s(
    synced_db: str, tmp_path: Path
) -> None:
    """A bootstrap orders a page by the rule in its own collation and resumes in the database's:
    paging could skip whole scopes. Written with the default collation, the rule is not warned of."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        for table, rule in (("things", "'g:' || grp"), ("others", "'g:' || (grp COLLATE \"default\")")):
            db.execute(f'CREATE TABLE {table} (id integer PRIMARY KEY, grp text COLLATE "C" NOT NULL)')
            db.execute("SELECT drizzlesync.enable_sync('public', %s, %s)", (table, rule))
    args = ["--database-url", synced_db, "--pyproject", str(EXAMPLE_PYPROJECT), "--dev"]
    with serving(args, tmp_path) as (_, output):
        printed = output.read_text()
    assert (
        "WARNING: public.things's scope rule 'g:' || grp has the collation \"C\", not the database's"
        in printed
    )
    assert "public.others's scope rule" not in printed


def test_serve_starts_and_says_so_when_a_scope_rule_no_longer_reads(synced_db: str, tmp_path: Path) -> None:
    """A scope column renamed by hand: the collation check must not stop the host, whose other
    tables still serve; it names the cause instead."""
    with psycopg.connect(synced_db, autocommit=True) as db:
        db.execute("ALTER TABLE todos RENAME COLUMN team_id TO org_id")
    args = ["--database-url", synced_db, "--pyproject", str(EXAMPLE_PYPROJECT), "--dev"]
    with serving(args, tmp_path) as (_, output):
        printed = output.read_text()
    assert 'WARNING: cannot check the scope rules: column "team_id" does not exist' in printed


def test_serve_refuses_an_origin_no_browser_sends(capsys: pytest.CaptureFixture[str]) -> None:
    """Checked before the database is reached (nothing listens on port 9), in the parent process."""
    args = ["serve", "--dev", "--database-url", "postgresql://127.0.0.1:9/x", "--pyproject"]
    status = main([*args, str(EXAMPLE_PYPROJECT), "--cors-origin", "https://app.example.com/"])
    assert status == 2
    assert "cors origin 'https://app.example.com/' never equals a browser's Origin header" in (
        capsys.readouterr().err
    )
