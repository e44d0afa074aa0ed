"""Fixtures of the client tests: the example database (shared with the sync tests), a real
`drizzlesync serve` on it, and Node 22 to run the runtime's TypeScript as it is."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.sync.conftest import migrated_template, synced_db

__all__ = ["migrated_template", "synced_db"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_project"

TODO_AUDIT = """
CREATE TABLE public.todo_audit (op text, id uuid, title text);
CREATE FUNCTION public.todo_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.todo_audit VALUES (TG_OP, NEW.id, NEW.title);
  RETURN NEW;
END $$;
CREATE TRIGGER todo_audit AFTER INSERT OR UPDATE ON todos FOR EACH ROW EXECUTE FUNCTION public.todo_audit();
"""
"""Every insert and update of todos in `public.todo_audit`: how the device tests count the times
each write reached Postgres."""


def team_todos_and_repeats(url: str, team: str) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    """The team's todos on the server (id to title), and each write `TODO_AUDIT` saw more than once."""
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT id::text, title FROM todos WHERE team_id = %s", (team,)).fetchall()
        twice = db.execute(
            "SELECT op, title, count(*) FROM public.todo_audit GROUP BY 1, 2 HAVING count(*) > 1"
        ).fetchall()
    return {row[0]: row[1] for row in rows}, [tuple(row) for row in twice]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def node22() -> str:
    """Node 22 or newer (node:sqlite, type stripping), as scripts/bootstrap.sh puts it on PATH."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is needed to run the client runtime")
    version = [node, "-p", "process.versions.node.split('.')[0]"]
    major = subprocess.run(version, capture_output=True, text=True, check=False)
    if int(major.stdout.strip() or 0) < 22:
        pytest.skip("the client runtime's tests need Node 22 (scripts/test installs it)")
    if not (ROOT / "node_modules" / "drizzle-orm").exists():
        pytest.skip("the npm workspace is not installed (scripts/test runs npm ci)")
    return node


@contextmanager
def serving(database_url: str, pyproject: Path = EXAMPLE / "pyproject.toml", *options: str) -> Iterator[str]:
    """`drizzlesync serve` on `database_url` for the project of `pyproject`, with further `options`;
    yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "alembic_drizzlesync.cli", "serve",
        "--database-url", database_url, "--pyproject", str(pyproject),
        "--port", str(port), "--dev", *options,
    ]  # fmt: skip
    # The server's log goes to a file: an undrained pipe would block it once the access log fills it.
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise AssertionError(f"drizzlesync serve exited:\n{log.read()}")
            try:
                httpx.post(f"{base}/pull", json={}, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "drizzlesync serve did not start"
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture
def sync_server(synced_db: str) -> Iterator[str]:
    """`drizzlesync serve` on a fresh copy of the migrated example database."""
    with serving(synced_db) as base:
        yield base


def run_integration(node: str, script: str, base: str, env: dict[str, str]) -> dict[str, Any]:
    """Run runtime/test/integration/<script>.ts against the host at `base`; returns its JSON report."""
    run = subprocess.run(
        [node, "--disable-warning=ExperimentalWarning", f"test/integration/{script}.ts"],
        cwd=ROOT / "runtime",
        env={**os.environ, "SYNC_URL": base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report
