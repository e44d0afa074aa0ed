"""An application's own triggers on a synced table, seen from the client that pushed the write
(docs/sync.md, Push, "Your triggers"). A row a BEFORE trigger changed comes back to it as the server
holds it. A BEFORE trigger that skips the write (returns NULL: a guard that keeps locked rows as they
are, a soft delete, an insert it ignores) makes Postgres write nothing and capture log nothing, yet
the write is no failure either: the push accepts it, and the client that applied it optimistically
must get the server's row back all the same. Triggers run under the search path of the application's
own sessions, less the schemas a role that cannot act as the library's owner may create objects in."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import HOSTILE_HITS
from tests.sync import seed
from tests.sync.syncclient import SyncClient, row_key

GUARD = """
CREATE FUNCTION guard_locked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.title = 'ignored' THEN RETURN NULL; END IF;
        RETURN NEW;
    END IF;
    IF OLD.title = 'locked' THEN
        RETURN NULL;  -- locked rows are kept as they are, silently
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.title = 'archived on delete' THEN
            UPDATE public.todos SET done = true WHERE id = OLD.id;  -- a soft delete
            RETURN NULL;
        END IF;
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER guard_locked BEFORE INSERT OR UPDATE OR DELETE ON todos
    FOR EACH ROW EXECUTE FUNCTION guard_locked();
"""


@pytest.fixture
def alice(db: psycopg.Connection[Any], http: httpx.Client) -> tuple[SyncClient, str]:
    user, team = seed.member(db, "alice", "A")
    db.execute(GUARD)
    client = SyncClient(http, user, "alice-1")
    return client, team


def put(todo_id: str, team: str, title: str) -> dict[str, Any]:
    return {"table": "todos", "op": "put", "pk": {"id": todo_id}, "values": {"team_id": team, "title": title}}


def write(client: SyncClient, mutation: dict[str, Any]) -> None:
    """Queue `mutation` as its own client transaction and apply it to the local rows, as a device does."""
    client.stage([mutation], optimistic=True)


@pytest.mark.parametrize(
    "mutation",
    [
        {"op": "patch", "values": {"title": "unlocked offline"}},
        {"op": "put", "values": {"title": "unlocked offline", "done": True}},
        {"op": "delete"},
    ],
    ids=["patch", "put", "delete"],
)
def test_a_write_a_trigger_skipped_is_undone_on_the_client_that_made_it(
    db: psycopg.Connection[Any], alice: tuple[SyncClient, str], mutation: dict[str, Any]
) -> None:
    """The write is accepted (no rejection: the trigger raised nothing), and the client's next pull
    brings the row as the server kept it. Before, the client kept its own version for good: nothing
    was logged for the row, so no pull ever served it again."""
    client, team = alice
    locked = seed.todo(db, team, "locked")
    client.pull_all()
    written = {"table": "todos", "pk": {"id": locked}, **mutation}
    if mutation["op"] == "put":
        written["values"] = {"team_id": team, **mutation["values"]}
    write(client, written)
    assert client.rows.get(row_key("todos", {"id": locked}), {}).get("title") != "locked"

    client.sync()

    assert client.rejected == {}
    assert client.rows == seed.visible_rows(db, client.user_id)
    assert client.rows[row_key("todos", {"id": locked})]["title"] == "locked"


def test_a_batch_of_patches_in_which_a_trigger_skipped_one_applies_the_rest(
    db: psycopg.Connection[Any], alice: tuple[SyncClient, str]
) -> None:
    """The set-based UPDATE writes fewer rows than the batch holds, so it is undone and the batch
    applied one client transaction at a time: the other patches land, the skipped row comes back."""
    client, team = alice
    locked, free = seed.todo(db, team, "locked"), seed.todo(db, team, "free")
    client.pull_all()
    for todo_id in (locked, free):
        write(client, {"table": "todos", "op": "patch", "pk": {"id": todo_id}, "values": {"done": True}})

    client.sync()

    assert client.rejected == {}
    assert db.execute("SELECT done FROM todos WHERE id = %s", (free,)).fetchone() == (True,)
    assert client.rows == seed.visible_rows(db, client.user_id)
    assert client.rows[row_key("todos", {"id": locked})]["done"] is False


def test_a_batch_of_deletes_in_which_a_trigger_kept_rows_applies_the_rest(
    db: psycopg.Connection[Any], alice: tuple[SyncClient, str]
) -> None:
    """The one DELETE of a run (library version 30) removed fewer rows than the batch names and a
    named row is still there, so it is undone and the run applied one client transaction at a time:
    the free rows go, the locked one and the soft-deleted one come back as the server keeps them."""
    client, team = alice
    locked, archived = seed.todo(db, team, "locked"), seed.todo(db, team, "archived on delete")
    free = [seed.todo(db, team, f"free {i}") for i in range(3)]
    client.pull_all()
    for todo_id in (free[0], locked, free[1], archived, free[2]):
        write(client, {"table": "todos", "op": "delete", "pk": {"id": todo_id}})
    assert row_key("todos", {"id": locked}) not in client.rows

    client.sync()

    assert client.rejected == {}
    remaining = db.execute("SELECT id::text, done FROM todos ORDER BY title").fetchall()
    assert remaining == [(archived, True), (locked, False)]
    assert client.rows == seed.visible_rows(db, client.user_id)


def test_a_soft_delete_trigger_keeps_its_update_and_the_client_gets_the_row_back(
    db: psycopg.Connection[Any], alice: tuple[SyncClient, str]
) -> None:
    client, team = alice
    archived = seed.todo(db, team, "archived on delete")
    client.pull_all()
    client.stage([{"table": "todos", "op": "delete", "pk": {"id": archived}}], optimistic=True)

    response = client.push()
    assert response is not None
    assert response.json()["rejected"] == []
    client.sync()

    assert client.rejected == {}
    row = db.execute("SELECT done FROM todos WHERE id = %s", (archived,)).fetchone()
    assert row == (True,)
    assert client.rows == seed.visible_rows(db, client.user_id)


def test_an_insert_a_trigger_skipped_is_not_called_out_of_scope(
    db: psycopg.Connection[Any], alice: tuple[SyncClient, str]
) -> None:
    """An insert the trigger skipped is accepted like the other skipped writes, and leaves the
    client; before, it was rejected `forbidden`, "the row is outside your scopes", though the row
    was in the user's own team."""
    client, team = alice
    client.pull_all()
    ignored = str(uuid.uuid4())
    write(client, put(ignored, team, "ignored"))

    client.sync()

    assert client.rejected == {}
    assert db.execute("SELECT count(*) FROM todos WHERE id = %s", (ignored,)).fetchone() == (0,)
    assert client.rows == seed.visible_rows(db, client.user_id)


NORMALISE = """
CREATE FUNCTION public.tidy(title text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT upper(btrim(title)) $$;
CREATE FUNCTION normalise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.title := tidy(NEW.title);
    NEW.updated_at := '2001-02-03T04:05:06Z';
    RETURN NEW;
END $$;
CREATE TRIGGER normalise BEFORE INSERT OR UPDATE ON todos FOR EACH ROW EXECUTE FUNCTION normalise();
"""


def test_a_row_a_trigger_changed_reaches_the_pushing_client_as_the_server_holds_it(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The trigger names its function without a schema, as the application's own sessions find it
    (public is on their search path): the write applies, and the client's pull replaces its values
    with the trigger's. Up to library version 27 the push ran it under `pg_catalog, pg_temp`, where
    the name was not found, and every write was rejected."""
    user, team = seed.member(db, "alice", "A")
    db.execute(NORMALISE)
    client = SyncClient(http, user, "alice-1")
    client.pull_all()
    first = str(uuid.uuid4())
    write(client, put(first, team, " a "))
    client.sync()
    assert client.rejected == {}
    row = client.rows[row_key("todos", {"id": first})]
    assert (row["title"], row["updated_at"]) == ("A", "2001-02-03T04:05:06+00:00")
    assert client.rows == seed.visible_rows(db, user)


def test_a_schema_any_role_may_create_in_is_not_searched_for_a_trigger(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """PUBLIC may create in public here (as before Postgres 15): any role could put a function of
    its own named like the trigger's in its way, to be run as the library's owner. So public is not
    searched, the trigger fails and the write is rejected; the function's own search path, which
    its owner chose, is the way out."""
    user, team = seed.member(db, "alice", "A")
    db.execute(NORMALISE)
    db.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    client = SyncClient(http, user, "alice-1")
    client.pull_all()
    first = str(uuid.uuid4())
    write(client, put(first, team, " a "))
    client.sync()
    assert client.rejected == {1: "rejected"}
    assert client.rows == seed.visible_rows(db, user) and row_key("todos", {"id": first}) not in client.rows

    db.execute("ALTER FUNCTION normalise() SET search_path = public, pg_temp")
    second = str(uuid.uuid4())
    write(client, put(second, team, " b "))
    client.sync()
    assert client.rejected == {1: "rejected"}
    row = client.rows[row_key("todos", {"id": second})]
    assert (row["title"], row["updated_at"]) == ("B", "2001-02-03T04:05:06+00:00")
    assert client.rows == seed.visible_rows(db, user)


def test_the_writes_search_path_is_the_sessions_own_without_schemas_any_role_may_create_in(
    synced_db: str, db: psycopg.Connection[Any]
) -> None:
    """The path a push's writes run under: pg_catalog, then the schemas of the session's own
    search_path (as the role, database or server set it) that exist and that PUBLIC may not create
    in, in their order, then pg_temp. Privileges are read on every call; the session's path once."""
    db.execute('CREATE SCHEMA app; CREATE SCHEMA "Mixed ""Case"""; CREATE SCHEMA open_to_all')
    db.execute("GRANT CREATE ON SCHEMA open_to_all TO PUBLIC")
    db.execute(
        f"ALTER DATABASE {db.info.dbname} SET search_path"
        ' = "$user", app, "Mixed ""Case""", open_to_all, missing, PUBLIC, pg_catalog'
    )
    with psycopg.connect(synced_db, autocommit=True) as session:
        path = "SELECT drizzlesync.write_search_path()"
        assert session.execute(path).fetchone() == ('pg_catalog, app, "Mixed ""Case""", public, pg_temp',)
        db.execute("GRANT CREATE ON SCHEMA app TO PUBLIC")
        assert session.execute(path).fetchone() == ('pg_catalog, "Mixed ""Case""", public, pg_temp',)


# What a host role puts in a schema of its own, each function recording that it ran (and as whom)
# and doing what the built-in it stands in for does: every one matches a call in the library's
# functions between push and the writes, which name built-ins bare, better than pg_catalog's
# variadic format or polymorphic || does.
HOSTILE = (
    HOSTILE_HITS
    + """
CREATE FUNCTION hostile.format(f text, a text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('format(text, text)'); RETURN pg_catalog.format(f, a); END $$;
CREATE FUNCTION hostile.format(f text, a text, b text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('format(text, text, text)'); RETURN pg_catalog.format(f, a, b); END $$;
"""
)


def test_a_host_role_gets_none_of_its_objects_run_by_a_push_from_a_schema_it_may_create_in(
    synced_db: str, db: psycopg.Connection[Any]
) -> None:
    """The host's role chooses the schemas of its session's search_path (its connection's options,
    its role's settings, drizzlesync.session_search_path itself). A role that may call push and
    nothing more, but owns a schema PUBLIC may not create in, named that schema: the push ran its
    functions as the library's owner (here a superuser), for every write, where a schema's
    trust was PUBLIC's lack of CREATE alone. A schema in which a role that cannot act as
    the owner may create stays off the path: its functions never run, the writes apply."""
    user, team = seed.member(db, "alice", "A")
    role = f"{db.info.dbname}_host"  # roles are cluster-wide
    db.execute(f"CREATE ROLE {role} LOGIN")
    try:
        db.execute(f"CREATE SCHEMA hostile AUTHORIZATION {role}")
        db.execute(f"GRANT USAGE ON SCHEMA drizzlesync TO {role}")
        db.execute(f"GRANT EXECUTE ON FUNCTION drizzlesync.push(text, jsonb, text, integer, jsonb) TO {role}")
        options = "-c search_path=hostile,public"  # the connection's own: its reset value
        with psycopg.connect(synced_db, user=role, autocommit=True, options=options) as host:
            for statement in HOSTILE.strip().split(";\n"):
                host.execute(statement)
            ids = [str(uuid.uuid4()) for _ in range(3)]
            mutations = [
                {"id": n, "tx": n, **put(todo_id, team, f"t{n}")} for n, todo_id in enumerate(ids, start=1)
            ]
            mutations.append({"id": 4, "tx": 4, "table": "todos", "op": "patch", "pk": {"id": ids[0]},
                              "values": {"title": "x"}})  # fmt: skip
            mutations.append({"id": 5, "tx": 5, "table": "todos", "op": "delete", "pk": {"id": ids[1]}})
            push = "SELECT drizzlesync.push(%s, '{}'::jsonb, 'laptop', 1, %s::jsonb)"
            row = host.execute(push, (user, json.dumps(mutations))).fetchone()
            assert row == ({"lastMutationId": 5, "rejected": []},)
            hits = host.execute("SELECT what, as_role FROM hostile.hits").fetchall()
        assert hits == []
        assert db.execute("SELECT count(*) FROM todos WHERE id = ANY(%s::uuid[])", (ids,)).fetchone() == (2,)
    finally:
        db.execute("DROP SCHEMA IF EXISTS hostile CASCADE")
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")


def test_a_schema_a_role_that_cannot_act_as_the_owner_may_create_in_is_off_the_writes_path(
    synced_db: str, db: psycopg.Connection[Any]
) -> None:
    """Trust is every role that may create in the schema (its owner, those granted CREATE, PUBLIC)
    being able to act as the library's owner, whose rights the writes run with: a schema granted
    CREATE to one such other role, or owned by it, is left out until that role is made a member of
    the owner; pg_database_owner stands for the database's owner."""
    role = f"{db.info.dbname}_dev"  # roles are cluster-wide
    db.execute(f"CREATE ROLE {role}")
    try:
        db.execute(f"CREATE SCHEMA app; CREATE SCHEMA mine AUTHORIZATION {role}; CREATE SCHEMA shared")
        db.execute(f"GRANT CREATE ON SCHEMA shared TO {role}")
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        db.execute(f"ALTER DATABASE {db.info.dbname} SET search_path = app, mine, shared, public")
        path = "SELECT drizzlesync.write_search_path()"
        with psycopg.connect(synced_db, autocommit=True) as session:
            assert session.execute(path).fetchone() == ("pg_catalog, app, public, pg_temp",)
            db.execute(f"GRANT {session.info.user} TO {role}")
            assert session.execute(path).fetchone() == ("pg_catalog, app, mine, shared, public, pg_temp",)
    finally:
        db.execute("DROP SCHEMA IF EXISTS mine CASCADE")
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")
