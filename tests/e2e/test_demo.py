"""The README's demo command keeps working: migrate, generate, push and pull over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support import EXAMPLE

DEMO = EXAMPLE / "demo.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("host", ["python", "worker"])
def test_demo_migrates_generates_and_syncs(db_url: str, host: str) -> None:
    """`--check` in both modes: the push, the pull and the browser's todo go through the host chosen."""
    mode = ["--worker"] if host == "worker" else []
    result = subprocess.run(
        [sys.executable, str(DEMO), "--check", *mode, "--port", str(free_port())],
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "client schema version 1" in result.stdout
    assert "schema.sqlite.ts" in result.stdout
    assert "POST /sync/push -> 200 {'rejected': [], 'lastMutationId': 1}" in result.stdout
    assert "upsert todos" in result.stdout
    assert "Browser check: passed" in result.stdout
    answered_by = "the example Worker under workerd" if host == "worker" else "the Python host"
    assert f"answered by {answered_by}" in result.stdout


def postgres_processes_under(root: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(root) in " ".join(process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path: Postgres' socket path must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ds-", dir="/tmp"))
    yield path
    for leftover in postgres_processes_under(path):  # a failed test must not leave a server behind
        leftover.kill()
    shutil.rmtree(path, ignore_errors=True)


def processes_with_tmpdir(temp: Path) -> dict[int, str]:
    """The live processes (pid: command line) whose TMPDIR is `temp`: a demo's children inherit it."""
    found = {}
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and process.environ().get("TMPDIR") == str(temp):
                found[process.pid] = " ".join(process.cmdline())
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def test_a_demo_stopped_while_building_the_pwa_leaves_no_build_running(short_tmp: Path) -> None:
    """npm runs the build through a shell, tsc and vite; a signal to the demo ends all of them."""
    temp, runtime = short_tmp / "tmp", short_tmp / "run"
    temp.mkdir()
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"TMPDIR": str(temp), "XDG_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    arguments = [sys.executable, str(DEMO), "--port", str(free_port())]
    output = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with subprocess.Popen(arguments, env=env, **output) as demo:
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("Building the PWA"):
                break
        deadline = time.monotonic() + 30
        # Signalled once npm's grandchild runs: npm alone would take its not-yet-started children along.
        while not any("/.bin/tsc" in line for line in processes_with_tmpdir(temp).values()):
            assert time.monotonic() < deadline, "the build should have reached tsc"
            time.sleep(0.1)
        demo.send_signal(signal.SIGTERM)
        demo.communicate(timeout=60)
    assert demo.returncode == 128 + signal.SIGTERM
    time.sleep(1)  # the group was signalled; an orphaned build would run on for seconds
    left = processes_with_tmpdir(temp)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == {}
    assert not postgres_processes_under(temp)


@pytest.mark.parametrize("how", ["--check", signal.SIGTERM, signal.SIGHUP])
def test_the_embedded_postgres_goes_with_the_demo(short_tmp: Path, how: str | signal.Signals) -> None:
    """However the demo ends, its server is stopped and its temporary directory removed."""
    temp, runtime = short_tmp / "tmp", short_tmp / "run"
    temp.mkdir()
    runtime.mkdir(mode=0o700)  # the wheel keeps its lock file there
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"TMPDIR": str(temp), "XDG_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    arguments = [sys.executable, str(DEMO), "--port", str(free_port())]
    if isinstance(how, str):
        demo = subprocess.run([*arguments, how], env=env, capture_output=True, text=True, timeout=180)
        assert demo.returncode == 0, demo.stderr
    else:
        with subprocess.Popen(
            arguments, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as demo:
            assert demo.stdout is not None
            for line in demo.stdout:
                if line.startswith("Ctrl-C stops"):  # the PWA and sync are served now
                    break
            assert postgres_processes_under(temp), "the demo should run its own Postgres"
            demo.send_signal(how)
            demo.communicate(timeout=60)
        assert demo.returncode == 128 + how
    assert not postgres_processes_under(temp)
    # Ours only: the PWA build's Node leaves its compile cache there, as it would anywhere.
    assert [path.name for path in temp.iterdir() if path.name.startswith("drizzlesync")] == []
