"""The generation plan: every table, column and type with its generated names decided once.

Both schema files, sync-meta and the client migrations read the same plan,
so a table is `authUsers` in all of them and a column keeps one key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass

from ..catalog.model import Catalog, Column, Enum, Sequence, Table, View
from .defaults import Default, read_default
from .domains import domain_mapping
from .naming import TABLE_MEMBERS, camel_case, find_free_name, identifier
from .typemap import CustomType, Mapping, map_column

log = logging.getLogger(__name__)

RESERVED_NAMES = frozenset(
    """
    bigint bigserial boolean bytes char check cidr customType date doublePrecision foreignKey index inet
    integer interval json jsonb line macaddr macaddr8 numeric pgEnum pgMaterializedView pgSchema pgSequence
    pgPolicy pgTable PgTableExtraConfigValue pgView point primaryKey real serial smallint smallserial sql
    sqliteTable parsePgArray relations text time timestamp unique uniqueIndex uuid varchar crypto Date
    Uint8Array __proto__
    """.split()
)
"""Names the generated modules import, define or use as globals: no table, enum or schema may take them."""

OUTBOX_TABLE, STATE_TABLE = "_sync_outbox", "_sync_state"
"""The client's own tables (templates/sqlite/sync_tables.sql.j2); no synced table may take their names."""


@dataclass(frozen=True)
class ColumnPlan:
    column: Column
    key: str
    sqlite_name: str
    mapping: Mapping
    default: Default | None

    @property
    def pushed(self) -> bool:
        """Does the client send this column? Not when the server computes it."""
        identity = self.column.identity
        return self.column.generated is None and not (identity is not None and identity.always)

    @property
    def server_default(self) -> bool:
        """Does the server fill this column in with what the client cannot make (a sequence's next
        value, an identity, an expression)? A put then leaves out its null, so that a row inserted
        on a device without it gets the server's value, where sending null would store null."""
        if not self.pushed:
            return False
        column = self.column
        return (
            column.identity is not None
            or column.serial
            or (self.default is not None and not self.made_on_client)
        )

    @property
    def made_on_client(self) -> bool:
        """Does the SQLite schema make this column's default too: a literal, `now()`, a random uuid,
        an array literal stored as it is?"""
        default = self.default
        return default is not None and (
            default.kind in ("literal", "now", "random")
            or (default.kind == "array" and self.mapping.same_type)
        )


@dataclass(frozen=True)
class SqliteIndex:
    """A plain index on the client: Postgres' indexes and unique constraints over columns.

    Uniqueness stays with the server, which enforces it; a client that pulls
    rows in pieces must never reject one for a transient duplicate.
    """

    name: str
    columns: tuple[str, ...]


def wire_name(schema: str, table: str) -> str:
    """A table's name in pushes, pulls and the outbox (`TablePlan.wire_name`)."""
    return table if schema == "public" else f"{schema}.{table}"


@dataclass(frozen=True)
class TablePlan:
    table: Table
    variable: str
    sqlite_name: str
    columns: tuple[ColumnPlan, ...]
    synced: bool
    scope: str | None
    sqlite_indexes: tuple[SqliteIndex, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.table.schema}.{self.table.name}"

    @property
    def wire_name(self) -> str:
        """The table's name in pushes, pulls and the outbox: bare in `public`, qualified elsewhere.

        It is the sync processor's `wire_name()`, so both ends spell a table alike.
        """
        return wire_name(self.table.schema, self.table.name)

    def column(self, name: str) -> ColumnPlan:
        return next(c for c in self.columns if c.column.name == name)

    def server_fills_in(self, column: ColumnPlan) -> bool:
        """Does the server give a row made on a device this non-key column's value (sync-meta's
        `serverDefault`)? Key columns aside: a device must make a row's key itself."""
        return column.server_default and column.column.name not in self.table.primary_key

    def sqlite_not_null(self, column: ColumnPlan) -> bool:
        """Is the column `NOT NULL` on SQLite too? Not where the server makes a device's row's value
        (a sequence, an identity, a generated column, a default the client cannot make): such a
        row has none until a pull brings the server's, and a value the device had to invent would
        be the one the server kept. Key columns always are."""
        if column.column.nullable:
            return False
        if column.column.name in self.table.primary_key:
            return True
        return column.pushed and not column.server_default


@dataclass(frozen=True)
class ViewPlan:
    view: View
    variable: str
    columns: tuple[ColumnPlan, ...]


@dataclass(frozen=True)
class Plan:
    tables: tuple[TablePlan, ...]
    views: tuple[ViewPlan, ...]
    sequences: MappingOf[Sequence, str]
    """Each sequence of its own → its `pgSequence` constant."""
    schemas: MappingOf[str, str]
    """Non-default schema name → the `pgSchema` constant."""
    enums: MappingOf[tuple[str, str], str]
    custom_types: MappingOf[CustomType, str]
    """The `customType`s of the Postgres schema; SQLite needs only `bytes`."""
    default_schema: str
    catalog: Catalog

    @property
    def synced(self) -> tuple[TablePlan, ...]:
        return tuple(t for t in self.tables if t.synced)

    def table(self, schema: str, name: str) -> TablePlan | None:
        return next((t for t in self.tables if t.table.schema == schema and t.table.name == name), None)


def _flat(schema: str, name: str, default_schema: str) -> str:
    return name if schema == default_schema else f"{schema}_{name}"


def build_plan(
    catalog: Catalog, synced: MappingOf[tuple[str, str], str | None], naming: str, timestamp_mode: str
) -> Plan:
    """Decide every generated name; `synced` maps the tables to sync to their scope rule."""
    default = catalog.default_schema
    taken = set(RESERVED_NAMES)
    # Every schema something is generated in: a reporting schema may hold views alone.
    objects: list[Table | Enum | View | Sequence] = [*catalog.tables, *catalog.enums, *catalog.views]
    objects += catalog.sequences
    schemas = sorted({o.schema for o in objects} - {default})
    schema_vars = {s: find_free_name(identifier(camel_case(s)) + "Schema", taken) for s in schemas}
    enum_vars = {
        (e.schema, e.name): find_free_name(
            identifier(camel_case(_flat(e.schema, e.name, default))) + "Enum", taken
        )
        for e in catalog.enums
    }
    sqlite_taken = {OUTBOX_TABLE, STATE_TABLE}
    tables: list[TablePlan] = []
    custom: dict[CustomType, str] = {}
    for table in catalog.tables:
        flat = _flat(table.schema, table.name, default)
        is_synced = table.key in synced
        if is_synced and not table.primary_key:
            log.warning("%s.%s has no primary key: kept on the Postgres side, left out of SQLite", *table.key)
            is_synced = False
        variable = find_free_name(identifier(flat if naming == "preserve" else camel_case(flat)), taken)
        sqlite_name = _sqlite_name(flat, sqlite_taken) if is_synced else flat
        columns = _columns(table.columns, naming, timestamp_mode)
        indexes = _sqlite_indexes(table, columns, sqlite_taken, default) if is_synced else ()
        _collect_custom_types(columns, custom)
        tables.append(
            TablePlan(table, variable, sqlite_name, columns, is_synced, synced.get(table.key), indexes)
        )
    views = []
    for view in catalog.views:
        flat = _flat(view.schema, view.name, default)
        variable = find_free_name(identifier(flat if naming == "preserve" else camel_case(flat)), taken)
        columns = _columns(view.columns, naming, timestamp_mode)
        _collect_custom_types(columns, custom)
        views.append(ViewPlan(view, variable, columns))
    sequences = {
        sequence: find_free_name(
            identifier(camel_case(_flat(sequence.schema, sequence.name, default))), taken
        )
        for sequence in catalog.sequences
    }
    custom_vars = {
        c: find_free_name(identifier(camel_case(name)), taken)
        for c, name in sorted(custom.items(), key=lambda item: item[0].sql)
    }
    return Plan(tuple(tables), tuple(views), sequences, schema_vars, enum_vars, custom_vars, default, catalog)


def _collect_custom_types(columns: tuple[ColumnPlan, ...], custom: dict[CustomType, str]) -> None:
    """Note the custom types `columns` need, each under the name of the first type that needed it."""
    for column in columns:
        builder = column.mapping.pg
        if builder.custom is not None:
            custom.setdefault(builder.custom, builder.function)


def _sqlite_name(flat: str, taken: set[str]) -> str:
    base = f"pg_{flat}" if flat.lower().startswith("sqlite_") else flat
    return find_free_name(base, taken, reserved=(), fold=str.lower)


def _sqlite_indexes(
    table: Table, columns: tuple[ColumnPlan, ...], taken: set[str], default_schema: str
) -> tuple[SqliteIndex, ...]:
    sqlite_names = {c.column.name: c.sqlite_name for c in columns}
    keyed = [(u.name, u.columns) for u in table.uniques]
    keyed += [(i.name, tuple(p.column or "" for p in i.parts)) for i in table.indexes]
    return tuple(
        SqliteIndex(
            _sqlite_name(_flat(table.schema, name, default_schema), taken),
            tuple(sqlite_names[c] for c in keys),
        )
        for name, keys in keyed
        if all(keys)
    )


def _columns(columns: tuple[Column, ...], naming: str, timestamp_mode: str) -> tuple[ColumnPlan, ...]:
    keys = set(TABLE_MEMBERS)
    sqlite_names: set[str] = set()
    plans = []
    for column in columns:
        mapping = map_column(column, timestamp_mode)
        if column.type.domain is not None:
            mapping = domain_mapping(column, mapping, timestamp_mode)
        key = find_free_name(camel_case(column.name) if naming == "camel" else column.name, keys, reserved=())
        sqlite_name = find_free_name(column.name, sqlite_names, reserved=(), fold=str.lower)
        default = None
        if column.default is not None and not column.serial:
            default = read_default(column.default, mapping, column.type.dimensions > 0)
        plans.append(ColumnPlan(column, key, sqlite_name, mapping, default))
    return tuple(plans)
