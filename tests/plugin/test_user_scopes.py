"""`user_scopes_query` becomes the `user_scopes` function through `op.set_user_scopes`."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from alembic.autogenerate import render_python_code
from sqlalchemy import Column, MetaData, Table, Text

from alembic_drizzlesync import localdb, ops
from alembic_drizzlesync.config import ConfigError, parse_config
from alembic_drizzlesync.sql.user_scopes import compile_query, user_scopes_script
from tests.support import apply_ops, autogenerate, migrate

BY_TEAM = "SELECT 'team:' || team FROM public.members WHERE name = :user_id"
BY_CLAIM = "SELECT 'org:' || (:claims ->> 'org_id')"
CONFIG = parse_config({"include": ["members"], "user_scopes_query": BY_TEAM})


def models() -> MetaData:
    metadata = MetaData()
    Table("members", metadata, Column("name", Text, primary_key=True), Column("team", Text, primary_key=True))
    return metadata


def user_scopes(url: str, user_id: str, claims: str = "{}") -> tuple[list[str], str]:
    """The keys user_scopes returns, and the function's definition."""
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        keys = [r[0] for r in conn.execute("SELECT drizzlesync.user_scopes(%s, %s)", (user_id, claims))]
        row = conn.execute(
            "SELECT pg_get_functiondef('drizzlesync.user_scopes(text, jsonb)'::regprocedure)"
        ).fetchone()
    assert row is not None
    return sorted(keys), str(row[0])


def test_parameters_compile_to_the_functions_own_and_nothing_else_is_touched() -> None:
    query = (
        "SELECT x::text, ':user_id', E'\\':claims', \":claims\", $q$ :user_id $q$ /* :claims */ "
        "FROM t WHERE a = :user_id AND b = :claims->>'k' -- :user_id\n;"
    )
    assert compile_query(query) == (
        "SELECT x::text, ':user_id', E'\\':claims', \":claims\", $q$ :user_id $q$ /* :claims */ "
        "FROM t WHERE a = $1 AND b = $2->>'k' -- :user_id"
    )


def test_an_unknown_parameter_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"user_scopes_query: unknown parameter :team"):
        compile_query("SELECT :team")


def test_the_first_revision_installs_the_query_after_the_tables_it_reads(db_url: str) -> None:
    script = migrate(db_url, models(), CONFIG)
    assert script.upgrade_ops is not None
    assert script.upgrade_ops.ops[-2:] == [ops.SetUserScopesOp(BY_TEAM), ops.BumpSchemaVersionOp(1)]
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("INSERT INTO members VALUES ('ann', 'a'), ('ann', 'b'), ('bob', 'c')")
    assert user_scopes(db_url, "ann")[0] == ["team:a", "team:b"]
    assert autogenerate(db_url, models(), CONFIG).upgrade_ops.is_empty()  # type: ignore[union-attr]


def test_changing_the_query_autogenerates_the_op_and_its_downgrade_restores_the_old_function(
    db_url: str,
) -> None:
    migrate(db_url, models(), CONFIG)
    _, by_team = user_scopes(db_url, "ann")

    changed = replace(CONFIG, user_scopes_query=BY_CLAIM)
    script = autogenerate(db_url, models(), changed)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    assert script.upgrade_ops.ops == [ops.SetUserScopesOp(BY_CLAIM, old_query=BY_TEAM)]
    assert script.downgrade_ops.ops == [ops.SetUserScopesOp(BY_TEAM, old_query=BY_CLAIM)]
    assert f"op.set_user_scopes({BY_CLAIM!r}, old_query={BY_TEAM!r})" in render_python_code(
        script.upgrade_ops
    )

    apply_ops(db_url, *script.upgrade_ops.ops)
    assert user_scopes(db_url, "ann", '{"org_id": "acme"}')[0] == ["org:acme"]
    assert user_scopes(db_url, "ann")[0] == []  # no claim, no key
    assert autogenerate(db_url, models(), changed).upgrade_ops.is_empty()  # type: ignore[union-attr]

    apply_ops(db_url, *script.downgrade_ops.ops)
    assert user_scopes(db_url, "ann")[1] == by_team


def test_without_a_query_no_user_holds_a_key(db_url: str) -> None:
    migrate(db_url, models(), CONFIG)
    script = migrate(db_url, models(), replace(CONFIG, user_scopes_query=None))
    assert script.upgrade_ops is not None
    assert script.upgrade_ops.ops == [ops.SetUserScopesOp(None, old_query=BY_TEAM)]
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("INSERT INTO members VALUES ('ann', 'a')")
    assert user_scopes(db_url, "ann")[0] == []


def test_an_unknown_parameter_fails_autogenerate(db_url: str) -> None:
    with pytest.raises(ConfigError, match="unknown parameter :team_id"):
        autogenerate(db_url, models(), replace(CONFIG, user_scopes_query="SELECT :team_id"))


def test_the_function_body_is_quoted_with_a_tag_the_query_does_not_hold(db_url: str) -> None:
    holds_the_tag = "SELECT $scopes$team:$scopes$ || team FROM public.members WHERE name = :user_id"
    migrate(db_url, models(), replace(CONFIG, user_scopes_query=holds_the_tag))
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("INSERT INTO members VALUES ('ann', 'a')")
    assert user_scopes(db_url, "ann")[0] == ["team:a"]
    assert "AS $scopes1$" in user_scopes_script(holds_the_tag, "drizzlesync")[0]


def test_from_library_version_8_the_function_is_plpgsql_and_a_column_named_like_a_parameter_wins(
    db_url: str,
) -> None:
    """PL/pgSQL keeps the query's plan; `user_id` below is both a column and the function's parameter,
    and means the column, as in the SQL function (PL/pgSQL would otherwise call it ambiguous)."""
    by_column = (
        "SELECT 'team:' || m.team FROM public.members AS m, LATERAL (SELECT m.name AS user_id) AS u "
        "WHERE user_id = :user_id"
    )
    migrate(db_url, models(), replace(CONFIG, user_scopes_query=by_column))
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("INSERT INTO members VALUES ('ann', 'a'), ('bob', 'b')")
    keys, definition = user_scopes(db_url, "ann")
    assert keys == ["team:a"]
    assert "LANGUAGE plpgsql" in definition and "RETURN QUERY" in definition


def test_a_query_that_does_not_run_fails_its_migration(db_url: str) -> None:
    """The query is checked as it is set, as the SQL function it is first made as checks it."""
    with pytest.raises(Exception, match="public.nowhere"):
        migrate(db_url, models(), replace(CONFIG, user_scopes_query="SELECT team FROM public.nowhere"))


def test_from_library_version_9_the_pulls_sorted_keys_follow_every_change_of_the_query(db_url: str) -> None:
    """`user_scope_keys` (the hosts' pull's keys: sorted, distinct, no nulls) is made from user_scopes'
    query by the upgrade and again by every set_user_scopes, so a pull never works with the old one."""

    def keys(claims: str = "{}") -> list[str]:
        with psycopg.connect(localdb.libpq_url(db_url)) as conn:
            row = conn.execute("SELECT drizzlesync.user_scope_keys('ann', %s)", (claims,)).fetchone()
        assert row is not None
        return list(row[0])

    migrate(db_url, models(), CONFIG)
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("INSERT INTO members VALUES ('ann', 'b'), ('ann', 'a'), ('bob', 'c')")
    assert keys() == ["team:a", "team:b"]
    twice = "SELECT 'org:' || (:claims ->> 'org_id') UNION ALL SELECT 'org:' || (:claims ->> 'org_id')"
    script = autogenerate(db_url, models(), replace(CONFIG, user_scopes_query=twice))
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    apply_ops(db_url, *script.upgrade_ops.ops)
    assert keys('{"org_id": "acme"}') == ["org:acme"]
    assert keys() == []  # no claim: a null key, left out
    apply_ops(db_url, *script.downgrade_ops.ops)
    assert keys() == ["team:a", "team:b"]


def test_no_role_but_the_owner_may_call_the_scope_functions_even_after_set_user_scopes(db_url: str) -> None:
    """Both run the project's query as the library's owner for any user id they are given: a role
    with USAGE on the library schema could read any user's scope keys through `user_scope_keys`,
    which kept PUBLIC's EXECUTE until library version 29 (`user_scopes` lost it in version 2). A
    later `set_user_scopes` re-creates them and keeps the grants."""
    migrate(db_url, models(), CONFIG)
    script = autogenerate(db_url, models(), replace(CONFIG, user_scopes_query=BY_CLAIM))
    assert script.upgrade_ops is not None
    apply_ops(db_url, *script.upgrade_ops.ops)
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        rows = db.execute(
            "SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc AS p "
            "WHERE p.pronamespace = 'drizzlesync'::regnamespace "
            "AND p.proname IN ('user_scopes', 'user_scope_keys') ORDER BY 1"
        ).fetchall()
    assert rows == [("user_scope_keys", False), ("user_scopes", False)]
