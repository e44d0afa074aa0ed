"""Finding a Postgres: the explicit URL first, and an embedded server when nothing else answers."""

from __future__ import annotations

import psycopg
import pytest

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import InstallOp
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops


def test_an_explicit_url_wins_and_is_normalised_to_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIZZLESYNC_TEST_DATABASE_URL", "postgres://app:secret@db.example:6543/main")
    assert localdb.find_server() == "postgresql+psycopg://app:secret@db.example:6543/main"


def test_embedded_postgres_serves_a_full_install() -> None:
    server = localdb.start_embedded()
    with localdb.temporary_database(server) as url:
        apply_ops(url, InstallOp())
        with psycopg.connect(localdb.libpq_url(url)) as conn:
            row = conn.execute("SELECT version FROM drizzlesync.installation").fetchone()
    assert row == (LIBRARY_VERSION,)
