"""Generated names: valid, readable, collision-free."""

from __future__ import annotations

import pytest

from alembic_drizzlesync.codegen.naming import camel_case, find_free_name, identifier, property_key


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("created_at", "createdAt"),
        ("user name", "userName"),
        ("Mixed Case Table", "mixedCaseTable"),
        ("camelCase", "camelCase"),
        ("URL", "url"),
        ("it's", "its"),
        ('say "hi"', "sayHi"),
        ("größe", "größe"),
        ("_", "_"),
    ],
)
def test_camel_case(name: str, expected: str) -> None:
    assert camel_case(name) == expected


def test_identifiers_are_valid_javascript() -> None:
    assert identifier("123abc") == "_123abc"
    assert identifier("a-b c") == "a_b_c"
    assert identifier("größe") == "größe"
    assert property_key("123abc") == '"123abc"'
    assert property_key("$ok") == "$ok"


def test_find_free_name_suffixes_later_names_and_avoids_reserved_words() -> None:
    taken: set[str] = {"integer"}
    assert [find_free_name(n, taken) for n in ("users", "users", "class", "integer", "t1", "t1")] == [
        "users",
        "users2",
        "class_",
        "integer2",
        "t1",
        "t1_2",
    ]


def test_find_free_name_can_ignore_case_like_sqlite() -> None:
    taken: set[str] = set()
    first = find_free_name("Users", taken, reserved=(), fold=str.lower)
    second = find_free_name("users", taken, reserved=(), fold=str.lower)
    assert (first, second) == ("Users", "users2")
