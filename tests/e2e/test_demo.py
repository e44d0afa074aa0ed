"""The README's demo command keeps working: migrate, generate, push and pull over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.support import EXAMPLE

DEMO = EXAMPLE / "demo.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_migrates_generates_and_syncs(db_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--check", "--port", str(free_port())],
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "client schema version 1" in result.stdout
    assert "schema.sqlite.ts" in result.stdout
    assert "POST /sync/push -> 200 {'rejected': [], 'lastMutationId': 1}" in result.stdout
    assert "upsert todos" in result.stdout
