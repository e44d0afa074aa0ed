"""Fixtures of the browser tests: Debian's Chromium, the PWA built once, and the demo's one-origin
server (PWA, seeded users, /sync) on a database of each test's own, which a test may stop and
restart. Missing tools fail the tests loudly: they must run in CI, never skip."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from tests.support import EXAMPLE
from tests.sync.conftest import migrated_template, synced_db

__all__ = ["migrated_template", "synced_db"]

ROOT = EXAMPLE.parent
BROWSER = ROOT / "tests" / "e2e" / "browser"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"no Chromium at {path}: .ci/run installs Debian's chromium (apt-get install -y chromium)"
        )
    return path


@pytest.fixture(scope="session")
def node() -> str:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "playwright-core").exists():
        pytest.fail(
            "Node 22 and the npm workspace (playwright-core) are needed: scripts/bootstrap.sh installs them"
        )
    return node


@pytest.fixture(scope="session")
def pwa_build(node: str) -> None:
    """`npm run build:web` once per session: the runtime package, then the PWA into web/dist."""
    npm = shutil.which("npm")
    assert npm is not None
    result = subprocess.run([npm, "run", "--silent", "build:web"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"building the PWA failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def demo() -> ModuleType:
    """example_project/demo.py as a module: the test serves the same app the demo serves."""
    spec = importlib.util.spec_from_file_location("drizzlesync_example_demo", EXAMPLE / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class DemoHost:
    """The demo's origin on a port of its own; `stop` and `start` take the whole host down and up."""

    demo: ModuleType
    url: str
    engine: Engine
    port: int = field(default_factory=free_port)
    users: list[dict[str, Any]] = field(default_factory=list)
    server: uvicorn.Server | None = None
    web_dist: Path = EXAMPLE / "web" / "dist"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def postgres_url(self) -> str:
        """The database in libpq's form, for node-postgres."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def start(self) -> None:
        app = self.demo.demo_app(self.url, self.users, web_dist=self.web_dist)
        self.server = self.demo.serve_in_background(app, self.port)

    def stop(self) -> None:
        assert self.server is not None
        self.server.should_exit = True
        self.server = None
        # The server runs on a thread of its own: stopped means its port refuses connections.
        deadline = time.monotonic() + 10
        while listening(self.port):
            assert time.monotonic() < deadline, "the demo host did not stop"
            time.sleep(0.05)


@pytest.fixture
def demo_host(
    synced_db: str, demo: ModuleType, pwa_build: None, chromium: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DemoHost]:
    monkeypatch.syspath_prepend(str(EXAMPLE))  # the demo app mounts app.sync_server's sync_app
    engine = create_engine(synced_db)
    host = DemoHost(demo, synced_db, engine)
    host.users = demo.seed(engine)
    host.start()
    try:
        yield host
    finally:
        if host.server is not None:
            host.stop()
        engine.dispose()
        # app.sync_server builds its module-level app from DATABASE_URL when imported: a later test
        # that sets DATABASE_URL must import it afresh.
        for name in ("app.sync_server", "app"):
            sys.modules.pop(name, None)
