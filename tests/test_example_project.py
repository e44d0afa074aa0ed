"""The example project migrates up and down with DrizzleSync's operations in it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

EXAMPLE = Path(__file__).resolve().parents[1] / "example_project"


@pytest.fixture
def example_config(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(EXAMPLE)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield Config(str(EXAMPLE / "alembic.ini"))
    sys.modules.pop("app.models", None)
    sys.modules.pop("app", None)


def test_upgrade_installs_capture_for_the_configured_tables(example_config: Config) -> None:
    command.upgrade(example_config, "head")
    engine = create_engine(os.environ["DATABASE_URL"])
    with engine.connect() as conn:
        synced = conn.execute(
            text("SELECT table_name, scope_rule FROM drizzlesync.synced_table ORDER BY table_name")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in synced] == [
        ("memberships", "'team:' || team_id"),
        ("projects", "'team:' || team_id"),
        ("teams", "'team:' || id"),
        ("todos", "'team:' || team_id"),
    ]
