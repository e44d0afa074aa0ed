"""Names in generated code: valid, readable, and never two things with one name.

Every name is handed out by `find_free_name` against a set of names already
taken, so a collision (two schemas with a `users` table, a column `userId`
next to `user_id`, a table called `integer`) is resolved the same way
everywhere: by a numeric suffix on the later one, in a stable order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

JS_RESERVED = frozenset(
    """
    arguments await break case catch class const continue debugger default delete do else enum eval
    export extends false finally for function if implements import in Infinity instanceof interface
    let NaN new null package private protected public return static super switch this throw true try
    typeof undefined var void while with yield
    """.split()
)
"""Words that cannot name a `const` in a TypeScript module."""

TABLE_MEMBERS = frozenset(
    {"_", "$inferSelect", "$inferInsert", "$columns", "getSQL", "enableRLS", "__proto__"}
)
"""Keys no column may take: what drizzle puts on a table object, and the one an object literal swallows."""

_WORD = re.compile(r"[^\W_]+")
_QUOTES = re.compile(r"['\"`’]")


def is_identifier(name: str) -> bool:
    return name.replace("$", "_").isidentifier()


def camel_case(name: str) -> str:
    """`user name` → `userName`, `Mixed_Case` → `mixedCase`; quotes vanish, letters keep accents."""
    words: list[str] = _WORD.findall(_QUOTES.sub("", name))
    if not words:
        return name
    first = words[0].lower() if words[0].isupper() else words[0][0].lower() + words[0][1:]
    return first + "".join(word[0].upper() + word[1:] for word in words[1:])


def identifier(name: str) -> str:
    """`name` made into a valid identifier: other characters become `_`, a leading digit gets one."""
    cleaned = "".join(ch if is_identifier(f"_{ch}") else "_" for ch in name) or "_"
    return cleaned if is_identifier(cleaned) else f"_{cleaned}"


def find_free_name(
    base: str, taken: set[str], *, reserved: Iterable[str] = JS_RESERVED, fold: Callable[[str], str] = str
) -> str:
    """Claim `base`, or `base_` if it is reserved, with a counter appended while it is taken.

    `fold` says when two names are the same: `str.lower` for SQLite, whose
    identifiers ignore case.
    """
    name = f"{base}_" if base in reserved else base
    candidate, counter = name, 1
    while fold(candidate) in taken:
        counter += 1
        candidate = f"{name}_{counter}" if name[-1:].isdigit() else f"{name}{counter}"
    taken.add(fold(candidate))
    return candidate


def ts_string(value: str) -> str:
    """A TypeScript string literal: JSON's escaping is a subset of what JS accepts."""
    return json.dumps(value, ensure_ascii=False)


def property_key(name: str) -> str:
    """An object key as written in source: bare when it can be, quoted otherwise."""
    return name if is_identifier(name) else ts_string(name)
