"""Shared fixtures: a real Postgres, one fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from alembic_drizzlesync import localdb

# Property tests run a fixed, seeded set of examples: CI is repeatable, and a
# failure found once is found again. Their fixtures are real databases and
# servers, hence no deadline and function-scoped fixtures shared by examples.
settings.register_profile(
    "drizzlesync",
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
settings.load_profile("drizzlesync")


@pytest.fixture(scope="session")
def pg_server() -> str:
    return localdb.find_server()


@pytest.fixture
def db_url(pg_server: str) -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3 driver) of an empty database owned by this test."""
    with localdb.temporary_database(pg_server) as url:
        yield url
