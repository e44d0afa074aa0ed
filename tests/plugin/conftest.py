"""Fixtures of the Alembic-facing tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from alembic.config import Config

from tests.support import EXAMPLE


@pytest.fixture
def example_config(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    """The example project's Alembic config, migrating `db_url`."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(EXAMPLE)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield Config(str(EXAMPLE / "alembic.ini"))
    for module in ("app.models", "app"):
        sys.modules.pop(module, None)
