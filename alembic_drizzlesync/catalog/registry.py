"""The DrizzleSync registry: what the library installed in a database, read in one place.

Autogenerate reads it through SQLAlchemy, code generation through psycopg;
both hand over a `fetch` that runs one parameterless query and returns its
single value, so the SQL and its decoding exist once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..quoting import literal, quote
from .model import SyncedTable

Fetch = Callable[[str], Any]
"""Runs one query without parameters and returns the first column of its first row."""

_CONTENTS = """
SELECT json_build_object(
    'version', (SELECT version FROM {schema}.installation),
    -- Through the row's jsonb, which version 1 (without the column) reads as NULL.
    'userScopesQuery', (SELECT to_jsonb(i)->>'user_scopes_query' FROM {schema}.installation AS i),
    'schemaVersion', (SELECT coalesce(max(version), 0) FROM {schema}.schema_version),
    'tables', coalesce(
        (SELECT json_agg(json_build_array(schema_name, table_name, scope_rule)
                         ORDER BY schema_name, table_name)
         FROM {schema}.synced_table),
        '[]'))::text
"""


@dataclass(frozen=True)
class Registry:
    """The installed library version, the synced tables with their scope rules, the schema version,
    and the `user_scopes_query` that `user_scopes` was made from (None: none)."""

    library_version: int
    tables: tuple[SyncedTable, ...]
    schema_version: int
    user_scopes_query: str | None

    @property
    def scopes(self) -> dict[tuple[str, str], str | None]:
        """Each synced table's scope rule, keyed by `(schema, table)`."""
        return {(table.schema, table.name): table.scope for table in self.tables}


def read_registry(fetch: Fetch, library_schema: str) -> Registry | None:
    """The registry, or None when the library is not installed in `library_schema`."""
    if not fetch(f"SELECT to_regclass({literal(quote(library_schema) + '.installation')}) IS NOT NULL"):
        return None
    contents = json.loads(fetch(_CONTENTS.format(schema=quote(library_schema))))
    return Registry(
        library_version=int(contents["version"]),
        tables=tuple(SyncedTable(schema, name, scope) for schema, name, scope in contents["tables"]),
        schema_version=int(contents["schemaVersion"]),
        user_scopes_query=contents["userScopesQuery"],
    )
