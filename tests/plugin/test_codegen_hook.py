"""Codegen runs after `alembic upgrade`/`downgrade` commits: once per command, never with --sql."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from alembic_drizzlesync.plugin.codegen_hook import CodegenError
from tests.plugin.test_command_errors import drizzlesync
from tests.support import EXAMPLE_CHAIN, EXAMPLE_HEAD, EXAMPLE_OUTPUT, execute

NOTES_REVISION = '''
"""todos get notes"""
import sqlalchemy as sa
from alembic import op
import alembic_drizzlesync.ops  # noqa: F401

revision = "notes"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("todos", sa.Column("notes", sa.Text()))
    op.bump_sync_schema_version(2)


def downgrade() -> None:
    op.revert_sync_schema_version(2)
    op.drop_column("todos", "notes")
'''


@pytest.fixture
def project(example_copy: Path) -> Path:
    """The example project with one more revision, which adds a synced column."""
    revision = NOTES_REVISION.format(head=EXAMPLE_HEAD)
    (example_copy / "migrations" / "versions" / "notes.py").write_text(revision)
    return example_copy


def output(project: Path) -> Path:
    return project / EXAMPLE_OUTPUT


def alembic_config(project: Path) -> Config:
    """The project's Alembic config, printing to the `sys.stdout` of now (its default is bound at import)."""
    return Config(str(project / "alembic.ini"), stdout=sys.stdout)


def generations(capsys: pytest.CaptureFixture[str]) -> int:
    """How many generations were reported since the last call."""
    return capsys.readouterr().out.count("generated files changed")


def test_upgrade_generates_once_after_all_revisions(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command.upgrade(alembic_config(project), "head")
    assert generations(capsys) == 1
    meta = (output(project) / "sync-meta.ts").read_text()
    assert "export const schemaVersion = 2;" in meta
    assert '{ name: "notes", key: "notes"' in meta
    assert "export const users = pgTable(" in (output(project) / "schema.postgres.ts").read_text()
    sqlite = (output(project) / "schema.sqlite.ts").read_text()
    assert "users = sqliteTable" not in sqlite and "alembic_version" not in sqlite
    assert sorted(p.name for p in (output(project) / "client-migrations").glob("*.sql")) == ["0002.sql"]


def test_upgrade_reports_the_files_it_wrote_on_stdout(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alembic's default logging shows only its own INFO lines: the report goes where `alembic` prints."""
    config = alembic_config(project)
    command.upgrade(config, "head")
    assert f"DrizzleSync: 7 generated files changed in {output(project)}" in capsys.readouterr().out
    command.upgrade(config, "head")  # nothing to apply: no generation, no report
    assert "DrizzleSync" not in capsys.readouterr().out
    command.downgrade(config, EXAMPLE_HEAD)
    assert f"DrizzleSync: 7 generated files changed in {output(project)}" in capsys.readouterr().out


def test_downgrade_regenerates_and_sql_mode_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = alembic_config(project)
    command.upgrade(config, EXAMPLE_HEAD)
    command.upgrade(config, "head")
    assert "0002.sql" in {p.name for p in (output(project) / "client-migrations").glob("*.sql")}
    command.downgrade(config, "-1")
    assert generations(capsys) == 3
    assert "schemaVersion = 1;" in (output(project) / "sync-meta.ts").read_text()
    assert not (output(project) / "client-migrations" / "0002.sql").exists()
    before = {p: p.read_bytes() for p in output(project).rglob("*") if p.is_file()}
    command.upgrade(config, f"{EXAMPLE_HEAD}:head", sql=True)
    assert generations(capsys) == 0
    assert {p: p.read_bytes() for p in output(project).rglob("*") if p.is_file()} == before


def test_the_schemas_setting_limits_what_the_hook_reads(project: Path, db_url: str) -> None:
    execute(
        db_url,
        "CREATE SCHEMA reports",
        "CREATE VIEW reports.todo_count AS SELECT count(*) AS n FROM pg_class",
    )
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("include =", 'schemas = ["public"]\ninclude ='))
    command.upgrade(alembic_config(project), "head")
    postgres = (output(project) / "schema.postgres.ts").read_text()
    assert "export const todos = pgTable(" in postgres and "reports" not in postgres


@pytest.mark.parametrize("schema", [None, "ops"])
def test_a_version_table_env_py_names_stays_out_of_the_generated_schema(
    project: Path, db_url: str, schema: str | None
) -> None:
    """Only `alembic_version` was left out: a project whose env.py keeps its versions elsewhere
    (`version_table="schema_migrations"`) found Alembic's bookkeeping in `schema.postgres.ts`, as a
    table of the app's. A version table is known by its one column, `version_num varchar(32)`."""
    options = 'version_table="schema_migrations"' + (f', version_table_schema="{schema}"' if schema else "")
    if schema:
        execute(db_url, f"CREATE SCHEMA {schema}")
    env = project / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace(
            "with_drizzlesync(connection=connection, target_metadata=Base.metadata)",
            f"with_drizzlesync(connection=connection, target_metadata=Base.metadata, {options})",
        )
    )
    command.upgrade(alembic_config(project), "head")
    postgres = (output(project) / "schema.postgres.ts").read_text()
    assert "export const todos = pgTable(" in postgres and "schema_migrations" not in postgres
    # `drizzlesync check`, which knows no env.py, agrees: CI running it found the files stale.
    check = drizzlesync(project, "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_synced_table_outside_the_schemas_is_an_error_naming_it(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("include =", 'schemas = ["auth"]\ninclude ='))
    with pytest.raises(
        CodegenError, match=r"tool\.drizzlesync\.schemas: schema 'public' of synced table public\.memberships"
    ):
        command.upgrade(alembic_config(project), "head")


def test_downgrade_below_the_registry_removes_the_generated_files(project: Path) -> None:
    config = alembic_config(project)
    command.upgrade(config, "head")
    (output(project) / "README.md").write_text("not ours\n")
    command.downgrade(config, "base")
    assert sorted(p.name for p in output(project).rglob("*")) == ["README.md"]
    command.upgrade(config, "head")
    assert "export const schemaVersion = 2;" in (output(project) / "sync-meta.ts").read_text()
    assert sorted(p.name for p in (output(project) / "client-migrations").iterdir()) == [
        "0002.sql",
        "history.json",
    ]


def test_a_failing_migration_writes_nothing_and_user_hooks_still_run(project: Path) -> None:
    (project / "migrations" / "versions" / "notes.py").write_text(
        NOTES_REVISION.format(head=EXAMPLE_HEAD).replace(
            "op.bump_sync_schema_version(2)", 'op.execute("SELECT 1/0")'
        )
    )
    env = project / "migrations" / "env.py"
    env.write_text(
        env.read_text()
        .replace("import os\n", "import os\nfrom pathlib import Path\n")
        .replace(
            "context.configure(**with_drizzlesync(connection=connection, target_metadata=Base.metadata))",
            "context.configure(**with_drizzlesync(connection=connection, target_metadata=Base.metadata,"
            " on_version_apply=lambda step, **kw: Path('applied.txt').open('a').write(step.up_revision_id)))",
        )
    )
    config = alembic_config(project)
    with pytest.raises(Exception, match="division by zero"):
        command.upgrade(config, "head")
    assert not output(project).exists()
    assert (project / "applied.txt").read_text() == "".join(EXAMPLE_CHAIN)
    command.upgrade(config, EXAMPLE_HEAD)
    assert (project / "applied.txt").read_text() == "".join(EXAMPLE_CHAIN) * 2
    assert (output(project) / "sync-meta.ts").exists()


def test_a_transaction_per_migration_generates_after_each_commit(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = project / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace(
            "with_drizzlesync(connection=connection, target_metadata=Base.metadata)",
            "with_drizzlesync(connection=connection, target_metadata=Base.metadata,"
            " transaction_per_migration=True)",
        )
    )
    command.upgrade(alembic_config(project), "head")
    assert generations(capsys) == len(EXAMPLE_CHAIN) + 1  # one per revision, the notes one too
    assert "schemaVersion = 2;" in (output(project) / "sync-meta.ts").read_text()


def test_autogenerate_bumps_past_a_version_a_downgrade_dropped(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Version 2 (todos.notes) shipped, then downgraded away: the next shape took number 2 again,
    and devices that ran the old 2 never migrated to it (every pull failed on a column they lacked)."""
    config = alembic_config(project)
    command.upgrade(config, "head")
    command.downgrade(config, "-1")
    (project / "migrations" / "versions" / "notes.py").unlink()
    models = project / "app" / "models.py"
    models.write_text(
        models.read_text().replace(
            "    title: Mapped[str] = mapped_column(Text)\n",
            "    title: Mapped[str] = mapped_column(Text)\n    estimate: Mapped[float | None]\n",
        )
    )
    sys.modules.pop("app.models", None)  # env.py imported the models before the edit
    command.revision(config, "estimate", autogenerate=True, rev_id="estimate")
    code = (project / "migrations" / "versions" / "estimate_estimate.py").read_text()
    assert "op.bump_sync_schema_version(3)" in code, code
    command.upgrade(config, "head")
    assert "export const schemaVersion = 3;" in (output(project) / "sync-meta.ts").read_text()


def test_sql_mode_writes_the_same_sql_whether_or_not_env_py_wraps_its_configure(
    example_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: wrapping `run_migrations_offline()`'s `context.configure` is optional."""
    config = alembic_config(example_copy)
    command.upgrade(config, "head", sql=True)
    wrapped = capsys.readouterr().out
    env = example_copy / "migrations" / "env.py"
    source = env.read_text()
    offline = source[source.index("def run_migrations_offline") : source.index("def run_migrations_online")]
    assert offline.count("with_drizzlesync(") == 1
    env.write_text(source.replace(offline, offline.replace("with_drizzlesync(", "dict(")))
    command.upgrade(config, "head", sql=True)
    plain = capsys.readouterr().out
    assert "CREATE SCHEMA drizzlesync;" in wrapped
    assert plain == wrapped
