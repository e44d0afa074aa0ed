"""The DrizzleSync registry: what the library installed in a database, read in one place.

Autogenerate reads it through SQLAlchemy, code generation through psycopg;
both hand over a `fetch` that runs one parameterless query and returns its
single value, so the SQL and its decoding exist once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.engine import Connection

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


def psycopg_fetch(conn: psycopg.Connection[Any]) -> Fetch:
    """A `Fetch` over a psycopg connection."""

    def fetch(query: str) -> Any:
        row = conn.execute(query).fetchone()
        return row[0] if row else None

    return fetch


def sqlalchemy_fetch(connection: Connection) -> Fetch:
    """A `Fetch` over a SQLAlchemy connection (Alembic's). Its driver reads `%` as a placeholder
    there, and a scope rule's text may go into the SQL (`'s:' || (id % 4)`): doubled, each is a
    `%` again."""

    def fetch(query: str) -> Any:
        return connection.exec_driver_sql(query.replace("%", "%%")).scalar()

    return fetch


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


# Each synced table whose relation is gone, or whose primary key is no longer the one its capture
# and the protocol key its rows by: [schema, table, recorded key, the table's key or null, exists].
_DRIFT = """
SELECT coalesce(json_agg(json_build_array(t.schema_name, t.table_name, t.pk_columns, k.columns,
                                          r.oid IS NOT NULL)
                         ORDER BY t.schema_name, t.table_name), '[]')::text
FROM {schema}.synced_table AS t
CROSS JOIN LATERAL (
    -- quote_ident rather than format(): a driver that takes percent signs for placeholders reads this.
    SELECT to_regclass(quote_ident(t.schema_name) || '.' || quote_ident(t.table_name)) AS oid
) AS r
LEFT JOIN LATERAL (
    SELECT array_agg(a.attname ORDER BY o.ord) AS columns
    FROM pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS o(attnum, ord)
    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = o.attnum
    WHERE i.indrelid = r.oid AND i.indisprimary
) AS k ON true
WHERE r.oid IS NULL
   OR k.columns IS NULL
   OR NOT (k.columns @> t.pk_columns AND k.columns <@ t.pk_columns)
"""


def registry_drift(fetch: Fetch, library_schema: str) -> list[str]:
    """What a migration changed under a synced table behind the registry's back, one line each.

    The registry names a table and its key columns; renaming or dropping the
    table, or changing its primary key, without `disable_sync` first left
    every push and pull failing (the pull functions read every synced
    table) or the table refusing every client write (`invalid_key`).
    """
    if not fetch(f"SELECT to_regclass({literal(quote(library_schema) + '.synced_table')}) IS NOT NULL"):
        return []
    problems = []
    drifted = json.loads(fetch(_DRIFT.format(schema=quote(library_schema))))
    for schema, table, recorded, actual, exists in drifted:
        if not exists:
            problems.append(f"{schema}.{table} is synced but no longer exists (renamed or dropped)")
        else:
            key = "no primary key" if actual is None else f"the primary key ({', '.join(actual)})"
            problems.append(f"{schema}.{table} has {key}, but is synced keyed by ({', '.join(recorded)})")
    return problems


_UNCAPTURED = """
SELECT coalesce(json_agg(json_build_array(t.schema_name, t.table_name, m.missing)
                         ORDER BY t.schema_name, t.table_name), '[]')::text
FROM {schema}.synced_table AS t
CROSS JOIN LATERAL (
    SELECT to_regclass(quote_ident(t.schema_name) || '.' || quote_ident(t.table_name)) AS oid
) AS r
CROSS JOIN LATERAL (
    SELECT array_agg(w.name ORDER BY w.name) AS missing
    FROM unnest(ARRAY['drizzlesync_capture_insert', 'drizzlesync_capture_update',
                      'drizzlesync_capture_delete', 'drizzlesync_capture_truncate']) AS w(name)
    WHERE NOT EXISTS (
        SELECT FROM pg_trigger AS g
        WHERE g.tgrelid = r.oid AND g.tgenabled <> 'D'
          -- Library version 6 split the update trigger in two (keys, and moves); the first is always there.
          AND g.tgname IN (w.name, CASE w.name WHEN 'drizzlesync_capture_update'
                                               THEN 'drizzlesync_capture_update_keys' END)
    )
) AS m
WHERE r.oid IS NOT NULL AND m.missing IS NOT NULL
"""


def uncaptured_tables(fetch: Fetch, library_schema: str) -> list[str]:
    """The synced tables that lack a capture trigger, or have one disabled, one line each: their
    writes reach no device, and nothing fails to say so."""
    if not fetch(f"SELECT to_regclass({literal(quote(library_schema) + '.synced_table')}) IS NOT NULL"):
        return []
    rows = json.loads(fetch(_UNCAPTURED.format(schema=quote(library_schema))))
    return [f"{schema}.{table} without {', '.join(missing)}" for schema, table, missing in rows]


_COLUMNS = """
SELECT coalesce(json_agg(json_build_array(a.attrelid, a.attnum, t.schema_name, t.table_name, a.attname)),
                '[]')::text
FROM {schema}.synced_table AS t
JOIN pg_attribute AS a
  ON a.attrelid = to_regclass(quote_ident(t.schema_name) || '.' || quote_ident(t.table_name))
 AND a.attnum > 0 AND NOT a.attisdropped
"""

ColumnNumber = tuple[int, int]
"""A column as Postgres numbers it: its table's oid and its `attnum`, both kept through renames."""


def synced_columns(fetch: Fetch, library_schema: str) -> dict[ColumnNumber, tuple[str, str, str]]:
    """Every column of the synced tables that exist: its number, to its schema, table and name."""
    if not fetch(f"SELECT to_regclass({literal(quote(library_schema) + '.synced_table')}) IS NOT NULL"):
        return {}
    rows = json.loads(fetch(_COLUMNS.format(schema=quote(library_schema))))
    return {(oid, number): (schema, table, name) for oid, number, schema, table, name in rows}


def probe_scope_rules(fetch: Fetch, tables: Iterable[SyncedTable]) -> list[str | None]:
    """The collation of each table's scope rule (None without one), in one query over empty scans
    (`WHERE false`: nothing is evaluated, and no partition is locked, which `LIMIT 0` would plan
    and lock); raises the database's error if a rule no longer reads (a column it names renamed
    or dropped, a function it calls gone), which would fail every write of the table in its
    capture and every request of its users."""
    probes = [
        "NULL"
        if table.scope is None
        else f"(SELECT pg_catalog.pg_collation_for(min(k)) FROM (SELECT ({table.scope})::text AS k "
        f"FROM {quote(table.schema)}.{quote(table.name)} WHERE false) AS s)"
        for table in tables
    ]
    if not probes:
        return []
    collations: list[str | None] = json.loads(
        fetch(f"SELECT pg_catalog.array_to_json(ARRAY[{', '.join(probes)}]::text[])::text")
    )
    return collations


_OWN_INDEXED = """
SELECT coalesce(json_agg(json_build_array(t.schema_name, t.table_name)), '[]')::text
FROM {schema}.synced_table AS t
WHERE t.scope_rule IS NOT NULL AND ({schema}.scope_column(t)).index_name IS NOT NULL
"""

_LIKE_THE_DATABASE = """
SELECT c.collprovider = 'c' AND c.collcollate = d.datcollate
FROM pg_catalog.pg_collation AS c, pg_catalog.pg_database AS d
WHERE c.oid = pg_catalog.to_regcollation({name}) AND d.datname = pg_catalog.current_database()
"""


def collation_warnings(
    fetch: Fetch, library_schema: str, tables: Sequence[SyncedTable], collations: Sequence[str | None]
) -> list[str]:
    """A warning for each scope rule whose collation sorts otherwise than the database's, where
    bootstrap pages walk the library's scope index: a page is ordered by the rule in its own
    collation and the next resumes after the last key in the database's, so paging can skip whole
    scopes. A table whose own index serves its rule is paged key by key, and is not at risk."""
    candidates = [
        (table, collation)
        for table, collation in zip(tables, collations, strict=True)
        if collation is not None
        and collation != '"default"'
        and not fetch(_LIKE_THE_DATABASE.format(name=literal(collation)))
    ]
    if not candidates:
        return []
    own_index = f"{quote(library_schema)}.scope_column({quote(library_schema)}.synced_table)"
    served: set[tuple[str, str]] = set()
    if fetch(f"SELECT to_regprocedure({literal(own_index)}) IS NOT NULL"):
        rows = json.loads(fetch(_OWN_INDEXED.format(schema=quote(library_schema))))
        served = {(schema, name) for schema, name in rows}
    warnings = []
    for table, collation in candidates:
        if (table.schema, table.name) in served:
            continue
        warnings.append(
            f"{table.schema}.{table.name}'s scope rule {table.scope} has the collation {collation}, "
            "not the database's: a bootstrap in pages can skip whole scopes; give the rule the "
            "default one (op.set_sync_scope, e.g. 'g:' || (column COLLATE \"default\"))"
        )
    return warnings
