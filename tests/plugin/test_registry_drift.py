"""A revision that renames a synced table, or changes its primary key, without `disable_sync` first
is refused and rolled back, naming what to do: renamed, the registry named a table that no longer
existed, and every push and pull of every table failed with a 500; re-keyed, every client write to
the table was refused `invalid_key`. Disabled before and enabled after, in one revision, it runs."""

from __future__ import annotations

from pathlib import Path

import psycopg

from alembic_drizzlesync.localdb import libpq_url
from tests.plugin.revisions import write_revision
from tests.plugin.test_command_errors import alembic, drizzlesync, one_line


def tables(db_url: str) -> list[tuple[str, list[str]]]:
    with psycopg.connect(libpq_url(db_url)) as db:
        rows = db.execute("SELECT table_name, pk_columns::text[] FROM drizzlesync.synced_table ORDER BY 1")
        return [(name, list(key)) for name, key in rows]


def test_a_synced_table_renamed_behind_the_registry_is_refused(example_copy: Path, db_url: str) -> None:
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    before = tables(db_url)
    write_revision(example_copy, "rename", '    op.rename_table("todos", "tasks")')
    assert one_line(alembic(example_copy, "upgrade", "head")) == (
        "FAILED: DrizzleSync: revision rename left public.todos is synced but no longer exists "
        "(renamed or dropped). Disable sync before renaming or dropping a synced table or changing "
        'its primary key, and enable it after, in the same revision: op.disable_sync("old"); '
        'op.rename_table("old", "new"); op.enable_sync("new", scope="...")'
    )
    assert tables(db_url) == before  # rolled back: todos is still there and synced

    write_revision(
        example_copy,
        "rename",
        '    op.disable_sync("todos")\n'
        '    op.rename_table("todos", "tasks")\n'
        '    op.enable_sync("tasks", scope="\'team:\' || team_id")',
    )
    run = alembic(example_copy, "upgrade", "head")
    assert run.returncode == 0, run.stderr
    assert ("tasks", ["id"]) in tables(db_url) and ("todos", ["id"]) not in tables(db_url)


def test_a_synced_table_rekeyed_behind_the_registry_is_refused(example_copy: Path, db_url: str) -> None:
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    write_revision(
        example_copy,
        "rekey",
        '    op.drop_constraint("todos_pkey", "todos")\n'
        '    op.create_primary_key("todos_pkey", "todos", ["team_id", "id"])',
    )
    line = one_line(alembic(example_copy, "upgrade", "head"))
    assert line.startswith(
        "FAILED: DrizzleSync: revision rekey left public.todos has the primary key (team_id, id), "
        "but is synced keyed by (id). Disable sync before"
    ), line
    assert ("todos", ["id"]) in tables(db_url)


def test_generating_from_a_database_renamed_outside_a_migration_is_an_error(
    example_copy: Path, db_url: str
) -> None:
    """Renamed by hand (psql), the table vanished from the generated client schema without a word,
    while every push and pull failed on the server."""
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    with psycopg.connect(libpq_url(db_url), autocommit=True) as db:
        db.execute("ALTER TABLE todos RENAME TO tasks")
    run = drizzlesync(example_copy, "generate")
    assert run.returncode == 2
    assert one_line(run) == (
        "drizzlesync generate: the sync registry no longer describes the database: public.todos is "
        "synced but no longer exists (renamed or dropped); disable sync of the table before the change "
        "and enable it after"
    )


def scope_rule(db_url: str) -> str:
    with psycopg.connect(libpq_url(db_url)) as db:
        row = db.execute(
            "SELECT scope_rule FROM drizzlesync.synced_table WHERE table_name = 'todos'"
        ).fetchone()
    return str((row or ("",))[0])


def test_a_column_a_scope_rule_reads_renamed_without_the_rule_is_refused(
    example_copy: Path, db_url: str
) -> None:
    """Renamed alone, team_id left the rule naming a column that no longer existed: every write of
    todos failed in its capture, every push and pull of the user answered 503, and a device's
    pending patch was rejected, and lost. With the rule changed in the same revision, it runs."""
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    rename = '    op.alter_column("todos", "team_id", new_column_name="org_id")\n'
    write_revision(example_copy, "org", rename)
    assert one_line(alembic(example_copy, "upgrade", "head")) == (
        "FAILED: DrizzleSync: revision org left a scope rule that no longer reads: column "
        '"team_id" does not exist. Change the rule in the same revision: '
        'op.set_sync_scope("table", scope="...")'
    )
    assert scope_rule(db_url) == "'team:' || team_id"  # rolled back
    write_revision(
        example_copy, "org", rename + '    op.set_sync_scope("todos", scope="\'team:\' || org_id")'
    )
    run = alembic(example_copy, "upgrade", "head")
    assert run.returncode == 0, run.stderr
    assert scope_rule(db_url) == "'team:' || org_id"


def test_a_scope_rule_in_another_collation_is_warned_of_once(example_copy: Path) -> None:
    """Not a table whose own index serves the rule (paged key by key), whose rule the advice would
    make unservable by it; and a `%` in a rule is no placeholder to the checks."""
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    collated = 'sa.Column("grp", sa.Text(collation="C"), nullable=False)'
    write_revision(
        example_copy,
        "things",
        f'    op.create_table("things", sa.Column("id", sa.Integer(), primary_key=True), {collated})\n'
        '    op.enable_sync("things", scope="\'g:\' || grp")\n'
        f'    op.create_table("served", sa.Column("id", sa.Integer(), primary_key=True), {collated})\n'
        '    op.create_index("served_grp_id", "served", ["grp", "id"])\n'
        '    op.enable_sync("served", scope="\'g:\' || grp")\n'
        '    op.create_table("shards", sa.Column("id", sa.Integer(), primary_key=True))\n'
        '    op.enable_sync("shards", scope="\'s:\' || (id % 4)")',
    )
    write_revision(example_copy, "later", "    pass", down="things")
    run = alembic(example_copy, "upgrade", "head")
    assert run.returncode == 0, run.stderr
    warning = "DrizzleSync: public.things's scope rule 'g:' || grp has the collation \"C\""
    assert run.stderr.count(warning) == 1, run.stderr
    assert "public.served's scope rule" not in run.stderr


def test_a_synced_table_left_without_its_capture_triggers_is_refused(example_copy: Path, db_url: str) -> None:
    """A revision dropping a capture trigger (what alembic_utils proposed beside DrizzleSync, and a user
    applied) or disabling one ran, and the table stayed synced while none of its writes was captured:
    no error anywhere, devices just never heard of them."""
    assert alembic(example_copy, "upgrade", "head").returncode == 0
    write_revision(
        example_copy,
        "uncapture",
        '    op.execute("DROP TRIGGER drizzlesync_capture_insert ON todos")\n'
        '    op.execute("ALTER TABLE projects DISABLE TRIGGER drizzlesync_capture_update_keys")',
    )
    assert one_line(alembic(example_copy, "upgrade", "head")) == (
        "FAILED: DrizzleSync: revision uncapture left synced tables without their capture triggers, so "
        "their writes would reach no device: public.projects without drizzlesync_capture_update; "
        "public.todos without drizzlesync_capture_insert. Leave the drizzlesync_capture_* triggers alone "
        "(another autogenerate comparator proposing to drop them: hide them from it); to capture a table "
        "afresh, op.disable_sync it and op.enable_sync it again"
    )
    with psycopg.connect(libpq_url(db_url)) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_trigger"
            " WHERE tgrelid = 'todos'::regclass AND tgname = 'drizzlesync_capture_insert'"
        ).fetchone()
    assert row == (1,)  # rolled back
