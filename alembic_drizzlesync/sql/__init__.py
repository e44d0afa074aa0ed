"""The library's own SQL, rendered from `templates/sql/v<N>/` and cut into statements.

Only version 1 has an install script. Installing version N runs it and then
the upgrade scripts of versions 2 to N, so a fresh install and an upgraded
database run the same SQL, and no version carries a second copy of the
objects an earlier one created. Uninstalling drops the library schema, which
holds the objects of every version.
"""

from __future__ import annotations

from ..sync.contract import contract
from ..templating import render
from .statements import split_statements
from .user_scopes import user_scopes_script

LIBRARY_VERSION = 30
"""The version of the SQL objects this release installs."""

SCOPE_INDEX_PREFIX = "drizzlesync_scope_"
"""Names the index, on a scoped table, that bootstrap pages walk (`drizzlesync_scope_<registry id>`).

It lives in the user's schema, so autogenerate is told to leave it alone.
"""

CAPTURE_TRIGGER_PREFIX = "drizzlesync_capture_"
"""Begins the name of every capture trigger `enable_sync` puts on a synced table, in the user's
schema, so autogenerate's trigger comparators (alembic_utils) are told to leave them alone."""


def install_script(version: int, schema: str) -> list[str]:
    """Statements creating the library objects at `version`: version 1, then each upgrade."""
    steps = [_statements(1, "install", schema)]
    steps += [upgrade_script(to_version, schema) for to_version in range(2, version + 1)]
    return [statement for step in steps for statement in step]


def uninstall_script(schema: str) -> list[str]:
    """Statements dropping the library objects, whatever version they are at."""
    return _statements(1, "uninstall", schema)


def upgrade_script(to_version: int, schema: str) -> list[str]:
    """Statements moving the library objects from `to_version - 1` to `to_version`."""
    return _statements(to_version, "upgrade", schema)


def downgrade_script(from_version: int, schema: str) -> list[str]:
    """Statements moving the library objects from `from_version` back to `from_version - 1`."""
    return _statements(from_version, "downgrade", schema)


def _statements(version: int, kind: str, schema: str) -> list[str]:
    script = render(
        f"sql/v{version}/{kind}.sql.j2",
        schema=schema,
        scope_index_prefix=SCOPE_INDEX_PREFIX,
        sqlstates=contract()["sqlstates"],  # how version 4's push classifies failures, as the hosts do
    )
    return split_statements(script)


__all__ = [
    "LIBRARY_VERSION",
    "SCOPE_INDEX_PREFIX",
    "downgrade_script",
    "install_script",
    "split_statements",
    "uninstall_script",
    "upgrade_script",
    "user_scopes_script",
]
