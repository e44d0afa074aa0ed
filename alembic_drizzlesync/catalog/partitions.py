"""Which tables of a live database are partitions, and of which parent.

A partitioned table is synced as its parent alone: capture on the parent
sees every row written to any partition, and the client knows the parent's
name only. Capture on a partition as well would log each row twice, once
under a name no client has a table for. Autogenerate therefore leaves
partitions out, and `op.enable_sync` refuses one, naming its parent.
"""

from __future__ import annotations

import json

from ..quoting import literal, quote
from .registry import Fetch

TableKey = tuple[str, str]

PARTITIONS_CAPTURED_FROM = 5
"""The library version whose capture puts triggers on partitions too: before it, statements naming a
partition were not captured."""

_PARTITIONS = """
SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname, pn.nspname, p.relname)
                         ORDER BY n.nspname, c.relname), '[]')::text
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_inherits AS i ON i.inhrelid = c.oid
JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
JOIN pg_catalog.pg_namespace AS pn ON pn.oid = p.relnamespace
WHERE c.relispartition
"""


def read_partitions(fetch: Fetch) -> dict[TableKey, TableKey]:
    """Every partition in the database, `(schema, table)`, mapped to its direct parent."""
    rows = json.loads(fetch(_PARTITIONS))
    return {(schema, name): (parent_schema, parent) for schema, name, parent_schema, parent in rows}


_UNCAPTURED = """
SELECT coalesce(json_agg(json_build_array(s.schema_name, s.table_name) ORDER BY s.schema_name, s.table_name),
                '[]')::text
FROM {schema}.synced_table AS s
WHERE EXISTS (SELECT FROM pg_catalog.pg_partition_tree(
                  to_regclass(quote_ident(s.schema_name) || '.' || quote_ident(s.table_name))) AS t
              WHERE t.level > 0
                AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger AS g
                                WHERE g.tgrelid = t.relid AND g.tgname = 'drizzlesync_capture_insert'
                                  AND g.tgfoid = to_regprocedure({library} || '.capture_' || s.id || '()')))
"""


def read_uncaptured(fetch: Fetch, library_schema: str) -> set[TableKey]:
    """The synced tables with a partition that lacks their capture triggers (created or attached since
    capture began, or registered itself by an earlier release), whose statements naming that partition
    are not logged under the parent until it gets them."""
    query = _UNCAPTURED.format(schema=quote(library_schema), library=literal(quote(library_schema)))
    rows = json.loads(fetch(query))
    return {(schema, name) for schema, name in rows}


def partition_guard(schema: str, table: str) -> str:
    """A statement failing, with the parent's name, when `schema.table` is a partition.

    It runs in the migration, not in Python, so that `alembic upgrade --sql`
    still prints a script that needs no database to render; a table that
    does not exist passes, and `enable_sync` then reports it as it does.
    """
    target = f"to_regclass(format('%I.%I', {literal(schema)}, {literal(table)}))"
    return f"""DO $drizzlesync$
DECLARE
    parent text;
BEGIN
    SELECT format('%I.%I', pn.nspname, p.relname) INTO parent
    FROM pg_catalog.pg_inherits AS i
    JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
    JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
    JOIN pg_catalog.pg_namespace AS pn ON pn.oid = p.relnamespace
    WHERE c.oid = {target} AND c.relispartition;
    IF parent IS NOT NULL THEN
        RAISE EXCEPTION 'drizzlesync: table %.% is a partition of %; only the parent is synced',
            {literal(schema)}, {literal(table)}, parent
            USING HINT = format('Enable sync on %s, which captures the rows of every partition, '
                                'and leave its partitions out.', parent);
    END IF;
END
$drizzlesync$"""
