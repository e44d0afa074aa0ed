"""Read the live catalog into the neutral model with a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..sql import SCOPE_INDEX_PREFIX
from . import queries
from .model import (
    Catalog,
    Check,
    Column,
    Enum,
    ForeignKey,
    Identity,
    Index,
    IndexPart,
    PgType,
    Policy,
    Sequence,
    SequenceOptions,
    Table,
    Unique,
    View,
)

Row = dict[str, Any]

_FK_ACTIONS = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}
# typmod layouts: most types store `value + 4` (VARHDRSZ); these store the value itself.
_PLAIN_TYPMOD = {"timestamp", "timestamptz", "time", "timetz", "bit", "varbit"}
_VARHDR_TYPMOD = {"varchar", "bpchar"}


def _modifiers(name: str, typmod: int) -> tuple[int, ...]:
    """The numbers inside the parentheses of `varchar(20)`, `numeric(10,2)`, `time(3)`."""
    if typmod < 0:
        return ()
    if name in _PLAIN_TYPMOD:
        return (typmod,)
    if name in _VARHDR_TYPMOD:
        return (typmod - 4,)
    if name == "numeric":
        packed = typmod - 4
        return ((packed >> 16) & 0xFFFF, packed & 0xFFFF)
    if name == "interval" and typmod & 0xFFFF != 0xFFFF:
        return (typmod & 0xFFFF,)
    return ()


@dataclass(frozen=True)
class _TypeRow:
    oid: int
    schema: str
    name: str
    kind: str
    element: int | None
    base: int | None
    base_typmod: int
    base_dimensions: int
    enum_values: tuple[str, ...]


@dataclass(frozen=True)
class _Resolved:
    row: _TypeRow
    typmod: int
    dimensions: int
    domain: _TypeRow | None
    domain_dimensions: int


class _TypeResolver:
    """Resolves a column's (type oid, typmod, dims) through domains and arrays to a `PgType`."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.types = {row["oid"]: _type_row(row) for row in rows}
        self.sql: dict[tuple[int, int], str] = {}
        """`format_type()` of each (type, typmod) in use, read once they are all known."""

    def base_of(self, oid: int, typmod: int, dimensions: int) -> _Resolved:
        """Follow domains and arrays down to the element type.

        The first domain met is the one the column is declared with; the
        array dimensions counted by then are the column's over that domain.
        """
        domain: _TypeRow | None = None
        domain_dimensions = 0
        row = self.types[oid]
        while True:
            if row.base is not None:
                if domain is None:
                    domain, domain_dimensions = row, dimensions
                dimensions = max(dimensions, row.base_dimensions)
                typmod = row.base_typmod
                row = self.types[row.base]
            elif row.element is not None:
                dimensions = max(dimensions, 1)
                row = self.types[row.element]
            else:
                return _Resolved(row, typmod, dimensions, domain, domain_dimensions)

    def resolve(self, oid: int, typmod: int, dimensions: int) -> PgType:
        found = self.base_of(oid, typmod, dimensions)
        return PgType(
            name=found.row.name,
            schema=found.row.schema,
            sql=self.sql[(found.row.oid, found.typmod)] + "[]" * found.dimensions,
            modifiers=_modifiers(found.row.name, found.typmod),
            dimensions=found.dimensions,
            enum_values=found.row.enum_values if found.row.kind == "e" else None,
            domain=found.domain.name if found.domain else None,
            domain_sql=self.sql[(found.domain.oid, -1)] if found.domain else None,
            domain_dimensions=found.domain_dimensions,
        )


def _type_row(row: Row) -> _TypeRow:
    return _TypeRow(**{**row, "enum_values": tuple(row["enum_values"])})


def list_schemas(conn: psycopg.Connection[Any]) -> list[str]:
    """Every user schema: not pg_*, not information_schema."""
    return [row[0] for row in conn.execute(queries.SCHEMAS)]


def read_catalog(
    conn: psycopg.Connection[Any],
    schemas: Collection[str],
    include: Callable[[str, str], bool] | None = None,
    default_schema: str = "public",
) -> Catalog:
    """Introspect the tables, views and sequences of `schemas` (partitioned parents, not partitions).

    `include(schema, name)` narrows the selection further, before the other
    queries run, so that a few tables of a large schema cost little.
    """
    cur = conn.cursor(row_factory=dict_row)
    selected = {"schemas": list(schemas)}
    relations = [
        row
        for row in cur.execute(queries.RELATIONS, selected)
        if include is None or include(row["schema"], row["name"])
    ]
    oids = [row["oid"] for row in relations]
    columns = cur.execute(queries.COLUMNS, {"oids": oids}).fetchall()
    resolver = _TypeResolver(
        cur.execute(queries.TYPES, {"oids": sorted({c["type_oid"] for c in columns})}).fetchall()
    )
    resolved = [resolver.base_of(c["type_oid"], c["typmod"], c["dimensions"]) for c in columns]
    pairs = sorted(
        {(found.row.oid, found.typmod) for found in resolved}
        | {(found.domain.oid, -1) for found in resolved if found.domain}
    )
    formatted = cur.execute(
        queries.FORMAT_TYPES, {"oids": [oid for oid, _ in pairs], "typmods": [typmod for _, typmod in pairs]}
    ).fetchall()
    resolver.sql = {(row["oid"], row["typmod"]): row["sql"] for row in formatted}
    constraints = _by_table(cur.execute(queries.CONSTRAINTS, {"oids": oids}).fetchall())
    # The scope indexes DrizzleSync keeps for bootstrap pages are the library's, named after its
    # registry ids: a generated schema that declared them would hand them to drizzle-kit.
    indexes = _by_table(
        row
        for row in cur.execute(queries.INDEXES, {"oids": oids}).fetchall()
        if not row["name"].startswith(SCOPE_INDEX_PREFIX)
    )
    policies = _by_table(cur.execute(queries.POLICIES, {"oids": oids}).fetchall())
    columns_of = {oid: tuple(_column(c, resolver) for c in rows) for oid, rows in _by_table(columns).items()}
    tables = tuple(
        _table(
            row,
            columns_of.get(row["oid"], ()),
            constraints[row["oid"]],
            indexes[row["oid"]],
            policies[row["oid"]],
        )
        for row in relations
        if row["kind"] in ("r", "p")
    )
    views = tuple(
        View(
            row["schema"],
            row["name"],
            columns_of.get(row["oid"], ()),
            _view_query(row["definition"]),
            row["kind"] == "m",
            row["comment"],
            _options(row["options"]),
        )
        for row in relations
        if row["kind"] in ("v", "m")
    )
    sequences = tuple(
        Sequence(row["schema"], row["name"], row["type_name"], _sequence_options(row))
        for row in cur.execute(queries.SEQUENCES, selected)
        if include is None or include(row["schema"], row["name"])
    )
    enums = {
        (column.type.schema, column.type.name): Enum(column.type.schema, column.type.name, values)
        for columns in (*(t.columns for t in tables), *(v.columns for v in views))
        for column in columns
        if (values := column.type.enum_values) is not None
    }  # with those of other schemas that columns use
    for row in cur.execute(queries.ENUMS, selected):
        enums[(row["schema"], row["name"])] = Enum(row["schema"], row["name"], tuple(row["values"]))
    return Catalog(tables, tuple(enums[key] for key in sorted(enums)), views, sequences, default_schema)


def _options(reloptions: list[str]) -> tuple[tuple[str, str], ...]:
    """`["fillfactor=70"]` → `(("fillfactor", "70"),)`."""
    return tuple((key, value) for key, _, value in (option.partition("=") for option in reloptions))


def _view_query(definition: str) -> str:
    """`pg_get_viewdef` output without its leading space and closing semicolon."""
    return definition.strip().removesuffix(";")


def _sequence_options(row: Row) -> SequenceOptions:
    return SequenceOptions(
        start=row["seqstart"],
        increment=row["seqincrement"],
        min_value=row["seqmin"],
        max_value=row["seqmax"],
        cache=row["seqcache"],
        cycle=row["seqcycle"],
    )


def _by_table(rows: Iterable[Row]) -> defaultdict[int, list[Row]]:
    grouped: defaultdict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["table_oid"]].append(row)
    return grouped


def _table(
    row: Row, columns: tuple[Column, ...], constraints: list[Row], indexes: list[Row], policies: list[Row]
) -> Table:
    primary = next((c for c in constraints if c["kind"] == "p"), None)
    return Table(
        schema=row["schema"],
        name=row["name"],
        columns=columns,
        primary_key=tuple(primary["columns"]) if primary else (),
        primary_key_name=primary["name"] if primary else None,
        uniques=tuple(
            Unique(c["name"], tuple(c["columns"]), c["nulls_not_distinct"], c["deferrable"])
            for c in constraints
            if c["kind"] == "u"
        ),
        indexes=tuple(_index(i) for i in indexes),
        foreign_keys=tuple(_foreign_key(c) for c in constraints if c["kind"] == "f"),
        checks=tuple(Check(c["name"], c["expression"]) for c in constraints if c["kind"] == "c"),
        partitioned=row["kind"] == "p",
        comment=row["comment"],
        row_security=row["row_security"],
        policies=tuple(
            Policy(p["name"], p["permissive"], p["command"], tuple(p["roles"]), p["using"], p["with_check"])
            for p in policies
        ),
    )


def _column(row: Row, resolver: _TypeResolver) -> Column:
    identity = Identity(row["identity"] == "a", _sequence_options(row)) if row["identity"] else None
    generated = row["generated"] in ("s", "v")  # stored, virtual: either keeps its expression as the default
    return Column(
        name=row["name"],
        type=resolver.resolve(row["type_oid"], row["typmod"], row["dimensions"]),
        nullable=row["nullable"],
        default=None if generated else row["default"],
        identity=identity,
        serial=row["serial"],
        generated=row["default"] if generated else None,
        virtual=row["generated"] == "v",
        comment=row["comment"],
    )


def _foreign_key(row: Row) -> ForeignKey:
    return ForeignKey(
        name=row["name"],
        columns=tuple(row["columns"]),
        target_schema=row["target_schema"],
        target_table=row["target_table"],
        target_columns=tuple(row["target_columns"]),
        on_update=_FK_ACTIONS[row["on_update"]],
        on_delete=_FK_ACTIONS[row["on_delete"]],
        deferrable=row["deferrable"],
    )


def _index(row: Row) -> Index:
    keys = zip(row["expressions"], row["columns"], row["options"], row["opclasses"], strict=True)
    parts = tuple(
        IndexPart(
            expression, column, descending=bool(option & 1), nulls_first=bool(option & 2), opclass=opclass
        )
        for expression, column, option, opclass in keys
    )
    return Index(
        row["name"],
        row["unique"],
        row["method"],
        parts,
        row["predicate"],
        tuple(row["included"]),
        row["nulls_not_distinct"],
        _options(row["storage"]),
    )
