"""Capture functions run as their owner (SECURITY DEFINER) and, since version 7, under the caller's
search_path: a writer whose search_path puts its own operators, functions and types before
pg_catalog's must not get any of them run, with the owner's rights or its own, by a write."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import EnableSyncOp, InstallOp
from tests.support import HOSTILE_HITS, apply_ops, drain_change_log, execute

TABLES = """
CREATE TABLE todos (id integer PRIMARY KEY, team_id integer NOT NULL, title text);
CREATE TABLE labels (id integer PRIMARY KEY, team text NOT NULL)
"""

# What the writer puts first in its search_path: every operator, function and type name a capture
# function or a scope rule here could look up, each recording that it ran (and as whom) and then
# doing what the real one does, so that only the record tells.
HOSTILE = (
    HOSTILE_HITS
    + """
CREATE FUNCTION hostile.cat(a text, b text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('||(text, text)'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR hostile.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.cat);
CREATE FUNCTION hostile.eq(a text, b text) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('=(text, text)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.eq);
CREATE FUNCTION hostile.ne(a text, b text) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('<>(text, text)'); RETURN a OPERATOR(pg_catalog.<>) b; END $$;
CREATE OPERATOR hostile.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.ne);
CREATE FUNCTION hostile.current_setting(name text, missing_ok boolean) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('current_setting'); RETURN
              pg_catalog.current_setting(name, missing_ok); END $$;
CREATE FUNCTION hostile.pg_current_xact_id() RETURNS xid8 LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('pg_current_xact_id'); RETURN pg_catalog.pg_current_xact_id(); END $$;
CREATE FUNCTION hostile.jsonb_build_object(k text, v integer) RETURNS jsonb LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('jsonb_build_object'); RETURN pg_catalog.jsonb_build_object(k, v); END $$;
CREATE FUNCTION hostile.lower(v text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('lower'); RETURN pg_catalog.lower(v); END $$;
CREATE FUNCTION hostile.is_text(v text) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('pg_temp.text'); RETURN true; END $$;
"""
)
# Types are looked up in pg_temp first unless a search_path lists it: a domain named text there,
# whose check runs the writer's function, would catch a cast to an unqualified `text`. A temporary
# table named like a transition table would catch a capture reading it by name.
SESSION = """
SET search_path = hostile, pg_catalog, public;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (hostile.is_text(VALUE));
CREATE DOMAIN pg_temp.xid8 AS pg_catalog.xid8 CHECK (hostile.is_text('xid8'));
CREATE TEMPORARY TABLE drizzlesync_new (
    id integer, team_id integer, team pg_catalog.text, title pg_catalog.text);
INSERT INTO drizzlesync_new VALUES (666, 666, 'hijacked', 'hijacked')
"""


@pytest.fixture
def writer(db_url: str) -> Iterator[str]:
    """A role that may write the synced tables and owns the schema `hostile`; its name."""
    role = f"{localdb.sqlalchemy_url(db_url).database}_writer"  # roles are cluster-wide
    execute(
        db_url,
        f"CREATE ROLE {role}",
        f"CREATE SCHEMA hostile AUTHORIZATION {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    )
    try:
        yield role
    finally:
        execute(db_url, "DROP SCHEMA hostile CASCADE", f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_a_writers_search_path_runs_none_of_its_objects_in_capture(db_url: str, writer: str) -> None:
    apply_ops(db_url, InstallOp())
    execute(db_url, *TABLES.strip().split(";\n"))
    apply_ops(
        db_url,
        EnableSyncOp("todos", scope="'team:' || team_id"),
        EnableSyncOp("labels", scope="lower(team)::text || ''"),
    )
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute(f"SET ROLE {writer}")
        for statement in HOSTILE.strip().split(";\n"):
            db.execute(statement)
        for statement in SESSION.strip().split(";\n"):
            db.execute(statement)
        db.execute("SELECT set_config('drizzlesync.client_id', '', false)")
        db.execute("INSERT INTO todos VALUES (1, 7, 'x'), (2, 7, 'y')")
        db.execute("UPDATE todos SET title = 'z' WHERE id = 1")
        db.execute("UPDATE todos SET team_id = 8 WHERE id = 2")
        db.execute("UPDATE todos SET id = 3 WHERE id = 1")
        db.execute("DELETE FROM todos WHERE id = 3")
        db.execute("INSERT INTO labels VALUES (1, 'A')")
        db.execute("UPDATE labels SET team = 'B'")
        db.execute("DELETE FROM labels")
        hits = db.execute("SELECT what, as_role FROM hostile.hits").fetchall()
        db.execute("RESET ROLE")
        db.execute("RESET search_path")
        assert hits == []
        assert drain_change_log(db) == [
            ("I", '{"id": 1}', None, "team:7"),
            ("I", '{"id": 2}', None, "team:7"),
            ("U", '{"id": 1}', "team:7", "team:7"),
            ("D", '{"id": 2}', "team:7", None),
            ("U", '{"id": 2}', "team:8", "team:8"),
            ("D", '{"id": 1}', "team:7", None),
            ("U", '{"id": 3}', "team:7", "team:7"),
            ("D", '{"id": 3}', "team:7", None),
            ("I", '{"id": 1}', None, "a"),
            ("D", '{"id": 1}', "a", None),
            ("U", '{"id": 1}', "b", "b"),
            ("D", '{"id": 1}', "b", None),
        ]
        settings = dict(
            db.execute(
                "SELECT s.table_name, p.proconfig FROM drizzlesync.synced_table AS s"
                " JOIN pg_proc AS p ON p.oid = format('drizzlesync.capture_%s', s.id)::regproc"
            ).fetchall()
        )
        assert settings == {
            "todos": None,
            "labels": None,
        }
