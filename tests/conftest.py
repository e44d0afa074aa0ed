"""Shared fixtures: a real Postgres, one fresh database per test."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from alembic_drizzlesync import localdb
from tests.support import EXAMPLE

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
def example_copy(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the example project without its generated files, migrating `db_url`."""
    root = tmp_path / "example"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("web", "__pycache__"))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.modules.pop("app.models", None)
    sys.modules.pop("app", None)


@pytest.fixture
def db_url(pg_server: str) -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3 driver) of an empty database owned by this test."""
    with localdb.temporary_database(pg_server) as url:
        yield url
