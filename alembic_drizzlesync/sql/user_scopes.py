"""The `user_scopes` function made from a project's `user_scopes_query`.

The query is written with named parameters, `:user_id` (text) and `:claims`
(the verified token claims, jsonb), as users write queries for SQLAlchemy's
`text()`. The function takes them as `$1` and `$2`: positional references,
unlike parameter names, cannot be captured by a column of the same name
(`WHERE user_id = :user_id` compiled to names would compare the column with
itself). Only code is rewritten; string literals, quoted identifiers, dollar
quotes, comments and `::` casts are copied as they are.

`:user_uuid` is the user id as a `uuid`, or null when it is not one, for
tables keyed by uuid: `WHERE user_id = :user_uuid` is served by the table's
index on `user_id`. The obvious alternatives are not: `user_id::text =
:user_id` casts every row's uuid to text, a scan of every user's rows on each
push and pull (47 ms of server CPU an idle poll with 100,000 memberships,
docs/performance.md, "The scopes query at scale"), and `user_id = :user_id::uuid`
raises on an id that is not a uuid and, where the planner scans a small table,
parses the id again for each row. So the id is checked by its shape (36
characters, hex digits and four hyphens where `uuid_out` puts them, either
case), cast only then, and in a subquery of its own, which runs once a call.
"""

from __future__ import annotations

import re

from ..config import ROOT_KEY, ConfigError
from ..quoting import literal
from ..templating import render
from .statements import split_statements

USER_UUID = (
    "(SELECT CASE WHEN pg_catalog.translate(pg_catalog.lower($1), '0123456789abcdef', '0000000000000000')"
    " OPERATOR(pg_catalog.=) '00000000-0000-0000-0000-000000000000'"
    " THEN pg_catalog.lower($1)::pg_catalog.uuid END)"
)
"""`:user_uuid`: the shape test leaves nothing `uuid_in` could refuse in the text it casts."""

PARAMETERS = {"user_id": "$1", "claims": "$2", "user_uuid": USER_UUID}
"""The named parameters a user_scopes_query may use, and what they compile to."""

_KEY = f"{ROOT_KEY}.user_scopes_query"

# What is copied as it is; whatever follows a ':' outside of these is a parameter.
_VERBATIM = re.compile(
    r"""
      [Ee]'(?:[^'\\]|\\.|'')*'        # escape string
    | '(?:[^']|'')*'                  # string
    | "(?:[^"]|"")*"                  # quoted identifier
    | (?P<dollar>\$(?:[A-Za-z_]\w*)?\$).*?(?P=dollar)   # dollar-quoted string
    | --[^\n]*                        # line comment
    | /\*.*?\*/                       # block comment
    | ::                              # cast
    """,
    re.VERBOSE | re.DOTALL,
)
_PARAMETER = re.compile(r":([A-Za-z_]\w*)")


def compile_query(query: str) -> str:
    """The query with its named parameters as the function's positional ones.

    Raises `ConfigError` for a parameter other than `:user_id`, `:claims` and
    `:user_uuid`, naming the configuration key.
    """
    compiled: list[str] = []
    position = 0
    while position < len(query):
        verbatim = _VERBATIM.match(query, position)
        if verbatim:
            compiled.append(verbatim.group())
            position = verbatim.end()
            continue
        parameter = _PARAMETER.match(query, position)
        if parameter:
            name = parameter.group(1)
            if name not in PARAMETERS:
                known = ", ".join(f":{known}" for known in PARAMETERS)
                raise ConfigError(f"{_KEY}: unknown parameter :{name} (the query may use {known})")
            compiled.append(PARAMETERS[name])
            position = parameter.end()
            continue
        compiled.append(query[position])
        position += 1
    # The query becomes a subquery: a trailing ';' would end the statement.
    return "".join(compiled).strip().rstrip(";").rstrip()


def user_scopes_script(query: str | None, schema: str) -> list[str]:
    """Statements installing `schema.user_scopes` made from `query` (None: a user holds no keys):
    the SQL function, which checks the query as it is created, then, from library version 8 on
    (decided in the database), the same body in PL/pgSQL, which keeps its plan for the session,
    and from version 9 on `user_scope_keys`, the sorted distinct keys from the same body."""
    compiled = compile_query(query) if query is not None else None
    function = render(
        "sql/v2/user_scopes.sql.j2",
        schema=schema,
        query=compiled,
        tag=_dollar_tag(compiled or ""),
        source=literal(query),
    )
    made_from_it = [
        render("sql/v8/pull_page_user_scopes.sql.j2", schema=schema),
        render("sql/v9/pull_idle_user_scope_keys.sql.j2", schema=schema),
    ]
    return [statement for script in (function, *made_from_it) for statement in split_statements(script)]


def _dollar_tag(body: str) -> str:
    """A dollar quote that does not occur in the body it quotes."""
    tag, n = "$scopes$", 0
    while tag in body:
        n += 1
        tag = f"$scopes{n}$"
    return tag
