"""The SQLite shape of the synced tables: what a client migration step is computed from.

Shapes are plain data, saved in history.json, so that the next generation
can diff against what clients actually have, not against today's database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ...quoting import literal
from ..plan import ColumnPlan, Plan, TablePlan

RenamedColumns = Mapping[tuple[str, str], Mapping[str, str]]
"""Per table (schema, name), its columns renamed since the version recorded before: new name to old."""

RenamedTables = Mapping[tuple[str, str], str]
"""Per table (schema, name), its wire name in the version recorded before, where a revision renamed
it (or moved it to another schema) since."""

STORAGE = {"integer": "INTEGER", "real": "REAL", "text": "TEXT", "bytes": "BLOB"}
"""sqlite-core builder → the column type of a STRICT table."""


@dataclass(frozen=True)
class ColumnShape:
    name: str
    wire_name: str
    """The Postgres column: outbox keys use it, so only values need converting for the wire."""
    storage: str
    not_null: bool
    default: str | None
    pushed: bool
    renamed_from: str | None = None
    """The column's Postgres name in the version recorded before, when a revision renamed it:
    the step carries its values and pending writes over. Not part of the shape's hash."""


@dataclass(frozen=True)
class TableShape:
    name: str
    source: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, tuple[str, ...]], ...]
    renamed_from: str | None = None
    """The table's wire name (`source`) in the version recorded before, when a revision renamed it:
    the step renames the SQLite table, keeping its rows, and moves its pending writes to the new
    name. Not part of the shape's hash, as for a column's."""

    @staticmethod
    def from_json(raw: dict[str, Any]) -> TableShape:
        return TableShape(
            name=raw["name"],
            source=raw["source"],
            columns=tuple(ColumnShape(**c) for c in raw["columns"]),
            primary_key=tuple(raw["primary_key"]),
            indexes=tuple((name, tuple(columns)) for name, columns in raw["indexes"]),
            renamed_from=raw.get("renamed_from"),
        )


def _sqlite_default(column: ColumnPlan) -> str | None:
    default = column.default
    if default is None or default.kind != "literal":
        return None
    value = json.loads(default.ts)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return literal(value)
    return literal(json.dumps(value, separators=(",", ":")))


def table_shape(table: TablePlan, renamed: Mapping[str, str], renamed_from: str | None = None) -> TableShape:
    """`renamed`: the table's columns a revision renamed, new Postgres name to old; `renamed_from`:
    the table's wire name before a revision renamed it."""
    sqlite_name = {c.column.name: c.sqlite_name for c in table.columns}
    return TableShape(
        name=table.sqlite_name,
        source=table.wire_name,
        columns=tuple(
            ColumnShape(
                name=c.sqlite_name,
                wire_name=c.column.name,
                storage=STORAGE[c.mapping.sqlite.function],
                not_null=table.sqlite_not_null(c),
                default=_sqlite_default(c),
                pushed=c.pushed,
                renamed_from=renamed.get(c.column.name),
            )
            for c in table.columns
        ),
        primary_key=tuple(sqlite_name[c] for c in table.table.primary_key),
        indexes=tuple((index.name, index.columns) for index in table.sqlite_indexes),
        renamed_from=renamed_from,
    )


def shapes_of(
    plan: Plan, renamed: RenamedColumns, renamed_tables: RenamedTables | None = None
) -> tuple[TableShape, ...]:
    return tuple(
        table_shape(table, renamed.get(table.table.key, {}), (renamed_tables or {}).get(table.table.key))
        for table in plan.synced
    )


def shape_json(shape: TableShape, *, renames: bool = True) -> dict[str, Any]:
    """A shape as history.json holds it: a table's or column's `renamed_from` only where a revision
    set it."""
    raw = asdict(shape)
    if not (renames and shape.renamed_from):
        del raw["renamed_from"]
    raw["columns"] = [
        {key: value for key, value in column.items() if key != "renamed_from" or (renames and value)}
        for column in raw["columns"]
    ]
    return raw


def shape_hash(shapes: tuple[TableShape, ...]) -> str:
    """The hash of what clients hold, without how it came about (`renamed_from`): a database
    migrated to the same shape without watching the rename gets the same hash."""
    canonical = json.dumps(
        [shape_json(s, renames=False) for s in shapes], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
