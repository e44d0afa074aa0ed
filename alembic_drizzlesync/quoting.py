"""SQL identifiers and string literals, spliced into the SQL we write (SQLite and Postgres quote alike).

Our migration operations and generated files are spliced text, not bound
parameters: `alembic upgrade --sql` must print a script that runs as it is.
"""

from __future__ import annotations


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | None) -> str:
    """A string literal, or NULL."""
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"
