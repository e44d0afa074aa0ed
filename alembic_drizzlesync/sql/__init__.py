"""The library's own SQL, rendered from `templates/sql/v<N>/` and cut into statements."""

from __future__ import annotations

from ..templating import render
from .statements import split_statements

LIBRARY_VERSION = 1
"""The version of the SQL objects this release installs."""


def library_script(kind: str, version: int, schema: str) -> list[str]:
    """Statements of `install`, `uninstall`, `upgrade` or `downgrade` for one version."""
    return split_statements(render(f"sql/v{version}/{kind}.sql.j2", schema=schema))


__all__ = ["LIBRARY_VERSION", "library_script", "split_statements"]
