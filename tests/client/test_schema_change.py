"""A device with pending writes across a server schema change: its old build is refused with
409 and pauses, keeping them; the new build migrates the local database on open (the outbox kept,
the value of a dropped column pruned from a write and reported, a patch of that column alone kept
as it was, the values of a renamed column moved to its new name), pushes the writes in the new
shape, and converges: the server rejects the stale patch by name and applies the writes on either
side of it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config

from alembic_drizzlesync.localdb import libpq_url
from tests.support import EXAMPLE_HEAD
from tests.sync import seed

from .conftest import ROOT, run_integration, serving

OUTPUT = Path("web/src/db/generated")

SECOND_REVISION = '''
"""todos get a priority, lose their project, and their title is called a label"""
import sqlalchemy as sa
from alembic import op
import alembic_drizzlesync.ops  # noqa: F401

revision = "priority"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("todos", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.drop_column("todos", "project_id")
    op.alter_column("todos", "title", new_column_name="label")
    op.bump_sync_schema_version(2)


def downgrade() -> None:
    op.revert_sync_schema_version(2)
    op.alter_column("todos", "label", new_column_name="title")
    op.add_column("todos", sa.Column("project_id", sa.Uuid()))
    op.drop_column("todos", "priority")
'''


def build(project: Path, into: Path) -> Path:
    """The generated files as one app build ships them, resolving its imports from the workspace."""
    shutil.copytree(project / OUTPUT, into)
    (into / "node_modules").symlink_to(ROOT / "node_modules")
    return into


def first_build_with_a_member(
    example_copy: Path, db_url: str, into: Path
) -> tuple[Config, Path, str, str, str]:
    """The copy migrated to head and built (into `into`), with a member of a team: its Alembic
    config, the build, the database's libpq URL, the user and the team."""
    alembic = Config(str(example_copy / "alembic.ini"))
    command.upgrade(alembic, "head")
    first_build = build(example_copy, into)
    url = libpq_url(db_url)
    with psycopg.connect(url, autocommit=True) as db:
        user, team = seed.member(db, "ada", "crew")
    return alembic, first_build, url, user, team


def test_a_pending_write_survives_a_schema_change(
    example_copy: Path, db_url: str, tmp_path: Path, node22: str
) -> None:
    alembic, first_build, url, user, team = first_build_with_a_member(
        example_copy, db_url, tmp_path / "build1"
    )
    env = {"USER_ID": user, "TEAM_ID": team, "DB_FILE": str(tmp_path / "device.sqlite3")}
    pyproject = example_copy / "pyproject.toml"

    def phase(base: str, name: str, generated: Path) -> dict[str, Any]:
        phase_env = {**env, "PHASE": name, "GENERATED": str(generated)}
        return run_integration(node22, "schema-change", base, phase_env)

    with serving(url, pyproject) as base:
        written = phase(base, "write", first_build)
    assert written["pending"] == 4  # the todo, a second project, the todo's project, its title
    assert written["migration"]["to"] == 1

    (example_copy / "migrations" / "versions" / "todo_priority.py").write_text(
        SECOND_REVISION.format(head=EXAMPLE_HEAD)
    )
    command.upgrade(alembic, "head")
    second_build = build(example_copy, tmp_path / "build2")

    with serving(url, pyproject) as base:  # a deploy restarts the host
        old = phase(base, "old-build", first_build)
        new = phase(base, "new-build", second_build)

    assert old["error"] == {"status": 409, "code": "schema_version_unsupported"}
    assert (old["state"], old["pending"]) == ("update-required", 4)

    assert new["migration"] == {
        "from": 1,
        "to": 2,
        "pruned": [
            {"id": 2, "table": "todos", "columns": ["project_id"], "stale": False},
            {"id": 4, "table": "todos", "columns": ["project_id"], "stale": True},
        ],
        "repaired": [],
    }
    # The stale patch's id reached the server, which rejected it and went on: had the migration
    # deleted it, every push would start past the server's last id (409 mutation_gap) for good.
    assert new["rejected"] == [{"id": 4, "table": "todos", "op": "patch", "code": "unknown_column"}]
    assert (new["state"], new["pending"]) == ("idle", 0)
    [todo] = new["todos"]
    assert {k: todo[k] for k in ("id", "label", "priority", "done")} == {
        "id": written["todo"],
        "label": "renamed offline",
        "priority": 0,
        "done": 0,
    }
    assert "project_id" not in todo and "title" not in todo
    with psycopg.connect(url) as db:
        row = db.execute("SELECT label, priority FROM todos WHERE id = %s", (written["todo"],)).fetchone()
        projects = db.execute("SELECT count(*) FROM projects WHERE team_id = %s", (team,)).fetchone()
    assert row == ("renamed offline", 0)
    assert projects == (2,)
