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
import sys
from typing import Any

from .contract import default_limits


class ExactFloat(float):
    """A JSON number with a fraction or an exponent, with the text it was written as."""

    text: str

    def __new__(cls, text: str) -> ExactFloat:
        number = super().__new__(cls, text)
        number.text = text
        return number


LIMITS = default_limits()
MAX_SCALE: int = LIMITS["maxNumberScale"]
MAX_DIGITS: int = LIMITS["maxNumberDigits"]
MAX_EXPONENT: int = LIMITS["maxNumberExponent"]
"""What Postgres's numeric, and so jsonb, holds: digits after and before the point, and the
exponent it reads (it refuses `0e1073741823` though the value is zero)."""


class UnstorableNumber(float):
    """A JSON number jsonb cannot hold, read as zero with why, so that the request checks refuse it
    at its path (the database would fail the whole request)."""

    message: str

    def __new__(cls, message: str) -> UnstorableNumber:
        number = super().__new__(cls, 0.0)
        number.message = message
        return number


class LongInteger(ExactFloat):
    """An integer longer than Python's int() reads, kept as its text, which `dumps` writes back for
    jsonb to store exactly (its value as a float: the largest of its sign)."""

    # Not ExactFloat's signature's result: float(text) would be inf.
    def __new__(cls, text: str) -> LongInteger:
        number = float.__new__(cls, -sys.float_info.max if text.startswith("-") else sys.float_info.max)
        number.text = text
        return number


def _read_by_int(text: str) -> bool:
    """Whether Python's int() reads the integer `text` (4,300 digits unless configured; 0: any)."""
    limit = sys.get_int_max_str_digits()
    return not limit or len(text) - text.startswith("-") <= limit


def _beyond_digits(text: str) -> UnstorableNumber | None:
    if len(text) - text.startswith("-") > MAX_DIGITS:
        return UnstorableNumber(f"numbers may have at most {MAX_DIGITS} digits before the point")
    return None


def _exponent(text: str) -> int:
    """The exponent of the number `text`; one too long for `int` as a bound past every limit."""
    written = text.lower().partition("e")[2]
    digits = written.lstrip("+-").lstrip("0")
    if len(digits) > 12:
        return -(10**12) if written.startswith("-") else 10**12
    return int(written or "0")


def scale(text: str) -> int:
    """The digits after the point that the number `text` is written with, its exponent applied."""
    fraction = text.lower().partition("e")[0].partition(".")[2]
    return len(fraction) - _exponent(text)


def unstorable(text: str) -> UnstorableNumber | None:
    """Why jsonb cannot hold the number `text` (one with a fraction or an exponent), if it cannot."""
    if _exponent(text) > MAX_EXPONENT:
        return UnstorableNumber(f"numbers may have an exponent of at most {MAX_EXPONENT}")
    if scale(text) > MAX_SCALE:
        return UnstorableNumber(f"numbers may have at most {MAX_SCALE} digits after the point")
    return None


def _integer(text: str) -> int | float:
    refused = _beyond_digits(text)
    if refused is not None:
        return refused
    return int(text) if _read_by_int(text) else LongInteger(text)


def loads(body: bytes | str) -> Any:
    return json.loads(body, parse_float=ExactFloat, parse_int=_integer)


def loads_noting_rounding(body: bytes | str) -> tuple[Any, bool]:
    """Plain JSON (what the request checks take), and whether a number in it is not what its float writes.

    `1.5` or `7.0` come back from `json.dumps` as they were sent, `1.50`,
    `1e2`, 21 significant digits or an integer longer than Python reads do
    not: only then does a push need its mutations written by `dumps(loads(body))`.
    """
    rounded = False

    def number(text: str) -> float:
        nonlocal rounded
        value = float(text)
        if repr(value) != text:
            rounded = True
            refused = unstorable(text)
            return value if refused is None else refused
        return value

    def integer(text: str) -> int | float:
        # An integer longer than int() reads stands as the largest float of its sign, which the
        # request checks take as they take the Worker's (a plain float: the schema validator reads
        # no subclass); its digits come back from `loads`.
        nonlocal rounded
        value = _integer(text)
        if isinstance(value, int):
            return value
        rounded = True
        return float(value) if isinstance(value, LongInteger) else value

    return json.loads(body, parse_float=number, parse_int=integer), rounded


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
