"""The neutral model of a live database that code generation reads.

It holds what the catalog says and nothing about TypeScript, so that each
generator decides on its own how to spell a type, and so that the model can
be compared, hashed and snapshotted as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    expression: str


@dataclass(frozen=True)
class PgType:
    """A column type with domains resolved and array dimensions counted.

    `name` is the base type's name (`int4`, `varchar`, `mood`), `schema` its
    namespace, `sql` the type as `format_type()` spells it (`character
    varying(20)[]`), so that a generator without a builder for it can still
    write it out exactly.
    """

    name: str
    schema: str
    sql: str
    modifiers: tuple[int, ...] = ()
    dimensions: int = 0
    enum_values: tuple[str, ...] | None = None
    domain: str | None = None
    """The domain the column is declared with (its checks stay with it), if any."""
    domain_sql: str | None = None
    """The domain's name as `format_type()` spells it: qualified outside the search path."""
    domain_dimensions: int = 0
    """The column's array dimensions over its domain (`positive_int[]`: 1); the rest are the domain's."""

    @property
    def element_sql(self) -> str:
        """The SQL of one element: `sql` without its trailing `[]`s."""
        return self.sql.removesuffix("[]" * self.dimensions)


@dataclass(frozen=True)
class SequenceOptions:
    start: int
    increment: int
    min_value: int
    max_value: int
    cache: int
    cycle: bool


@dataclass(frozen=True)
class Identity:
    always: bool
    options: SequenceOptions


@dataclass(frozen=True)
class Column:
    name: str
    type: PgType
    nullable: bool
    default: str | None = None
    identity: Identity | None = None
    serial: bool = False
    generated: str | None = None
    """The expression of a generated column."""
    virtual: bool = False
    """A generated column computed when read (Postgres 18's default), not stored."""
    comment: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    target_schema: str
    target_table: str
    target_columns: tuple[str, ...]
    on_update: str
    on_delete: str
    deferrable: str | None = None
    """`DEFERRABLE` or `DEFERRABLE INITIALLY DEFERRED`, as SQL says it."""


@dataclass(frozen=True)
class Unique:
    name: str
    columns: tuple[str, ...]
    nulls_not_distinct: bool = False
    deferrable: str | None = None


@dataclass(frozen=True)
class IndexPart:
    """One key of an index: a column name, or an expression when `column` is None."""

    expression: str
    column: str | None
    descending: bool = False
    nulls_first: bool = False
    opclass: str | None = None
    """The operator class, when it is not the type's default (`text_pattern_ops`)."""


@dataclass(frozen=True)
class Index:
    name: str
    unique: bool
    method: str
    parts: tuple[IndexPart, ...]
    where: str | None = None
    include: tuple[str, ...] = ()
    """Columns stored in the index without being keys (`INCLUDE`)."""
    nulls_not_distinct: bool = False
    options: tuple[tuple[str, str], ...] = ()
    """Storage parameters (`WITH (fillfactor = 70)`), as Postgres keeps them: text."""


@dataclass(frozen=True)
class Policy:
    """A row-level security policy: `command` is all, select, insert, update or delete."""

    name: str
    permissive: bool
    command: str
    roles: tuple[str, ...]
    using: str | None = None
    with_check: str | None = None


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    primary_key_name: str | None = None
    uniques: tuple[Unique, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[Check, ...] = ()
    partitioned: bool = False
    comment: str | None = None
    row_security: bool = False
    policies: tuple[Policy, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class View:
    """A view or materialized view: typed columns over a query Postgres keeps the text of."""

    schema: str
    name: str
    columns: tuple[Column, ...]
    definition: str
    materialized: bool = False
    comment: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    """`WITH (security_invoker = true, …)`, as Postgres keeps them: text."""


@dataclass(frozen=True)
class Sequence:
    """A sequence of its own: the ones serial and identity columns own are part of those columns."""

    schema: str
    name: str
    type_name: str
    options: SequenceOptions


@dataclass(frozen=True)
class Enum:
    schema: str
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class SyncedTable:
    """A row of the DrizzleSync registry, or a table chosen by CLI flags."""

    schema: str
    name: str
    scope: str | None = None


@dataclass(frozen=True)
class Catalog:
    """Tables, views, sequences and enums of the introspected schemas, in a stable order."""

    tables: tuple[Table, ...]
    enums: tuple[Enum, ...]
    views: tuple[View, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    default_schema: str = "public"
