"""The Python host reads integers as Python's int() reads them now: its digit limit is read per
request (an application may set it after import), and 0 means none."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from alembic_drizzlesync.sync import exact_json
from alembic_drizzlesync.sync.protocol import read_json


@pytest.fixture
def int_digits() -> Iterator[None]:
    before = sys.get_int_max_str_digits()
    yield
    sys.set_int_max_str_digits(before)


def test_no_digit_limit_reads_every_integer_as_an_int(int_digits: None) -> None:
    sys.set_int_max_str_digits(0)
    payload, rounded = read_json(b'{"protocol": 1, "n": ' + b"7" * 5_000 + b"}")
    assert (payload["protocol"], payload["n"], rounded) == (1, int("7" * 5_000), False)


def test_a_limit_lowered_after_import_keeps_longer_integers_exact(int_digits: None) -> None:
    sys.set_int_max_str_digits(640)
    body = b'{"n": ' + b"7" * 1_000 + b"}"
    payload, rounded = read_json(body)
    assert (payload["n"], rounded) == (sys.float_info.max, True)  # what the checks read
    assert exact_json.dumps(exact_json.loads(body)) == body.decode().replace(" ", "")
