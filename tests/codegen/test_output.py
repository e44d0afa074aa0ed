"""Putting generated files on disk: atomically, only when changed, like any file the user writes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from alembic_drizzlesync.codegen.output import write_files


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_027")
def test_files_get_the_mode_the_umask_gives(tmp_path: Path) -> None:
    write_files(tmp_path, {"schema.postgres.ts": "a\n", "client-migrations/0001.sql": "b\n"})
    for relative in ("schema.postgres.ts", "client-migrations/0001.sql"):
        assert stat.S_IMODE((tmp_path / relative).stat().st_mode) == 0o640
