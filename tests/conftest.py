"""Shared fixtures: a real Postgres, one fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alembic_drizzlesync import localdb


@pytest.fixture(scope="session")
def pg_server() -> str:
    return localdb.find_server()


@pytest.fixture
def db_url(pg_server: str) -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3 driver) of an empty database owned by this test."""
    with localdb.temporary_database(pg_server) as url:
        yield url
