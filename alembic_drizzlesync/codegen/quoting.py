"""SQL identifiers and string literals, spliced into generated SQL (SQLite and Postgres quote alike)."""

from __future__ import annotations


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
