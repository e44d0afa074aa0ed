"""Client migrations: the SQLite DDL of the synced tables, the outbox, and one step per schema version.

Each generation records the SQLite shape of the synced tables under the
current schema version in `history.json`, next to the generated steps. A
step is the difference between two recorded shapes, so an installed client
moves from N to N+1 with its outbox untouched. A table whose shape changed
is rebuilt with the columns it keeps, and the step clears the pull cursor:
rows the client holds have no values yet for new columns, and a fresh pull
is the one way to get them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .plan import ColumnPlan, Plan, TablePlan

log = logging.getLogger(__name__)

STORAGE = {"integer": "INTEGER", "real": "REAL", "text": "TEXT", "bytes": "BLOB"}
OUTBOX, STATE = "_sync_outbox", "_sync_state"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class ColumnShape:
    name: str
    wire_name: str
    """The Postgres column: outbox keys use it, so only values need converting for the wire."""
    storage: str
    not_null: bool
    default: str | None
    pushed: bool


@dataclass(frozen=True)
class TableShape:
    name: str
    source: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, tuple[str, ...]], ...]

    @staticmethod
    def from_json(raw: dict[str, Any]) -> TableShape:
        return TableShape(
            name=raw["name"],
            source=raw["source"],
            columns=tuple(ColumnShape(**c) for c in raw["columns"]),
            primary_key=tuple(raw["primary_key"]),
            indexes=tuple((name, tuple(columns)) for name, columns in raw["indexes"]),
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


def table_shape(table: TablePlan) -> TableShape:
    sqlite_name = {c.column.name: c.sqlite_name for c in table.columns}
    return TableShape(
        name=table.sqlite_name,
        source=table.wire_name,
        columns=tuple(
            ColumnShape(
                name=c.sqlite_name,
                wire_name=c.column.name,
                storage=STORAGE[c.mapping.sqlite.function],
                not_null=not c.column.nullable,
                default=_sqlite_default(c),
                pushed=c.pushed,
            )
            for c in table.columns
        ),
        primary_key=tuple(sqlite_name[c] for c in table.table.primary_key),
        indexes=tuple((index.name, index.columns) for index in table.sqlite_indexes),
    )


def shapes_of(plan: Plan) -> tuple[TableShape, ...]:
    return tuple(table_shape(table) for table in plan.synced)


def shape_hash(shapes: tuple[TableShape, ...]) -> str:
    canonical = json.dumps([asdict(s) for s in shapes], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --- DDL -----------------------------------------------------------------------------------------


def render_sync_tables(version: int) -> list[str]:
    """`_sync_state` (one row) and `_sync_outbox`, created by a client's first step."""
    return [
        f"CREATE TABLE {quote(STATE)} (\n"
        '  "id" INTEGER PRIMARY KEY CHECK ("id" = 1),\n'
        '  "client_id" TEXT NOT NULL DEFAULT (lower(hex(randomblob(16)))),\n'
        '  "cursor" TEXT,\n'
        '  "schema_version" INTEGER NOT NULL,\n'
        '  "applying" INTEGER NOT NULL DEFAULT 0 CHECK ("applying" IN (0, 1)),\n'
        '  "tx" INTEGER NOT NULL DEFAULT 0\n'
        ") STRICT",
        f'INSERT INTO {quote(STATE)} ("id", "schema_version") VALUES (1, {version})',
        f"CREATE TABLE {quote(OUTBOX)} (\n"
        '  "id" INTEGER PRIMARY KEY AUTOINCREMENT,\n'
        '  "tx" INTEGER NOT NULL,\n'
        '  "table" TEXT NOT NULL,\n'
        "  \"op\" TEXT NOT NULL CHECK (\"op\" IN ('put', 'patch', 'delete')),\n"
        '  "pk" TEXT NOT NULL,\n'
        '  "values" TEXT\n'
        ") STRICT",
    ]


def render_create_table(shape: TableShape, name: str | None = None) -> str:
    lines = []
    for column in shape.columns:
        line = f"  {quote(column.name)} {column.storage}"
        if column.not_null:
            line += " NOT NULL"
        if column.default is not None:
            line += f" DEFAULT {column.default}"
        lines.append(line)
    lines.append(f"  PRIMARY KEY ({', '.join(map(quote, shape.primary_key))})")
    return f"CREATE TABLE {quote(name or shape.name)} (\n" + ",\n".join(lines) + "\n) STRICT"


def render_indexes(table: str, indexes: Iterable[tuple[str, tuple[str, ...]]]) -> list[str]:
    return [
        f"CREATE INDEX {quote(name)} ON {quote(table)} ({', '.join(map(quote, columns))})"
        for name, columns in indexes
    ]


def _value(column: ColumnShape, row: str) -> str:
    """A column as a JSON value in the outbox; JSON cannot hold blobs, so they travel as hex."""
    ref = f"{row}.{quote(column.name)}"
    return f"CASE WHEN {ref} IS NULL THEN NULL ELSE hex({ref}) END" if column.storage == "BLOB" else ref


def _json_object(columns: tuple[ColumnShape, ...], row: str, indent: str = "    ") -> str:
    """`json_object('a', NEW."a", …)`, one pair a line when there are more than two."""
    pairs = [f"{literal(c.wire_name)}, {_value(c, row)}" for c in columns]
    if len(pairs) <= 2:
        return f"json_object({', '.join(pairs)})"
    return "json_object(\n" + ",\n".join(f"{indent}  {pair}" for pair in pairs) + f"\n{indent})"


def _outbox_insert(shape: TableShape, op: str, row: str, values: str) -> str:
    pk = _json_object(tuple(c for c in shape.columns if c.name in shape.primary_key), row)
    return (
        f'  INSERT INTO {quote(OUTBOX)} ("tx", "table", "op", "pk", "values")\n'
        f"  SELECT \"tx\", {literal(shape.source)}, '{op}', {pk},\n    {values}\n  FROM {quote(STATE)};\n"
    )


def render_triggers(shape: TableShape) -> list[str]:
    """Outbox triggers: a put per insert, a patch of the changed columns per update, a delete.

    An update that changes the primary key is a delete of the old key and a
    put of the new row. None of them fire while the client applies pulled
    changes (`_sync_state.applying`).
    """
    table, pushed = quote(shape.name), tuple(c for c in shape.columns if c.pushed)
    not_applying = f'(SELECT "applying" FROM {quote(STATE)}) = 0'
    same_key = " AND ".join(f"NEW.{quote(c)} IS OLD.{quote(c)}" for c in shape.primary_key)
    full_row = _json_object(pushed, "NEW")

    def trigger(event: str, suffix: str, when: str, body: str) -> str:
        name = quote(f"{shape.name}_outbox_{suffix}")
        return f"CREATE TRIGGER {name} AFTER {event} ON {table}\nWHEN {when}\nBEGIN\n{body}END"

    triggers = [
        trigger("INSERT", "insert", not_applying, _outbox_insert(shape, "put", "NEW", full_row)),
        trigger("DELETE", "delete", not_applying, _outbox_insert(shape, "delete", "OLD", "NULL")),
        trigger(
            "UPDATE",
            "rekey",
            f"{not_applying} AND NOT ({same_key})",
            _outbox_insert(shape, "delete", "OLD", "NULL") + _outbox_insert(shape, "put", "NEW", full_row),
        ),
    ]
    changeable = tuple(c for c in pushed if c.name not in shape.primary_key)
    if changeable:
        changed = [f"NEW.{quote(c.name)} IS NOT OLD.{quote(c.name)}" for c in changeable]
        pairs = "\n      UNION ALL ".join(
            f'SELECT {literal(c.wire_name)} AS "column", {_value(c, "NEW")} AS "value" WHERE {test}'
            for c, test in zip(changeable, changed, strict=True)
        )
        patch = f'(SELECT json_group_object("column", "value") FROM (\n      {pairs}))'
        when = f"{not_applying} AND {same_key}\n  AND ({' OR '.join(changed)})"
        triggers.insert(2, trigger("UPDATE", "update", when, _outbox_insert(shape, "patch", "NEW", patch)))
    return triggers


def render_create(shape: TableShape) -> list[str]:
    return [render_create_table(shape), *render_indexes(shape.name, shape.indexes), *render_triggers(shape)]


def render_rebuild(old: TableShape, new: TableShape) -> list[str]:
    """SQLite's documented way to change a table: build the new one, copy, swap.

    Columns that keep their name and storage type are copied, provided every
    other column can be left empty or defaulted; otherwise the table starts
    empty and the reset cursor refills it.
    """
    temporary = f"_sync_new_{new.name}"
    kept = [c.name for c in new.columns if (c.name, c.storage) in {(o.name, o.storage) for o in old.columns}]
    added = [c for c in new.columns if c.name not in kept]
    statements = [render_create_table(new, temporary)]
    if kept and all(not c.not_null or c.default is not None for c in added):
        columns = ", ".join(map(quote, kept))
        statements.append(
            f"INSERT INTO {quote(temporary)} ({columns}) SELECT {columns} FROM {quote(old.name)}"
        )
    return [
        *statements,
        f"DROP TABLE {quote(old.name)}",
        f"ALTER TABLE {quote(temporary)} RENAME TO {quote(new.name)}",
        *render_indexes(new.name, new.indexes),
        *render_triggers(new),
    ]


def render_reindex(old: TableShape, new: TableShape) -> list[str]:
    """Only the indexes changed: no rebuild, no new pull."""
    dropped = [
        f"DROP INDEX {quote(name)}" for name, columns in old.indexes if (name, columns) not in new.indexes
    ]
    return dropped + render_indexes(new.name, (index for index in new.indexes if index not in old.indexes))


def render_step(
    before: tuple[TableShape, ...] | None, after: tuple[TableShape, ...], version: int
) -> list[str]:
    """The statements that take a client from `before` (None: an empty database) to `after`.

    The pull cursor is reset when a table is added or rebuilt: its rows (or
    their new columns) can only come from a fresh pull.
    """
    if before is None:
        return [*render_sync_tables(version), *(s for shape in after for s in render_create(shape))]
    old = {shape.name: shape for shape in before}
    statements = [f"DROP TABLE {quote(name)}" for name in old if name not in {shape.name for shape in after}]
    repull = False
    for shape in after:
        previous = old.get(shape.name)
        if previous is None:
            statements += render_create(shape)
        elif (previous.columns, previous.primary_key, previous.source) != (
            shape.columns,
            shape.primary_key,
            shape.source,
        ):
            statements += render_rebuild(previous, shape)
        else:
            statements += render_reindex(previous, shape)
            continue
        repull = True
    cursor = ', "cursor" = NULL' if repull else ""
    statements.append(f'UPDATE {quote(STATE)} SET "schema_version" = {version}{cursor}')
    return statements


# --- history -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    version: int
    hash: str
    tables: tuple[TableShape, ...]


def read_history(text: str | None) -> list[Version]:
    if not text:
        return []
    return [
        Version(v["version"], v["hash"], tuple(TableShape.from_json(t) for t in v["tables"]))
        for v in json.loads(text)["versions"]
    ]


def render_history(history: list[Version]) -> str:
    data = {"format": 1, "versions": [asdict(v) for v in history]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def record(
    history: list[Version], server_version: int | None, tables: tuple[TableShape, ...]
) -> list[Version]:
    """The history once the current shape is recorded under its schema version.

    The version is the server's when DrizzleSync is installed; otherwise the
    last recorded one, plus one if the shape changed. Versions above it are
    dropped (a downgrade), and a version recorded with another shape is
    replaced, with a warning: clients already at it will not migrate again.
    """
    digest = shape_hash(tables)
    last = history[-1] if history else None
    if server_version is None:
        server_version = 1 if last is None else last.version + (last.hash != digest)
    kept = [v for v in history if v.version < server_version]
    replaced = next((v for v in history if v.version == server_version and v.hash != digest), None)
    if replaced is not None:
        log.warning(
            "the synced shape changed but the schema version is still %d: installed clients will not "
            "migrate; bump it with op.bump_sync_schema_version()",
            server_version,
        )
    return [*kept, Version(server_version, digest, tables)]


def steps(history: list[Version]) -> list[tuple[int, list[str]]]:
    previous: tuple[TableShape, ...] | None = None
    result = []
    for version in history:
        result.append((version.version, render_step(previous, version.tables, version.version)))
        previous = version.tables
    return result
