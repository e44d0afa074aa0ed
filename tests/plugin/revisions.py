"""A revision written into a copy of the example project, as a developer would add one."""

from __future__ import annotations

from pathlib import Path

from tests.support import EXAMPLE_HEAD


def write_revision(
    project: Path,
    name: str,
    body: str,
    down: str = EXAMPLE_HEAD,
    downgrade: str = "    raise NotImplementedError",
) -> None:
    """Revision `name` after `down`, upgrading by `body` and downgrading by `downgrade` (indented
    code; by default it cannot be downgraded)."""
    (project / "migrations" / "versions" / f"{name}.py").write_text(
        f'''"""{name}"""
import sqlalchemy as sa
from alembic import op
import alembic_drizzlesync.ops  # noqa: F401

revision = "{name}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
{downgrade}
'''
    )
