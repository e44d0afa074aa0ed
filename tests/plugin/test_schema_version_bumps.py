"""A schema version bump that does not go above the server's version is refused, naming the fix.

Two branches each adding a synced table both get `op.bump_sync_schema_version(2)` from
autogenerate (each computed it from the same head); after `alembic merge`, the upgrade that ran
both failed on the second with a unique violation of `schema_version_pkey` and a traceback. Worse,
a bump below the server's version (the branches numbered 2 and 3, the 3 run first) was taken
without a word: the server's version is the highest recorded, so it stayed 3 while the shape
changed, and devices at 3 never got the other branch's table.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from alembic_drizzlesync.localdb import libpq_url
from tests.plugin.revisions import write_revision
from tests.plugin.test_command_errors import alembic, one_line
from tests.support import EXAMPLE_HEAD


def branches(project: Path, first: int, second: int) -> None:
    """Two branches off the example's head, each adding a synced table with its own bump, then
    their merge; the models and the configuration leave both tables unsynced, which only
    autogenerate would notice."""
    for name, version in (("notes", first), ("labels", second)):
        write_revision(
            project,
            f"add_{name}",
            f'    op.create_table("{name}", sa.Column("id", sa.Integer(), primary_key=True))\n'
            f'    op.enable_sync("{name}")\n'
            f"    op.bump_sync_schema_version({version})",
        )
    write_revision(project, "merge", "    pass", down="add_notes")
    merge = project / "migrations" / "versions" / "merge.py"
    merge.write_text(merge.read_text().replace('"add_notes"', '("add_notes", "add_labels")'))


def server_version(db_url: str) -> int:
    with psycopg.connect(libpq_url(db_url)) as db:
        row = db.execute("SELECT max(version) FROM drizzlesync.schema_version").fetchone()
    assert row is not None
    return int(row[0])


def test_two_merged_branches_bumping_the_same_version(example_copy: Path, db_url: str) -> None:
    assert alembic(example_copy, "upgrade", EXAMPLE_HEAD).returncode == 0
    branches(example_copy, 2, 2)
    line = one_line(alembic(example_copy, "upgrade", "head"))
    assert line == (
        "FAILED: DrizzleSync: op.bump_sync_schema_version(2) found the server at schema version 2 "
        "already: devices at 2 would never get this revision's change. A bump must go above the "
        "server's version (two merged branches that bumped the same number?): bump to 3 in the "
        "revision that runs later, and revert 3 in its downgrade"
    ), line
    assert server_version(db_url) == 1  # the whole upgrade was rolled back


def test_a_bump_below_the_servers_version(example_copy: Path, db_url: str) -> None:
    assert alembic(example_copy, "upgrade", EXAMPLE_HEAD).returncode == 0
    branches(example_copy, 3, 2)
    assert alembic(example_copy, "upgrade", "add_notes").returncode == 0
    assert server_version(db_url) == 3
    line = one_line(alembic(example_copy, "upgrade", "head"))
    refused = "FAILED: DrizzleSync: op.bump_sync_schema_version(2) found the server at schema version 3"
    assert line.startswith(refused), line
    assert line.endswith("bump to 4 in the revision that runs later, and revert 4 in its downgrade"), line


def test_the_offline_script_refuses_it_in_psql_too(example_copy: Path, db_url: str) -> None:
    """`alembic upgrade --sql` cannot read the server's version: the check is in the SQL it prints."""
    assert alembic(example_copy, "upgrade", EXAMPLE_HEAD).returncode == 0
    branches(example_copy, 2, 2)
    script = alembic(example_copy, "upgrade", f"{EXAMPLE_HEAD}:head", "--sql")
    assert script.returncode == 0, script.stderr
    with psycopg.connect(libpq_url(db_url)) as db:
        try:
            db.execute(script.stdout.replace("BEGIN;", "").replace("COMMIT;", ""))
        except psycopg.errors.RaiseException as error:
            assert str(error).startswith("DrizzleSync: op.bump_sync_schema_version(2) found the server")
        else:
            raise AssertionError("the script bumped version 2 twice")
