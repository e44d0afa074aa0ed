"""A later release upgrades the installed SQL objects through a new revision."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, text

from alembic_drizzlesync import templating
from alembic_drizzlesync.config import parse_config
from alembic_drizzlesync.ops import UpgradeOp
from alembic_drizzlesync.plugin import compare
from tests.support import apply_ops, autogenerate, migrate

UPGRADE = """
ALTER TABLE {{ schema }}.installation ADD COLUMN note text;
UPDATE {{ schema }}.installation SET version = 2;
"""
DOWNGRADE = """
ALTER TABLE {{ schema }}.installation DROP COLUMN note;
UPDATE {{ schema }}.installation SET version = 1;
"""


@pytest.fixture
def release_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend the installed package is a release whose SQL objects are at version 2."""
    shutil.copytree(templating.template_root(), tmp_path, dirs_exist_ok=True)
    (tmp_path / "sql" / "v2").mkdir()
    (tmp_path / "sql" / "v2" / "upgrade.sql.j2").write_text(UPGRADE)
    (tmp_path / "sql" / "v2" / "downgrade.sql.j2").write_text(DOWNGRADE)
    monkeypatch.setattr(templating, "template_root", lambda: tmp_path)
    monkeypatch.setattr(compare, "LIBRARY_VERSION", 2)
    templating.environment.cache_clear()
    yield
    templating.environment.cache_clear()


CONFIG = parse_config({"include": ["todos"]})


def models() -> MetaData:
    metadata = MetaData()
    Table("todos", metadata, Column("id", Integer, primary_key=True))
    return metadata


def installed(url: str) -> tuple[int, bool]:
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM drizzlesync.installation")).scalar_one()
        has_note = conn.execute(
            text(
                "SELECT count(*) > 0 FROM information_schema.columns "
                "WHERE table_schema = 'drizzlesync' AND table_name = 'installation' AND column_name = 'note'"
            )
        ).scalar_one()
    engine.dispose()
    return version, has_note


def test_autogenerate_emits_the_upgrade_first_and_it_reverses(
    db_url: str, release_2: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as release_1:  # the revision that first installed DrizzleSync
        release_1.setattr(compare, "LIBRARY_VERSION", 1)
        migrate(db_url, models(), CONFIG)
    assert installed(db_url) == (1, False)

    script = autogenerate(db_url, models(), CONFIG)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert script.upgrade_ops.ops == [UpgradeOp(1, 2)]
    assert script.downgrade_ops.ops == [UpgradeOp(2, 1)]

    apply_ops(db_url, *script.upgrade_ops.ops)
    assert installed(db_url) == (2, True)
    assert autogenerate(db_url, models(), CONFIG).upgrade_ops.is_empty()  # type: ignore[union-attr]
    apply_ops(db_url, *script.downgrade_ops.ops)
    assert installed(db_url) == (1, False)


def test_upgrades_move_one_version_at_a_time() -> None:
    with pytest.raises(ValueError, match="one version at a time"):
        UpgradeOp(1, 3)
