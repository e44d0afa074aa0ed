"""A device with a pending write across server schema changes it did not see one by one: the
build it opens next must migrate its database, whatever the revisions between did, and push the
write. A build whose step fails fails every open: the device cannot start, and its pending writes
are lost unless it can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config

from alembic_drizzlesync.localdb import libpq_url
from tests.plugin.revisions import write_revision
from tests.support import EXAMPLE_HEAD
from tests.sync import seed

from .conftest import run_integration, serving
from .test_schema_change import build

CREATE_INDEX = 'op.create_index("todos_title_idx", "todos", ["title"])'
DROP_INDEX = 'op.drop_index("todos_title_idx", "todos")'
COLOR = 'op.add_column("projects", sa.Column("color", sa.Text()))'


def body(statements: list[str]) -> str:
    return "\n".join(f"    {statement}" for statement in statements)


class Project:
    """The example project in a copy, its database, and one device of one user."""

    def __init__(self, root: Path, db_url: str, tmp_path: Path, node: str) -> None:
        self.root, self.tmp_path, self.node = root, tmp_path, node
        self.alembic = Config(str(root / "alembic.ini"))
        command.upgrade(self.alembic, "head")
        self.url = libpq_url(db_url)
        self.head = EXAMPLE_HEAD
        with psycopg.connect(self.url, autocommit=True) as db:
            user, team = seed.member(db, "ada", "crew")
            self.todo = seed.todo(db, team, "written on the server")
        self.env = {"USER_ID": user, "TODO_ID": self.todo, "DB_FILE": str(tmp_path / "device.sqlite3")}

    def revise(self, revision: str, upgrade: list[str], downgrade: list[str] | None = None) -> None:
        """Write a revision after the head and upgrade to it."""
        write_revision(self.root, revision, body(upgrade), self.head, body(downgrade or ["pass"]))
        self.head = revision
        command.upgrade(self.alembic, "head")

    def build(self, name: str) -> Path:
        return build(self.root, self.tmp_path / name)

    def device(self, phase: str, generated: Path) -> dict[str, Any]:
        with serving(self.url, self.root / "pyproject.toml") as base:
            env = {**self.env, "PHASE": phase, "GENERATED": str(generated)}
            return run_integration(self.node, "schema-evolution", base, env)

    def title(self) -> str:
        with psycopg.connect(self.url) as db:
            row = db.execute("SELECT title FROM todos WHERE id = %s", (self.todo,)).fetchone()
        assert row is not None
        return str(row[0])


@pytest.fixture
def project(example_copy: Path, db_url: str, tmp_path: Path, node22: str) -> Project:
    return Project(example_copy, db_url, tmp_path, node22)


@pytest.mark.parametrize("device_has_index", [False, True])
def test_an_index_folded_into_a_step_a_device_ran_before_does_not_fail_a_later_step(
    project: Project, device_has_index: bool
) -> None:
    """An index change alone is folded into the current step, which devices at that version never
    run again (docs/codegen.md: they "simply lack the index"), and one dropped again the same way
    stays on devices that ran the step with it. A later version's step then dropped the index a
    device lacks, or created the one it kept, and failed on every open: "no such index",
    "index ... already exists"."""
    if device_has_index:
        project.revise("title_index", [CREATE_INDEX], [DROP_INDEX])
    written = project.device("write", project.build("build1"))
    assert (written["migration"]["to"], written["pending"]) == (1, 1)
    if device_has_index:
        project.revise("no_title_index", [DROP_INDEX], [CREATE_INDEX])
        change = [CREATE_INDEX, COLOR]
    else:
        project.revise("title_index", [CREATE_INDEX], [DROP_INDEX])
        change = [DROP_INDEX, COLOR]
    project.revise("project_color", [*change, "op.bump_sync_schema_version(2)"])

    opened = project.device("open", project.build("build2"))

    assert "openError" not in opened
    assert opened["migration"] == {"from": 1, "to": 2, "pruned": [], "repaired": []}
    assert (opened["state"], opened["pending"]) == ("idle", 0)
    assert opened["todos"] == [{"id": project.todo, "title": "renamed offline"}]
    assert project.title() == "renamed offline"


def test_a_column_the_server_fills_in_gets_its_value_for_a_row_made_on_a_device(project: Project) -> None:
    """A default the client cannot compute (an expression; a sequence, an identity) is the server's to
    fill in: the device's insert leaves the column null, and the put used to send that null, which the
    server stored. The put now leaves it out (`serverDefault` in sync-meta), and the pull brings the
    server's value back."""
    default = "sa.text(\"upper('p' || 'x')\")"
    project.revise(
        "project_code",
        [
            f'op.add_column("projects", sa.Column("code", sa.Text(), server_default={default}))',
            "op.bump_sync_schema_version(2)",
        ],
    )
    inserted = project.device("insert", project.build("build"))
    assert (inserted["state"], inserted["pending"]) == ("idle", 0)
    with psycopg.connect(project.url) as db:
        codes = db.execute("SELECT name, code FROM projects").fetchall()
    assert codes == [("made offline", "PX")]
    assert [(p["name"], p["code"]) for p in inserted["projects"]] == [("made offline", "PX")]


def test_a_row_moved_to_another_key_on_a_device_keeps_its_null_in_a_column_the_server_fills_in(
    project: Project,
) -> None:
    """An update that changes a row's key goes as a delete of the old key and a put of the whole row
    under the new one. That put is no insert without the column: its null is the row's value, which the
    server's default must not replace."""
    default = "sa.text(\"upper('p' || 'x')\")"
    project.revise(
        "project_code",
        [
            f'op.add_column("projects", sa.Column("code", sa.Text(), server_default={default}))',
            "op.bump_sync_schema_version(2)",
        ],
    )
    with psycopg.connect(project.url) as db:
        db.execute(
            "INSERT INTO projects (id, team_id, name, code)"
            " SELECT gen_random_uuid(), team_id, 'no code', NULL FROM todos WHERE id = %s",
            (project.todo,),
        )
    moved = project.device("rekey", project.build("build"))
    assert (moved["state"], moved["pending"]) == ("idle", 0)
    with psycopg.connect(project.url) as db:
        codes = db.execute("SELECT code FROM projects").fetchall()
    assert codes == [(None,)]
    assert [(p["name"], p["code"]) for p in moved["projects"]] == [("no code", None)]


@pytest.mark.parametrize("always", [False, True])
def test_a_not_null_column_the_server_numbers_gets_its_number_for_a_row_made_on_a_device(
    project: Project, always: bool
) -> None:
    """An identity column (or a serial) that is `NOT NULL` but no key: the server numbers a device's
    row. It was `NOT NULL` on SQLite too, with no default there, so the device's insert failed
    unless the app invented a number, which the server then kept. It is nullable on SQLite now
    (the row has no number until the pull brings the server's)."""
    identity = f"sa.Identity(always={always})"
    project.revise(
        "project_number",
        [
            f'op.add_column("projects", sa.Column("number", sa.Integer(), {identity}, nullable=False))',
            "op.bump_sync_schema_version(2)",
        ],
    )
    inserted = project.device("insert", project.build("build"))
    assert (inserted.get("openError"), inserted["state"], inserted["pending"]) == (None, "idle", 0)
    with psycopg.connect(project.url) as db:
        numbers = db.execute("SELECT name, number FROM projects").fetchall()
    assert numbers == [("made offline", 1)]
    assert [(p["name"], p["number"]) for p in inserted["projects"]] == [("made offline", 1)]


def test_a_write_of_a_dropped_column_does_not_take_the_rest_of_its_client_transaction_along(
    project: Project,
) -> None:
    """A patch of dropped columns only stays queued for the server to reject by name, and the
    server rejects every write of a client transaction with it (`transaction_rolled_back`): a
    title changed in the same `client.transaction` was lost, where one statement setting both
    keeps it (the dropped column's value pruned). The migration gives the stale patch a
    transaction of its own, after the writes it keeps."""
    written = project.device("together", project.build("build1"))
    assert (written["migration"]["to"], written["pending"]) == (1, 2)
    project.revise("no_project", ['op.drop_column("todos", "project_id")', "op.bump_sync_schema_version(2)"])

    opened = project.device("open", project.build("build2"))

    assert project.title() == "renamed offline"
    assert opened["todos"] == [{"id": project.todo, "title": "renamed offline"}]
    assert (opened["state"], opened["pending"]) == ("idle", 0)
    assert opened["migration"] == {
        "from": 1,
        "to": 2,
        "pruned": [{"id": 2, "table": "todos", "columns": ["project_id"], "stale": True}],
        "repaired": [],
    }


def test_a_pending_value_of_a_column_made_boolean_goes_as_postgres_casts_it(project: Project) -> None:
    """A value queued while its column held text or an integer goes as it was stored; the bool codec
    sent anything but 1 as false, so a pending 'yes' or 2 was stored as false, without a rejection,
    where the revision's own cast (`USING urgent::boolean`) made the server's rows true."""
    project.revise(
        "flags",
        [
            'op.add_column("todos", sa.Column("urgent", sa.Text()))',
            'op.add_column("todos", sa.Column("starred", sa.Integer()))',
            "op.bump_sync_schema_version(2)",
        ],
    )
    written = project.device("flags", project.build("build1"))
    assert (written["migration"]["to"], written["pending"]) == (2, 1)
    project.revise(
        "flags_boolean",
        [
            'op.alter_column("todos", "urgent", type_=sa.Boolean(), postgresql_using="urgent::boolean")',
            'op.alter_column("todos", "starred", type_=sa.Boolean(), postgresql_using="starred::boolean")',
            "op.bump_sync_schema_version(3)",
        ],
    )

    opened = project.device("open", project.build("build2"))

    assert (opened["state"], opened["pending"]) == ("idle", 0)
    with psycopg.connect(project.url) as db:
        row = db.execute("SELECT urgent, starred FROM todos WHERE id = %s", (project.todo,)).fetchone()
    assert row == (True, True)
