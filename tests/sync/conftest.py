"""Fixtures of the sync tests: the example project migrated to head, served over real HTTP.

Migrating takes a second, so it happens once per session into a template
database; every test gets its own copy (CREATE DATABASE … TEMPLATE).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from alembic_drizzlesync import localdb
from alembic_drizzlesync.config import load_config
from alembic_drizzlesync.sql import LIBRARY_VERSION, install_script
from alembic_drizzlesync.sync import Limits, SyncProcessor
from alembic_drizzlesync.sync.asgi import bearer_user_for_development, create_app
from tests.sync import seed
from tests.sync.signing import KeyServer

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
FIXTURE_SQL = Path(__file__).resolve().parents[1] / "codegen" / "fixture.sql"


@pytest.fixture(scope="session")
def migrated_template(pg_server: str) -> Iterator[str]:
    url = localdb.create_database(pg_server, prefix="drizzlesync_synctemplate")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)  # the example's env.py reads it first
        patch.syspath_prepend(str(EXAMPLE))
        command.upgrade(Config(str(EXAMPLE / "alembic.ini")), "head")
    sys.modules.pop("app.models", None)
    sys.modules.pop("app", None)
    yield url
    localdb.drop_database(url)


def copy_of(pg_server: str, template_url: str) -> Iterator[str]:
    """A libpq URL of a fresh copy of the database at `template_url`, dropped afterwards."""
    template = localdb.sqlalchemy_url(template_url).database or ""
    url = localdb.create_database(pg_server, prefix="drizzlesync_sync")
    name = localdb.sqlalchemy_url(url).database or ""
    with psycopg.connect(localdb.libpq_url(pg_server), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    yield localdb.libpq_url(url)
    localdb.drop_database(url)


@pytest.fixture
def synced_db(pg_server: str, migrated_template: str) -> Iterator[str]:
    """A libpq URL of a fresh copy of the migrated example database."""
    yield from copy_of(pg_server, migrated_template)


@pytest.fixture(scope="session")
def fixture_template(pg_server: str) -> Iterator[str]:
    """The codegen tests' broad fixture schema (every type family, domains, partitions), every
    table with a primary key synced and unscoped, the library objects at the current version."""
    url = localdb.create_database(pg_server, prefix="drizzlesync_fixturetemplate")
    with psycopg.connect(localdb.libpq_url(url), autocommit=True) as conn:
        for statement in install_script(LIBRARY_VERSION, "drizzlesync"):
            conn.execute(statement)
        conn.execute("INSERT INTO drizzlesync.schema_version (version) VALUES (1)")
        conn.execute(FIXTURE_SQL.read_text(encoding="utf-8"))
        conn.execute(
            "SELECT drizzlesync.enable_sync(n.nspname, c.relname) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN "
            "('drizzlesync', 'pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
            "AND EXISTS (SELECT FROM pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)"
        )
    yield url
    localdb.drop_database(url)


@pytest.fixture
def engine(synced_db: str) -> Iterator[Engine]:
    engine = create_engine(localdb.sqlalchemy_url(synced_db), pool_size=8, max_overflow=8)
    yield engine
    engine.dispose()


@pytest.fixture
def processor(engine: Engine) -> SyncProcessor:
    config = load_config(EXAMPLE / "pyproject.toml")
    return SyncProcessor.from_config(engine, config, Limits(max_body_bytes=64 * 1024, max_mutations=50))


@pytest.fixture
def server_url(processor: SyncProcessor) -> Iterator[str]:
    """The sync app behind a real uvicorn on a free port."""
    app = create_app(processor, bearer_user_for_development)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def db(synced_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(synced_db, autocommit=True) as conn:
        yield conn


@pytest.fixture
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url) as client:
        yield client


@pytest.fixture
def alice_http(server_url: str, db: psycopg.Connection[Any]) -> Iterator[httpx.Client]:
    """The server's client signed in as alice, a new user of the test's `db` (a module's own,
    which creates its tables first)."""
    headers = {"authorization": f"Bearer {seed.user(db, 'alice')}"}
    with httpx.Client(base_url=server_url, headers=headers) as client:
        yield client


@pytest.fixture
def jwks() -> Iterator[KeyServer]:
    """A JWKS endpoint on 127.0.0.1 whose keys a test sets; it counts the fetches."""
    served = KeyServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            served.fetches += 1
            time.sleep(served.delay)
            body = served.body if served.body is not None else json.dumps({"keys": served.keys}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                for start in range(0, len(body), 1 if served.drip else len(body) or 1):
                    self.wfile.write(body[start : start + 1] if served.drip else body)
                    self.wfile.flush()
                    time.sleep(served.drip)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out while `delay` held the answer back, as a test wants

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
