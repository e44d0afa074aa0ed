"""JSON whose numbers keep the digits they were written with.

Python's `json` reads `1.00499999999999999999` as the float 1.005 and writes
it back so: a numeric column would store another value than the client
sent. Here a number with a fraction or an exponent is read as an
`ExactFloat`, a float (what the request checks compare) that remembers its
text, and `dumps` writes that text back, so that the database reads the
digits the client wrote (jsonb keeps numbers exactly). Integers are exact
in Python already.
"""

from __future__ import annotations

import json
from typing import Any

from .contract import default_limits


class ExactFloat(float):
    """A JSON number with a fraction or an exponent, with the text it was written as."""

    text: str

    def __new__(cls, text: str) -> ExactFloat:
        number = super().__new__(cls, text)
        number.text = text
        return number


# Postgres's numeric (what jsonb stores numbers as) keeps at most this many digits after the point.
MAX_SCALE: int = default_limits()["maxNumberScale"]


class TooPreciseFloat(float):
    """A JSON number that needs more digits after the point than jsonb keeps (`1e-16384`): Python
    reads it as a float near zero, and the database refuses it, so the request checks refuse it."""


def scale(text: str) -> int:
    """The digits after the point that the number `text` is written with, its exponent applied."""
    mantissa, _, exponent = text.lower().partition("e")
    fraction = mantissa.partition(".")[2]
    return len(fraction) - int(exponent or "0")


def loads(body: bytes | str) -> Any:
    return json.loads(body, parse_float=ExactFloat)


def loads_noting_rounding(body: bytes | str) -> tuple[Any, bool]:
    """Plain JSON (what the request checks take), and whether a number in it is not what its float writes.

    `1.5` or `7.0` come back from `json.dumps` as they were sent, `1.50`,
    `1e2` or 21 significant digits do not: only then does a push need its
    mutations written by `dumps(loads(body))`.
    """
    rounded = False

    def number(text: str) -> float:
        nonlocal rounded
        value = float(text)
        if repr(value) != text:
            rounded = True
            if scale(text) > MAX_SCALE:
                return TooPreciseFloat(value)
        return value

    return json.loads(body, parse_float=number), rounded


class _Token(str):
    """Punctuation `dumps` writes as it is."""


_OPEN_OBJECT, _CLOSE_OBJECT, _OPEN_ARRAY, _CLOSE_ARRAY, _COMMA = map(_Token, "{}[],")


def dumps(value: Any) -> str:
    """Compact JSON of what `loads` read, ExactFloats as their text.

    Iterative, so that a value nested as deep as the parser allowed cannot
    overflow the stack here.
    """
    out: list[str] = []
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Token):
            out.append(item)
        elif isinstance(item, ExactFloat):
            out.append(item.text)
        elif isinstance(item, dict):
            pending.append(_CLOSE_OBJECT)
            for index, (key, member) in reversed(list(enumerate(item.items()))):
                pending += [member, _Token(json.dumps(key) + ":")] + ([_COMMA] if index else [])
            pending.append(_OPEN_OBJECT)
        elif isinstance(item, list):
            pending.append(_CLOSE_ARRAY)
            for index, member in reversed(list(enumerate(item))):
                pending += [member] + ([_COMMA] if index else [])
            pending.append(_OPEN_ARRAY)
        else:
            out.append(json.dumps(item))
    return "".join(out)
