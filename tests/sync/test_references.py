"""Foreign keys and scopes: what a push tells a user about rows outside their scopes (docs/sync.md, Security).

Referential integrity is checked by Postgres, which sees every row: a
reference to another scope's row is accepted and a reference to no row is
refused, so the two answers differ. That is documented, as Postgres
documents it for row-level security, with its mitigation: a foreign key that
includes the scope column, which makes both answers alike.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from tests.sync import seed
from tests.sync.syncclient import SyncClient


def project(db: psycopg.Connection[Any], team: str, name: str) -> str:
    row = db.execute("INSERT INTO projects (team_id, name) VALUES (%s, %s) RETURNING id::text", (team, name))
    return str((row.fetchone() or ("",))[0])


def put_todo(team: str, project_id: str) -> dict[str, Any]:
    values = {"team_id": team, "title": "probe", "project_id": project_id}
    return {"table": "todos", "op": "put", "pk": {"id": str(uuid.uuid4())}, "values": values}


def probe(http: httpx.Client, db: psycopg.Connection[Any]) -> tuple[dict[int, str], SyncClient]:
    """Alice (team A) files a todo under Carol's project (team B), then one under a project that does not
    exist; returns the rejections (`code: message`) by mutation id, and Alice's client."""
    alice, mine = seed.member(db, "alice", "A")
    _, theirs = seed.member(db, "carol", "B")
    carols = project(db, theirs, "carol's secret project")
    client = SyncClient(http, alice, "alice-1")
    client.stage([put_todo(mine, carols)])
    client.stage([put_todo(mine, str(uuid.uuid4()))])
    response = client.push()
    assert response is not None and response.status_code == 200, response
    rejections = {r["id"]: f"{r['code']}: {r['message']}" for r in response.json()["rejected"]}
    return rejections, client


def test_a_reference_to_another_scopes_row_is_accepted_and_a_missing_one_refused(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The documented covert channel: the answers differ, so row ids of other scopes can be probed."""
    rejections, client = probe(http, db)
    assert list(rejections) == [2]
    assert rejections[2].startswith("constraint_violation: ") and "todos_project_id_fkey" in rejections[2]
    # The referenced row itself stays out of reach: nothing of it is pulled.
    client.pull_all()
    assert not [key for key in client.rows if key[0] == "projects"]
    assert client.rows == seed.visible_rows(db, client.user_id)


def test_a_foreign_key_that_includes_the_scope_column_answers_both_alike(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The mitigation: the reference must stay in the row's own scope, so another scope's row is 'missing'."""
    db.execute("ALTER TABLE projects ADD CONSTRAINT projects_team_id_id_key UNIQUE (team_id, id)")
    db.execute(
        "ALTER TABLE todos DROP CONSTRAINT todos_project_id_fkey, "
        "ADD CONSTRAINT todos_project_in_team_fkey FOREIGN KEY (team_id, project_id) "
        "REFERENCES projects (team_id, id)"
    )
    rejections, _ = probe(http, db)
    assert list(rejections) == [1, 2]
    assert rejections[1] == rejections[2]
    assert (
        rejections[1].startswith("constraint_violation: ") and "todos_project_in_team_fkey" in rejections[1]
    )


def make_todos_project_key_deferred(db: psycopg.Connection[Any]) -> None:
    db.execute("ALTER TABLE todos ALTER CONSTRAINT todos_project_id_fkey DEFERRABLE INITIALLY DEFERRED")


def put_project(team: str, project_id: str) -> dict[str, Any]:
    values = {"team_id": team, "name": "filed after its todo"}
    return {"table": "projects", "op": "put", "pk": {"id": project_id}, "values": values}


def test_a_deferred_foreign_key_is_checked_at_the_end_of_each_client_transaction(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """A DEFERRABLE INITIALLY DEFERRED key is checked when its client transaction ends, not at COMMIT.

    Postgres checks it at COMMIT, after push has handled every mutation: a
    violation there failed the whole request (500) on every retry, which
    wedged the client. Each client transaction is now checked as it ends, so
    a violation is a rejection of that transaction alone, and a transaction
    that files a todo before its project still applies, as the key allows.
    """
    make_todos_project_key_deferred(db)
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    client.stage([put_todo(team, str(uuid.uuid4()))])  # 1: no such project, ever
    for _ in range(2):  # 2-3 and 4-5: the todo first, then its project, in one transaction
        project_id = str(uuid.uuid4())
        client.stage([put_todo(team, project_id), put_project(team, project_id)])
    response = client.push()
    assert response is not None and response.status_code == 200, response.text
    assert response.json()["lastMutationId"] == 5
    assert client.rejected == {1: "constraint_violation"}
    filed = db.execute("SELECT count(*) FROM todos WHERE project_id IS NOT NULL").fetchone()
    assert filed == (2,)


def test_a_batch_of_patches_that_breaks_a_deferred_foreign_key_rejects_that_patch_alone(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """The same for the one-statement path a batch of patches to one table takes."""
    make_todos_project_key_deferred(db)
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    todos = [put_todo(team, project(db, team, "real")) for _ in range(2)]
    client.stage(todos)
    response = client.push()
    assert response is not None and response.status_code == 200 and not client.rejected, response.text
    client.stage([{**todos[0], "op": "patch", "values": {"title": "renamed"}}])
    client.stage([{**todos[1], "op": "patch", "values": {"project_id": str(uuid.uuid4())}}])
    response = client.push()
    assert response is not None and response.status_code == 200, response.text
    assert client.rejected == {4: "constraint_violation"}
    titles = db.execute("SELECT title FROM todos ORDER BY title").fetchall()
    assert titles == [("probe",), ("renamed",)]


def test_a_deferred_key_whose_name_another_constraint_shares_is_still_checked_per_transaction(
    db: psycopg.Connection[Any], http: httpx.Client
) -> None:
    """SET CONSTRAINTS names constraints by schema and name, and this name also names a check
    constraint of another table, which cannot be deferred: the key is checked all the same, and
    stays checked per statement for the rest of the push (docs/sync.md, "Push")."""
    make_todos_project_key_deferred(db)
    db.execute("ALTER TABLE projects ADD CONSTRAINT todos_project_id_fkey CHECK (name <> '')")
    alice, team = seed.member(db, "alice", "A")
    client = SyncClient(http, alice, "alice-1")
    client.stage([put_todo(team, str(uuid.uuid4()))])
    project_id = str(uuid.uuid4())
    client.stage([put_project(team, project_id), put_todo(team, project_id)])
    response = client.push()
    assert response is not None and response.status_code == 200, response.text
    assert client.rejected == {1: "constraint_violation"}
    assert db.execute("SELECT count(*) FROM todos").fetchone() == (1,)


def test_other_sessions_temporary_deferred_keys_are_left_alone(
    db: psycopg.Connection[Any], synced_db: str
) -> None:
    """Each client transaction sets the database's initially deferred constraints back to DEFERRED
    by name. Other sessions' temporary tables were among them, in schemas a library owner that is
    not a superuser may not use: while any session held such a table, every client write was
    rejected ("permission denied for schema pg_temp_3"); so was a deferred key in a schema the
    owner may not use, where no table a push writes can be. Called as such a role, the check now
    names the deferred key it can reach alone."""
    make_todos_project_key_deferred(db)
    role = f"drizzlesync_owner_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {role}")
    try:
        db.execute(f"GRANT USAGE ON SCHEMA drizzlesync TO {role}")
        db.execute("CREATE SCHEMA private")
        db.execute("CREATE TABLE private.parent (id integer PRIMARY KEY)")
        db.execute(
            "CREATE TABLE private.child (id integer PRIMARY KEY,"
            " parent_id integer REFERENCES private.parent DEFERRABLE INITIALLY DEFERRED)"
        )
        with psycopg.connect(synced_db, autocommit=True) as other:
            other.execute("CREATE TEMP TABLE parent (id integer PRIMARY KEY)")
            other.execute(
                "CREATE TEMP TABLE child (id integer PRIMARY KEY,"
                " parent_id integer REFERENCES parent DEFERRABLE INITIALLY DEFERRED)"
            )
            with db.transaction():
                db.execute(f"SET LOCAL ROLE {role}")
                db.execute("SELECT drizzlesync.check_deferred_constraints()")
                listed = db.execute("SELECT current_setting('drizzlesync.deferred_constraints')").fetchone()
        assert listed == ("public.todos_project_id_fkey",)
    finally:
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")
