"""The statements of one client migration step, from one recorded shape to the next."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from ...quoting import literal, quote
from ...sql import split_statements
from ...templating import render
from ..plan import OUTBOX_TABLE, STATE_TABLE
from .shape import ColumnShape, TableShape
from .triggers import render_triggers, trigger_names


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


def render_rebuild(old: TableShape, new: TableShape, earlier: frozenset[str] = frozenset()) -> list[str]:
    """SQLite's documented way to change a table: build the new one, copy, swap.

    Columns that keep their name and storage type are copied, and so are
    columns a revision renamed (`renamed_from`) whose storage type stayed,
    provided every other column can be left empty or defaulted; otherwise the
    table starts empty and the reset cursor refills it. A copied column that
    became NOT NULL takes its default where it held NULL; without a default,
    rows holding NULL there are left for the refill, as the server now has a
    value for them: copied, they would fail the step on every open, and the
    client could never reach the new version. Pending writes follow the
    columns (`render_outbox_changes`).
    """
    temporary = f"_sync_new_{new.name}"
    copied = [(c, source) for c in new.columns if (source := _copied_from(old, new, c)) is not None]
    copied_names = {c.name for c, _ in copied}
    added = [c for c in new.columns if c.name not in copied_names]
    statements = [render_create_table(new, temporary)]
    if copied and all(not c.not_null or c.default is not None for c in added):
        tightened = [(c, source) for c, source in copied if c.not_null and not source.not_null]
        defaulted = {c.name: c.default for c, _ in tightened if c.default is not None}
        values = [
            f"coalesce({quote(source.name)}, {defaulted[c.name]})"
            if c.name in defaulted
            else quote(source.name)
            for c, source in copied
        ]
        unfilled = [f"{quote(source.name)} IS NOT NULL" for c, source in tightened if c.default is None]
        where = f" WHERE {' AND '.join(unfilled)}" if unfilled else ""
        statements.append(
            f"INSERT INTO {quote(temporary)} ({', '.join(quote(c.name) for c, _ in copied)}) "
            f"SELECT {', '.join(values)} FROM {quote(old.name)}{where}"
        )
    return [
        *statements,
        f"DROP TABLE {quote(old.name)}",
        f"ALTER TABLE {quote(temporary)} RENAME TO {quote(new.name)}",
        *render_indexes(new.name, new.indexes),
        *render_triggers(new),
        *render_outbox_changes(old, new, earlier),
    ]


def _previous(old: TableShape, new: TableShape, column: ColumnShape) -> ColumnShape | None:
    """The column of `old` that `column` of `new` is: the one it was renamed from, else its
    namesake, unless that one was renamed to another column."""
    if column.renamed_from is not None:
        return next((o for o in old.columns if o.wire_name == column.renamed_from), None)
    renamed_away = {c.renamed_from for c in new.columns if c.renamed_from is not None}
    namesake = next((o for o in old.columns if o.name == column.name), None)
    return None if namesake is None or namesake.wire_name in renamed_away else namesake


def _same_column(old: TableShape, new: TableShape, column: ColumnShape) -> bool:
    """Whether `column` is the column of its name in `old`: pending values under it are its own."""
    previous = _previous(old, new, column)
    return previous is not None and previous.wire_name == column.wire_name


def _copied_from(old: TableShape, new: TableShape, column: ColumnShape) -> ColumnShape | None:
    """The column of `old` whose values `column` of `new` keeps: the one it is, if its storage type
    stayed."""
    source = _previous(old, new, column)
    return source if source is not None and source.storage == column.storage else None


def render_outbox_changes(old: TableShape, new: TableShape, earlier: frozenset[str]) -> list[str]:
    """Pending writes name columns by their Postgres names, and follow them across the step.

    - A column that is not the one of its name in `old` (added, or renamed into a name it did
      not have, or into a dropped one's), where `old` or an earlier version (`earlier`, the
      names the table's columns had before `old`) had a column of that name, first loses the
      values pending under it: they belong to that dropped column, which the runtime prunes
      only after the last step.
    - A renamed column's values (and key values) move to its new name, each move one `UPDATE`
      of the writes holding the old name; when a new name is also one renamed away (two columns
      swapping names), every value first moves to a name no column has.
    - A column made NOT NULL loses its pending nulls: the server keeps its value or takes the
      column's default for it, where a null would have the write refused.

    A name holding `"` or `\\` is left alone (a JSON path cannot spell it): its values are
    pruned as a dropped column's.
    """
    had = {c.wire_name for c in old.columns}
    moves = [
        (c.renamed_from, c.wire_name, c.name in new.primary_key)
        for c in new.columns
        if c.renamed_from in had and _spelled(c.renamed_from) and _spelled(c.wire_name)
    ]
    sources = {source for source, _, _ in moves}
    values = quote("values")
    stale = [
        c.wire_name
        for c in new.columns
        if _spelled(c.wire_name)
        and c.wire_name in had | earlier
        and c.wire_name not in sources  # moved away below, not stale
        and not _same_column(old, new, c)
    ]
    statements = [
        _outbox_update(new, values, name, f"json_remove({values}, {_path(name)})") for name in stale
    ]
    if {target for _, target, _ in moves} & sources:
        moves = [(source, f"_sync_renaming:{target}", key) for source, target, key in moves] + [
            (f"_sync_renaming:{target}", target, key) for _, target, key in moves
        ]
    for source, target, key in moves:
        path = _path(source)
        for column in (values, quote("pk")) if key else (values,):
            moved = f"json_set(json_remove({column}, {path}), {_path(target)}, {column} -> {path})"
            statements.append(_outbox_update(new, column, source, moved))
    for c in new.columns:
        previous = _previous(old, new, c)
        if _spelled(c.wire_name) and c.not_null and previous is not None and not previous.not_null:
            path = _path(c.wire_name)
            statements.append(
                _outbox_update(new, values, c.wire_name, f"json_remove({values}, {path})", only="null")
            )
    return statements


def _spelled(name: str) -> bool:
    """Whether a JSON path can name the member: SQLite's quoted labels have no escape for `"`,
    and read a `\\` as itself where the stored key holds it escaped."""
    return not {'"', "\\"} & set(name)


def _path(name: str) -> str:
    """The JSON path of a member, as an SQL literal."""
    return literal(f'$."{name}"')


def _outbox_update(table: TableShape, column: str, holding: str, value: str, only: str | None = None) -> str:
    """An `UPDATE` setting `column` to `value` in the table's pending writes whose `column` holds
    the member `holding` (`only` one of that JSON type)."""
    test = "IS NOT NULL" if only is None else f"= {literal(only)}"
    return (
        f"UPDATE {quote(OUTBOX_TABLE)} SET {column} = {value} "
        f'WHERE "table" = {literal(table.source)} AND json_type({column}, {_path(holding)}) {test}'
    )


def render_reindex(old: TableShape, new: TableShape) -> list[str]:
    """Only the indexes changed: no rebuild, no new pull. The step has dropped the indexes `new`
    lacks, and any of the names it adds, before (`_released_indexes`)."""
    _, added = _index_changes(old, new)
    return render_indexes(new.name, added)


def _released_indexes(previous: Mapping[str, TableShape | None], after: tuple[TableShape, ...]) -> list[str]:
    """The indexes a step drops before it makes or changes any table: each that a kept table no
    longer has, and each name the step is about to create an index under.

    Index names are one namespace in SQLite, as in a Postgres schema, and a revision may give one
    table's index name to another's: made first, the new index failed the step (the name taken),
    or was made and then dropped under that name by the other table's statements. And a device's
    indexes need not be those of the step's `before`: an index change alone is folded into the
    current step, which devices already at its version never run again, so a device may lack an
    index `before` has, or keep one it no longer has. Each is therefore dropped only if it exists:
    a step must not fail, or it fails every open of the build.
    """
    names: list[str] = []
    for shape in after:
        old = previous[shape.name]
        gone, added = _index_changes(old, shape) if old is not None else ([], list(shape.indexes))
        names += [*gone, *(name for name, _ in added)]
    return [f"DROP INDEX IF EXISTS {quote(name)}" for name in dict.fromkeys(names)]


def _index_changes(old: TableShape, new: TableShape) -> tuple[list[str], list[tuple[str, tuple[str, ...]]]]:
    """The names of the indexes of `old` that `new` lacks, and the indexes `new` adds."""
    gone = [name for name, columns in old.indexes if (name, columns) not in new.indexes]
    return gone, [index for index in new.indexes if index not in old.indexes]


def _rebuilt(old: TableShape, new: TableShape) -> bool:
    """Whether the step rebuilds the table: its columns, key or source changed, or a column was
    renamed (two swapping names leave the columns as they were). The renames recorded for `old`
    are its own step's, not a difference from it; a table a revision renamed (`renamed_from`) is
    only renamed, unless its columns changed too."""
    before = (_bare(old.columns), old.primary_key, old.source)
    after = (_bare(new.columns), new.primary_key, new.renamed_from or new.source)
    return before != after or any(c.renamed_from is not None for c in new.columns)


def render_rename(old: TableShape, new: TableShape, held: str | None = None) -> list[str]:
    """A table a revision renamed, its columns as they were: SQLite renames it in place (from
    `held`, the name a swap parked it under), keeping its rows and the indexes the new shape
    still has (Postgres keeps an index's name through the rename too). The step has dropped its
    triggers (`_unhooked`) and other indexes (`_released_indexes`) before, and the outbox's
    writes were moved to the new name (`render_outbox_renames`)."""
    _, added = _index_changes(old, new)
    rename = [f"ALTER TABLE {quote(held or old.name)} RENAME TO {quote(new.name)}"]
    return [
        *(rename if (held or old.name) != new.name else []),
        *render_indexes(new.name, added),
        *render_triggers(new),
    ]


def _unhooked(old: TableShape) -> list[str]:
    """What a renamed table drops before any table is renamed or made: its triggers, which write its
    old name into the pending writes (and its key checks, named after it)."""
    return [f"DROP TRIGGER IF EXISTS {quote(name)}" for name in trigger_names(old)]


def render_outbox_renames(renames: list[tuple[TableShape, TableShape]]) -> list[str]:
    """The pending writes of each renamed table (old, new) move to its new name, one `UPDATE` each,
    so that they reach the server under it instead of being rejected (`unknown_table`); when a
    new name is also one renamed away (two tables swapping names), each first moves to a name no
    table has, as a renamed column's values do."""
    moves = [(old.source, new.source) for old, new in renames if old.source != new.source]
    if {target for _, target in moves} & {source for source, _ in moves}:
        moves = [(source, f"_sync_renaming:{target}") for source, target in moves] + [
            (f"_sync_renaming:{target}", target) for _, target in moves
        ]
    return [
        f'UPDATE {quote(OUTBOX_TABLE)} SET "table" = {literal(target)} WHERE "table" = {literal(source)}'
        for source, target in moves
    ]


def _previous_table(
    before: tuple[TableShape, ...], after: tuple[TableShape, ...], shape: TableShape
) -> TableShape | None:
    """The table of `before` that `shape` is: the one it was renamed from (by its wire name), else
    its namesake in SQLite, unless that one was renamed to another table."""
    if shape.renamed_from is not None:
        return next((o for o in before if o.source == shape.renamed_from), None)
    renamed_away = {s.renamed_from for s in after if s.renamed_from is not None}
    namesake = next((o for o in before if o.name == shape.name), None)
    return None if namesake is None or namesake.source in renamed_away else namesake


def _bare(columns: tuple[ColumnShape, ...]) -> tuple[ColumnShape, ...]:
    return tuple(replace(c, renamed_from=None) for c in columns)


def render_step(
    before: tuple[TableShape, ...] | None,
    after: tuple[TableShape, ...],
    version: int,
    earlier: Mapping[str, frozenset[str]] | None = None,
) -> list[str]:
    """The statements that take a client from `before` (None: an empty database) to `after`;
    `earlier`: per table (its source), the names its columns had in the versions before `before`.

    The pull cursor is reset when a table is added, rebuilt or renamed: its
    rows (or their new columns) can only come from a fresh pull, and the
    server resets a cursor of another schema version anyway (a renamed
    table's kept rows are what the app shows until that pull replaces them).

    Renamed tables go first, after the dropped ones: a table added under a
    renamed one's old name needs it gone. When a new name is one renamed
    away (two tables swapping names), each renamed table is parked under a
    name no table has first.
    """
    if before is None:
        return [*render_sync_tables(version), *(s for shape in after for s in render_create(shape))]
    previous = {shape.name: _previous_table(before, after, shape) for shape in after}
    carried = {shape.name for shape in previous.values() if shape is not None}
    statements = [f"DROP TABLE {quote(shape.name)}" for shape in before if shape.name not in carried]
    renames = [
        (old, shape) for shape in after if shape.renamed_from and (old := previous[shape.name]) is not None
    ]
    statements += render_outbox_renames(renames)
    statements += [statement for old, _ in renames for statement in _unhooked(old)]
    statements += _released_indexes(previous, after)
    moved = [(old, new) for old, new in renames if old.name != new.name]
    held: dict[str, str] = {}
    if {new.name for _, new in moved} & {old.name for old, _ in moved}:
        held = {new.name: f"_sync_renaming_{new.name}" for _, new in moved}
        statements += [
            f"ALTER TABLE {quote(old.name)} RENAME TO {quote(held[new.name])}" for old, new in moved
        ]
    repull = False
    renamed = [new for _, new in renames]
    for shape in renamed + [shape for shape in after if shape not in renamed]:
        old = previous[shape.name]
        names = (earlier or {}).get(shape.renamed_from or shape.source, frozenset())
        if old is None:
            statements += render_create(shape)
        elif _rebuilt(old, shape):
            statements += render_rebuild(replace(old, name=held.get(shape.name, old.name)), shape, names)
        elif shape.renamed_from is not None:
            statements += render_rename(old, shape, held.get(shape.name))
        else:
            statements += render_reindex(old, shape)
            continue
        repull = True
    cursor = ', "cursor" = NULL' if repull else ""
    statements.append(f'UPDATE {quote(STATE_TABLE)} SET "schema_version" = {version}{cursor}')
    return statements
