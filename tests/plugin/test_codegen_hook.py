"""Codegen runs after `alembic upgrade`/`downgrade` commits: once per command, never with --sql."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from tests.support import EXAMPLE_CHAIN, EXAMPLE_HEAD, EXAMPLE_OUTPUT

NOTES_REVISION = '''
"""todos get notes"""
import sqlalchemy as sa
from alembic import op
import alembic_drizzlesync.ops  # noqa: F401

revision = "notes"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("todos", sa.Column("notes", sa.Text()))
    op.bump_sync_schema_version(2)


def downgrade() -> None:
    op.revert_sync_schema_version(2)
    op.drop_column("todos", "notes")
'''


@pytest.fixture
def project(example_copy: Path) -> Path:
    """The example project with one more revision, which adds a synced column."""
    revision = NOTES_REVISION.format(head=EXAMPLE_HEAD)
    (example_copy / "migrations" / "versions" / "notes.py").write_text(revision)
    return example_copy


def output(project: Path) -> Path:
    return project / EXAMPLE_OUTPUT


def generations(caplog: pytest.LogCaptureFixture) -> int:
    return sum("generated files changed" in r.getMessage() for r in caplog.records)


def test_upgrade_generates_once_after_all_revisions(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="alembic_drizzlesync")
    command.upgrade(Config(str(project / "alembic.ini")), "head")
    assert generations(caplog) == 1
    meta = (output(project) / "sync-meta.ts").read_text()
    assert "export const schemaVersion = 2;" in meta
    assert '{ name: "notes", key: "notes"' in meta
    assert "export const users = pgTable(" in (output(project) / "schema.postgres.ts").read_text()
    sqlite = (output(project) / "schema.sqlite.ts").read_text()
    assert "users = sqliteTable" not in sqlite and "alembic_version" not in sqlite
    assert sorted(p.name for p in (output(project) / "client-migrations").glob("*.sql")) == ["0002.sql"]


def test_downgrade_regenerates_and_sql_mode_writes_nothing(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alembic_drizzlesync")
    config = Config(str(project / "alembic.ini"))
    command.upgrade(config, EXAMPLE_HEAD)
    command.upgrade(config, "head")
    assert "0002.sql" in {p.name for p in (output(project) / "client-migrations").glob("*.sql")}
    command.downgrade(config, "-1")
    assert generations(caplog) == 3
    assert "schemaVersion = 1;" in (output(project) / "sync-meta.ts").read_text()
    assert not (output(project) / "client-migrations" / "0002.sql").exists()
    before = {p: p.read_bytes() for p in output(project).rglob("*") if p.is_file()}
    command.upgrade(config, f"{EXAMPLE_HEAD}:head", sql=True)
    assert generations(caplog) == 3
    assert {p: p.read_bytes() for p in output(project).rglob("*") if p.is_file()} == before


def test_a_failing_migration_writes_nothing_and_user_hooks_still_run(project: Path) -> None:
    (project / "migrations" / "versions" / "notes.py").write_text(
        NOTES_REVISION.format(head=EXAMPLE_HEAD).replace(
            "op.bump_sync_schema_version(2)", 'op.execute("SELECT 1/0")'
        )
    )
    env = project / "migrations" / "env.py"
    env.write_text(
        env.read_text()
        .replace("import os\n", "import os\nfrom pathlib import Path\n")
        .replace(
            "context.configure(**with_drizzlesync(connection=connection, target_metadata=Base.metadata))",
            "context.configure(**with_drizzlesync(connection=connection, target_metadata=Base.metadata,"
            " on_version_apply=lambda step, **kw: Path('applied.txt').open('a').write(step.up_revision_id)))",
        )
    )
    config = Config(str(project / "alembic.ini"))
    with pytest.raises(Exception, match="division by zero"):
        command.upgrade(config, "head")
    assert not output(project).exists()
    assert (project / "applied.txt").read_text() == "".join(EXAMPLE_CHAIN)
    command.upgrade(config, EXAMPLE_HEAD)
    assert (project / "applied.txt").read_text() == "".join(EXAMPLE_CHAIN) * 2
    assert (output(project) / "sync-meta.ts").exists()


def test_a_transaction_per_migration_generates_after_each_commit(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = project / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace(
            "with_drizzlesync(connection=connection, target_metadata=Base.metadata)",
            "with_drizzlesync(connection=connection, target_metadata=Base.metadata,"
            " transaction_per_migration=True)",
        )
    )
    caplog.set_level(logging.INFO, logger="alembic_drizzlesync")
    command.upgrade(Config(str(project / "alembic.ini")), "head")
    assert generations(caplog) == len(EXAMPLE_CHAIN) + 1  # one per revision, the notes one too
    assert "schemaVersion = 2;" in (output(project) / "sync-meta.ts").read_text()
