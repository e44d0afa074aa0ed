"""How deep a body may nest: the walk that checks a parsed body, and the scan that stands in for it
where Python's parser gives up (some 900 levels down), name the same first array or object past
the limit, through objects, keys that hold JSON's punctuation, and arrays with items before it."""

from __future__ import annotations

import json

import pytest

from alembic_drizzlesync.sync.errors import SyncError
from alembic_drizzlesync.sync.protocol import MAX_DEPTH, nested_too_deep, parse_json


def shape(depth: int) -> bytes:
    """Objects and arrays in turn, `depth` levels in all, with items before the way down at each:
    strings that hold JSON's punctuation, and near the top, arrays and objects that close again."""
    text = "0"
    for level in range(depth - 1, 0, -1):
        if level % 2:
            text = f'{{"a,]": 1, "b\\"}}": "[x]", "level {level}": {text}}}'
        else:
            text = f'["}}", 3, {text}]'
    return f'{{"first": [1, {{"x": [[], {{}}]}}], "way": {text}}}'.encode()


def refusal(body: bytes) -> SyncError:
    with pytest.raises(SyncError) as raised:
        parse_json(body)
    return raised.value


def test_the_walk_and_the_scan_name_the_same_place() -> None:
    body = shape(MAX_DEPTH + 20)
    walked = refusal(body)
    assert (walked.code, walked.status) == ("nesting_too_deep", 400)
    assert walked.path == nested_too_deep(body, []).path
    assert walked.path is not None and walked.path.startswith("way.level 1[2].level 3[2].level 5")
    assert walked.path.count("[2]") == (MAX_DEPTH - 1) // 2


def test_past_the_parser_the_scan_answers() -> None:
    body = shape(5_000)
    with pytest.raises(RecursionError):
        json.loads(body)
    scanned = refusal(body)
    assert scanned.code == "nesting_too_deep"
    assert scanned.path == refusal(shape(MAX_DEPTH + 1)).path


def test_the_limit_itself_is_read() -> None:
    assert parse_json(shape(MAX_DEPTH))["first"][0] == 1
