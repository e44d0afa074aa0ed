"""The statements of one client migration step, from one recorded shape to the next."""

from __future__ import annotations

from collections.abc import Iterable

from ...quoting import quote
from ...sql import split_statements
from ...templating import render
from ..plan import STATE_TABLE
from .shape import TableShape
from .triggers import render_triggers


def render_sync_tables(version: int) -> list[str]:
    """`_sync_state` (one row) and `_sync_outbox`, created by a client's first step."""
    return split_statements(render("sqlite/sync_tables.sql.j2", version=version))


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


def render_create(shape: TableShape) -> list[str]:
    return [render_create_table(shape), *render_indexes(shape.name, shape.indexes), *render_triggers(shape)]


def render_rebuild(old: TableShape, new: TableShape) -> list[str]:
    """SQLite's documented way to change a table: build the new one, copy, swap.

    Columns that keep their name and storage type are copied, provided every
    other column can be left empty or defaulted; otherwise the table starts
    empty and the reset cursor refills it. A copied column that became NOT
    NULL takes its default where it held NULL; without a default, rows holding
    NULL there are left for the refill, as the server now has a value for
    them: copied, they would fail the step on every open, and the client could
    never reach the new version.
    """
    temporary = f"_sync_new_{new.name}"
    was_nullable = {o.name for o in old.columns if not o.not_null}
    kept = [c for c in new.columns if (c.name, c.storage) in {(o.name, o.storage) for o in old.columns}]
    added = [c for c in new.columns if c not in kept]
    statements = [render_create_table(new, temporary)]
    if kept and all(not c.not_null or c.default is not None for c in added):
        tightened = [c for c in kept if c.not_null and c.name in was_nullable]
        defaulted = {c.name: c.default for c in tightened if c.default is not None}
        values = [
            f"coalesce({quote(c.name)}, {defaulted[c.name]})" if c.name in defaulted else quote(c.name)
            for c in kept
        ]
        unfilled = [f"{quote(c.name)} IS NOT NULL" for c in tightened if c.default is None]
        where = f" WHERE {' AND '.join(unfilled)}" if unfilled else ""
        statements.append(
            f"INSERT INTO {quote(temporary)} ({', '.join(quote(c.name) for c in kept)}) "
            f"SELECT {', '.join(values)} FROM {quote(old.name)}{where}"
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
    statements.append(f'UPDATE {quote(STATE_TABLE)} SET "schema_version" = {version}{cursor}')
    return statements
