"""Domains: a `customType` named for each, typed as its base type.

drizzle-kit compares a column's SQL type by name, so a domain column
written with its base type's builder (`integer()`) looks altered to it, and
the domain's checks, repeated as table checks, look added. A `customType`
whose `dataType` is the domain keeps both where Postgres has them.

The custom type must then do what the base type's builder does to values.
Postgres describes a domain's values by its base type, so node-postgres
parses them as it parses the base type; in an array *of* a domain they
arrive as text. The conversions below accept either.
"""

from __future__ import annotations

from ..catalog.model import Column, PgType
from .typemap import TIMESTAMP, Builder, CustomType, Mapping, array_ts_type, map_element

_NUMBER = ("number | string", "(value) => Number(value)", None)
_CONVERSIONS: dict[str, tuple[str, str | None, str | None]] = {
    "int2": _NUMBER,
    "int4": _NUMBER,
    "int8": _NUMBER,
    "float4": _NUMBER,
    "float8": _NUMBER,
    "bool": ("boolean | string", '(value) => value === true || value === "t"', None),
    "json": ("unknown", None, "(value) => JSON.stringify(value)"),
    "jsonb": ("unknown", None, "(value) => JSON.stringify(value)"),
    "point": (
        "{ x: number; y: number }",
        None,
        "(value) => `(${value.x},${value.y})`",
    ),
    "line": (
        "string",
        "(value) => {\n"
        '    const [a, b, c] = value.slice(1, -1).split(",").map(Number);\n'
        "    return { a, b, c };\n"
        "  }",
        "(value) => `{${value.a},${value.b},${value.c}}`",
    ),
}
"""Per base type: what the driver hands over, and how to read and write it (None: as it is)."""

_TIMESTAMP_TO_DRIVER = "(value) => value.toISOString()"
_PARSE_ARRAY = "parsePgArray"
_FROM_ARRAY_TEXT = f'(value) => (typeof value === "string" ? {_PARSE_ARRAY}(value) : value)'
"""An array domain's values: parsed by node-postgres when it knows the base array type, else text."""


def domain_mapping(column: Column, base: Mapping, timestamp_mode: str) -> Mapping:
    """`base`, the mapping of a domain column's base type, with the domain's own pg-core builder."""
    type_ = column.type
    assert type_.domain is not None and type_.domain_sql is not None
    element = map_element(column, timestamp_mode)
    inner = type_.dimensions - type_.domain_dimensions
    data = array_ts_type(element, inner)
    over = type_.sql.removesuffix("[]" * type_.domain_dimensions)
    note = f"Postgres domain `{type_.domain}` over `{over}`: its checks stay on the domain."
    driver: str | None
    from_driver: str | None
    to_driver: str | None
    if inner:
        driver, from_driver, to_driver = f"{data} | string", _FROM_ARRAY_TEXT, None
        imports: tuple[str, ...] = (_PARSE_ARRAY,)
    else:
        driver, from_driver, to_driver = _scalar_conversion(type_, element)
        imports = ()
    custom = CustomType(type_.domain_sql, data, note, driver, from_driver, to_driver, imports)
    pg = Builder(type_.domain, custom=custom)
    return Mapping(pg, base.sqlite, base.ts_type, base.codec, base.sqlite_type, type_.domain_dimensions)


def _scalar_conversion(type_: PgType, element: Mapping) -> tuple[str | None, str | None, str | None]:
    if element.codec == TIMESTAMP:  # date mode: the driver hands over the text
        zone = "value" if type_.name == "timestamptz" else "`${value}+0000`"
        return "string", f"(value) => new Date({zone})", _TIMESTAMP_TO_DRIVER
    custom = element.pg.custom
    if custom is not None:  # a type without a builder: its own custom type's conversion
        return custom.driver_type, custom.from_driver, None
    if type_.schema != "pg_catalog":  # an enum or extension type that happens to be called `point`
        return None, None, None
    return _CONVERSIONS.get(type_.name, (None, None, None))
