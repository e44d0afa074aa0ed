"""Column defaults as Postgres prints them, read into something drizzle can say.

A default is either a literal (written as a TypeScript value, and on SQLite
as the same constant), one of the two functions drizzle has words for
(`defaultNow`, `defaultRandom`), or any other expression, kept as `sql```
on the Postgres side and left to the server on the SQLite side.
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
_NOW = {"now()", "CURRENT_TIMESTAMP", "statement_timestamp()", "transaction_timestamp()"}
_RANDOM_UUID = {"gen_random_uuid()", "uuid_generate_v4()"}

Kind = Literal["literal", "now", "random", "sql"]


@dataclass(frozen=True)
class Default:
    kind: Kind
    ts: str = ""
    """The TypeScript expression: a literal value; the SQL text for `sql` and `now` defaults."""


def read_default(expression: str, mapping: Mapping, is_array: bool) -> Default:
    """Classify one `pg_get_expr` default for a column of the given mapping."""
    if expression in _NOW and mapping.pg.function == "timestamp":
        return Default("now", expression)
    if expression in _RANDOM_UUID and mapping.pg.function == "uuid":
        return Default("random")
    literal = None if is_array else _literal(expression, mapping.codec)
    if literal is not None:
        return Default("literal", literal)
    return Default("sql", expression)


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
