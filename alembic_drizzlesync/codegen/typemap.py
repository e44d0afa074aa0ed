"""The type map: one Postgres column type to its drizzle builders, TypeScript type and wire codec.

It is the table of docs/codegen.md ("Type map") written as code. The rule it keeps: for a
column the pg-core and sqlite-core builders infer the same TypeScript type
(`Mapping.same_type`); the one exception, and the values that lose
precision on the way, are listed in docs/codegen.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.model import Column, PgType
from .naming import ts_string


@dataclass(frozen=True)
class CustomType:
    """A `customType` the generated file defines, for a type drizzle has no builder for."""

    sql: str
    ts_type: str
    note: str
    """The doc comment of its definition: why it is custom."""
    driver_type: str | None = None
    """What drivers may hand over instead of `ts_type`, normalised by `from_driver`."""
    from_driver: str | None = None
    to_driver: str | None = None
    imports: tuple[str, ...] = ()
    """What its conversions use from drizzle-orm/pg-core."""


@dataclass(frozen=True)
class Builder:
    """A drizzle column builder: a function imported from drizzle (or a custom type) plus its config."""

    function: str
    config: tuple[tuple[str, str], ...] = ()
    custom: CustomType | None = None
    enum: tuple[str, str] | None = None


@dataclass(frozen=True)
class Mapping:
    pg: Builder
    sqlite: Builder
    ts_type: str
    codec: str
    sqlite_type: str | None = None
    """A `$type<…>()` for the SQLite column, where its builder alone would infer less."""
    pg_arrays: int = 0
    """How many `.array()`s follow the pg-core builder."""

    @property
    def same_type(self) -> bool:
        """Do both drizzle schemas infer the same TypeScript type for the column?"""
        return self.sqlite_type in (None, self.ts_type)


# Wire codecs, named after what the client stores: the runtime converts with these.
INT, FLOAT, TEXT, BOOL, JSON, TIMESTAMP, BYTES = "int", "float", "text", "bool", "json", "timestamp", "bytes"

_SQLITE_TEXT = Builder("text")
_SQLITE_JSON = Builder("text", (("mode", '"json"'),))
BLOB = CustomType("blob", "Uint8Array", "Blobs as Uint8Array: sqlite-core's blob() gives Node's Buffer.")
"""The one custom type of the SQLite side."""
SQLITE_BYTES = Builder("bytes", custom=BLOB)
_PG_BYTEA = Builder(
    "bytea",
    custom=CustomType(
        "bytea", "Uint8Array", "Postgres `bytea` as Uint8Array: pg-core has no builder for it."
    ),
)

# node-postgres parses these types itself; their custom types turn what it returns back into text.
_DRIVER_SHAPES = {
    "oid": ("string | number", "(value) => String(value)"),
    "circle": (
        "string | { x: number; y: number; radius: number }",
        '(value) => (typeof value === "string" ? value : `<(${value.x},${value.y}),${value.radius}>`)',
    ),
}

_INTEGERS = {"int2": "smallint", "int4": "integer", "int8": "bigint"}
_SERIALS = {"int2": "smallserial", "int4": "serial", "int8": "bigserial"}
_STRING_BUILDERS = frozenset({"text", "uuid", "inet", "cidr", "macaddr", "macaddr8"})
"""Types with a pg-core builder of their own name that reads and writes strings."""
_JSON_LIKE = {
    "json": ("json", "unknown"),
    "jsonb": ("jsonb", "unknown"),
    "point": ("point", "{ x: number; y: number }"),
    "line": ("line", "{ a: number; b: number; c: number }"),
}
_JSON_CONFIG = {"point": (("mode", '"xy"'),), "line": (("mode", '"abc"'),)}
_INTERVAL_FIELDS = (
    "year to month",
    "day to hour",
    "day to minute",
    "day to second",
    "hour to minute",
    "hour to second",
    "minute to second",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
)


def _config(**options: str | int | bool | None) -> tuple[tuple[str, str], ...]:
    """Builder config as TS expressions, leaving out options at their default (None)."""
    return tuple(
        (key, ts_string(value) if isinstance(value, str) else str(value).lower())
        for key, value in options.items()
        if value is not None
    )


def _first(modifiers: tuple[int, ...]) -> int | None:
    return modifiers[0] if modifiers else None


def _scalar(column: Column, type_: PgType, timestamp_mode: str) -> Mapping:
    """The mapping of one element (arrays are built on top of it)."""
    name, mods = type_.name, type_.modifiers
    if type_.enum_values is not None:
        values = ", ".join(ts_string(v) for v in type_.enum_values)
        ts_type = " | ".join(ts_string(v) for v in type_.enum_values)
        pg = Builder(type_.name, enum=(type_.schema, type_.name))
        return Mapping(pg, Builder("text", (("enum", f"[{values}]"),)), ts_type, TEXT)
    if name in _INTEGERS:
        builders = _SERIALS if column.serial else _INTEGERS
        config = _config(mode="number") if name == "int8" else ()
        return Mapping(Builder(builders[name], config), Builder("integer"), "number", INT)
    if name in ("float4", "float8"):
        builder = "real" if name == "float4" else "doublePrecision"
        return Mapping(Builder(builder), Builder("real"), "number", FLOAT)
    if name == "numeric":
        precision, scale = mods if mods else (None, None)
        return Mapping(
            Builder("numeric", _config(precision=precision, scale=scale)), _SQLITE_TEXT, "string", TEXT
        )
    if name == "bool":
        return Mapping(Builder("boolean"), Builder("integer", (("mode", '"boolean"'),)), "boolean", BOOL)
    if name in ("varchar", "bpchar"):
        builder = "varchar" if name == "varchar" else "char"
        return Mapping(Builder(builder, _config(length=_first(mods))), _SQLITE_TEXT, "string", TEXT)
    if name in _STRING_BUILDERS:
        return Mapping(Builder(name), _SQLITE_TEXT, "string", TEXT)
    if name in _JSON_LIKE:
        builder, ts_type = _JSON_LIKE[name]
        sqlite_type = None if ts_type == "unknown" else ts_type
        return Mapping(Builder(builder, _JSON_CONFIG.get(name, ())), _SQLITE_JSON, ts_type, JSON, sqlite_type)
    if name in ("timestamp", "timestamptz"):
        return _timestamp(type_, timestamp_mode)
    if name == "date":
        return Mapping(Builder("date", _config(mode="string")), _SQLITE_TEXT, "string", TEXT)
    if name in ("time", "timetz"):
        config = _config(precision=_first(mods), withTimezone=True if name == "timetz" else None)
        return Mapping(Builder("time", config), _SQLITE_TEXT, "string", TEXT)
    if name == "interval":
        fields = next((f for f in _INTERVAL_FIELDS if f"interval {f}" in type_.element_sql), None)
        return Mapping(
            Builder("interval", _config(fields=fields, precision=_first(mods))), _SQLITE_TEXT, "string", TEXT
        )
    if name == "bytea":
        return Mapping(_PG_BYTEA, SQLITE_BYTES, "Uint8Array", BYTES)
    note = f"Postgres `{type_.element_sql}`, read and written as text: pg-core has no builder for it."
    custom = CustomType(type_.element_sql, "string", note, *_DRIVER_SHAPES.get(name, (None, None)))
    return Mapping(Builder(name, custom=custom), _SQLITE_TEXT, "string", TEXT)


def _timestamp(type_: PgType, timestamp_mode: str) -> Mapping:
    config = _config(
        precision=_first(type_.modifiers),
        withTimezone=True if type_.name == "timestamptz" else None,
        mode=timestamp_mode,
    )
    if timestamp_mode == "string":
        return Mapping(Builder("timestamp", config), _SQLITE_TEXT, "string", TEXT)
    sqlite = Builder("integer", (("mode", '"timestamp_ms"'),))
    return Mapping(Builder("timestamp", config), sqlite, "Date", TIMESTAMP)


def map_element(column: Column, timestamp_mode: str) -> Mapping:
    """The mapping of one element of `column`: timestamps in arrays use string mode (see `map_column`)."""
    type_ = column.type
    if type_.dimensions and type_.name in ("timestamp", "timestamptz"):
        timestamp_mode = "string"
    return _scalar(column, type_, timestamp_mode)


def array_ts_type(element: Mapping, dimensions: int) -> str:
    """The TypeScript type of an array of `element`s: `("a" | "b")[][]`."""
    if not dimensions:
        return element.ts_type
    wrapped = f"({element.ts_type})" if "|" in element.ts_type else element.ts_type
    return wrapped + "[]" * dimensions


def map_column(column: Column, timestamp_mode: str) -> Mapping:
    """The builders, TypeScript type and codec of `column`, whose type is taken as its base type.

    Arrays are JSON on SQLite. Their elements must then be JSON values, so
    timestamp arrays use string mode on both sides, and bytea arrays (hex
    strings in JSON) are the one array that differs in type.
    """
    element = map_element(column, timestamp_mode)
    dims = column.type.dimensions
    if not dims:
        return element
    ts_type = array_ts_type(element, dims)
    stored_type = "string" + "[]" * dims if element.codec == BYTES else ts_type
    return Mapping(element.pg, _SQLITE_JSON, ts_type, JSON, sqlite_type=stored_type, pg_arrays=dims)
