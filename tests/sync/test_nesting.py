"""How deep a body may nest: the walk that checks a parsed body, and the reading that stands in for
it where Python's parser gives up (some 900 levels down, where the Worker host's reads on), name the
same first array or object past the limit, through objects, keys that hold JSON's punctuation, and
arrays with items before it; and past the parser, a body is answered as the Worker host answers
it: malformed wherever it breaks, else the first value before that point the database cannot store."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alembic_drizzlesync.sync.contract import field_path
from alembic_drizzlesync.sync.deep_json import first_too_deep
from alembic_drizzlesync.sync.errors import SyncError
from alembic_drizzlesync.sync.protocol import MAX_DEPTH, parse_json, read_json


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
    deep = first_too_deep(body.decode(), MAX_DEPTH)
    assert deep is not None and walked.path == field_path(deep.steps)
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


def test_past_the_parser_a_body_that_breaks_off_is_malformed() -> None:
    """Found by tests/conformance/test_fuzz.py: the Python host named the depth of a body that is
    not JSON at all, where the Worker host, whose parser reads on, answered it malformed."""
    body = shape(5_000)[:-40]
    assert refusal(body).code == "malformed_json"
    with pytest.raises(SyncError) as raised:
        read_json(body)
    assert raised.value.code == "malformed_json"
    assert first_too_deep(shape(5_000).decode(), MAX_DEPTH) is not None
    with pytest.raises(ValueError):
        first_too_deep(body.decode(), MAX_DEPTH)


def test_past_the_parser_what_comes_first_in_the_document_is_answered() -> None:
    """A string the database cannot store before the depth is refused first, as the walk does."""
    body = shape(5_000).replace(b'"first": [1,', b'"first": ["nul \\u0000", 1,', 1)
    error = refusal(body)
    assert (error.code, error.path) == ("invalid_string", "first[0]")
    with pytest.raises(SyncError) as raised:
        read_json(body)
    assert (raised.value.code, raised.value.path) == ("invalid_string", "first[0]")


PIECES = ["[", "]", "{", "}", ",", ":", " ", '"a"', '"\\u0000"', "1", "-", "0.5e3", "null", "NaN", "[[", "]]"]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def near_json(draw: st.DrawFn) -> str:
    """A JSON text, as it is or with one piece cut out, put in, or put in place of another."""
    text = json.dumps(draw(VALUES), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    at = draw(st.integers(0, len(text)))
    cut = draw(st.integers(0, 2))
    return text[:at] + draw(st.sampled_from(["", *PIECES])) + text[at + cut :]


@settings(max_examples=3000, deadline=None)
@given(near_json())
def test_the_reading_past_the_parser_takes_what_json_takes(text: str) -> None:
    """`deep_json` stands in for `json` past its recursion: it must take exactly the texts `json`
    takes (a trailing comma taken, or `[}` refused as another text, would answer a body that is not
    JSON with its depth, or the reverse)."""
    try:
        json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            first_too_deep(text, MAX_DEPTH)
    else:
        assert first_too_deep(text, MAX_DEPTH) is None
