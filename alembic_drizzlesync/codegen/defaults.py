"""Column defaults as Postgres prints them, read into something drizzle can say.

A default is either a literal (written as a TypeScript value, and on SQLite
as the same constant), one of the two functions drizzle has words for
(`defaultNow`, `defaultRandom`), an array literal, or any other expression,
kept as `sql``` on the Postgres side. Arrays and other expressions are left
to the server on the SQLite side.

drizzle-kit compares a default by the text it would write with the text it
reads back from Postgres, so each is written in the form that reads back
the same: a number Postgres keeps quoted (`'-1'::integer`) as ``sql`'-1'` ``,
an array Postgres prints as `'{a,b}'::text[]` as `["a", "b"]`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from .typemap import BOOL, FLOAT, INT, JSON, TEXT, Mapping

_CAST_LITERAL = re.compile(r"^'((?:[^']|'')*)'(?:::[\w .\"\[\]()]+)?$")
_NUMBER = re.compile(r"^\(?(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\)?(?:::[\w ]+)?$")
_ARRAY = re.compile(r"^'\{([^'\"{}\\\s]*)\}'::.+\[\]$")
"""A one-dimensional array literal whose elements Postgres prints unquoted: no quote, brace, space."""
_JS_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?$")
"""A number JavaScript prints back as the same text (so not `1.50`, `1e+20`)."""
_NOW = {"now()", "CURRENT_TIMESTAMP", "statement_timestamp()", "transaction_timestamp()"}
_RANDOM_UUID = {"gen_random_uuid()", "uuid_generate_v4()"}

Kind = Literal["literal", "now", "random", "array", "sql"]


@dataclass(frozen=True)
class Default:
    kind: Kind
    ts: str = ""
    """The TypeScript expression: a literal value or array; the SQL text for `sql` and `now` defaults."""
    quoted: str | None = None
    """A number as Postgres keeps it, quoted (`'-1'`): drizzle-kit reads that text back, not `-1`."""


def read_default(expression: str, mapping: Mapping, is_array: bool) -> Default:
    """Classify one `pg_get_expr` default for a column of the given mapping."""
    if expression in _NOW and mapping.pg.function == "timestamp":
        return Default("now", expression)
    if expression in _RANDOM_UUID and mapping.pg.function == "uuid":
        return Default("random")
    if is_array:
        array = _array(expression, mapping)
        return Default("array", array) if array is not None else Default("sql", expression)
    literal = _literal(expression, mapping.codec)
    if literal is None:
        return Default("sql", expression)
    quoted = _CAST_LITERAL.match(expression)
    if quoted and mapping.codec in (INT, FLOAT):
        return Default("literal", literal, quoted=f"'{quoted.group(1)}'")
    return Default("literal", literal)


def _array(expression: str, mapping: Mapping) -> str | None:
    """`'{1,2}'::integer[]` as `[1, 2]`, for numbers, booleans, strings and enum labels; else None.

    Only elements Postgres prints bare: drizzle-kit splits the literal on
    commas without reading quotes, so a quoted element never reads back.
    """
    found = _ARRAY.match(expression)
    if found is None or mapping.pg_arrays != 1:
        return None
    elements = found.group(1).split(",") if found.group(1) else []
    if any(element.upper() == "NULL" for element in elements):
        return None
    element_type = mapping.ts_type.removesuffix("[]").strip("()")
    if element_type == "number" and all(_is_js_number(e) for e in elements):
        values = elements
    elif element_type == "boolean" and all(e in ("t", "f") for e in elements):
        values = ["true" if e == "t" else "false" for e in elements]
    elif element_type == "string" or element_type.startswith('"'):  # text-like, or the labels of an enum
        values = [json.dumps(e, ensure_ascii=False) for e in elements]
    else:
        return None
    return f"[{', '.join(values)}]"


def _is_js_number(text: str) -> bool:
    return _JS_NUMBER.match(text) is not None and abs(Decimal(text)) <= 2**53


def _literal(expression: str, codec: str) -> str | None:
    quoted = _CAST_LITERAL.match(expression)
    text = quoted.group(1).replace("''", "'") if quoted else None
    number = _NUMBER.match(text if text is not None else expression)
    if codec in (INT, FLOAT) and number:
        if codec == INT:
            return str(int(Decimal(number.group(1))))
        value = float(number.group(1))
        return str(int(value)) if value.is_integer() else repr(value)
    if codec == BOOL and expression in ("true", "false"):
        return expression
    if codec == TEXT and text is not None:
        return json.dumps(text, ensure_ascii=False)
    if codec == TEXT and number:
        return json.dumps(number.group(1))
    if codec == JSON and text is not None:
        try:
            return json.dumps(json.loads(text), ensure_ascii=False, separators=(", ", ": "))
        except ValueError:
            return None
    return None
