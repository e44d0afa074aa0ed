"""Helpers the tests share: applying operations and reading the catalog back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from alembic.autogenerate import produce_migrations
from alembic.operations import MigrateOperation, Operations
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Connection

from alembic_drizzlesync import with_drizzlesync
from alembic_drizzlesync.config import SyncConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_project"
EXAMPLE_OUTPUT = Path("web/src/db/generated")
"""Where the example project writes its generated files."""
HOSTILE_HITS = """
CREATE TABLE hostile.hits (what text, as_role text);
GRANT INSERT ON hostile.hits TO PUBLIC;
CREATE FUNCTION hostile.hit(what text) RETURNS void LANGUAGE sql
    BEGIN ATOMIC INSERT INTO hostile.hits VALUES (what, current_user); END;
CREATE FUNCTION hostile.cat(a text, b integer) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM hostile.hit('||(text, integer)'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR hostile.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = hostile.cat);
"""
"""A schema `hostile`'s record of what ran (`hostile.hits`, and as whom) and its first stand-in, for
`||(text, integer)`: the security tests add the stand-ins for what the code they attack names, each
calling `hostile.hit` and then doing what the built-in does. Statements end with `;` and a newline."""

EXAMPLE_CHAIN = [
    script.revision
    for script in reversed(list(ScriptDirectory(str(EXAMPLE / "migrations")).walk_revisions()))
]
"""The example's revisions, oldest first: tests that add one put it after `EXAMPLE_HEAD`."""
EXAMPLE_HEAD = EXAMPLE_CHAIN[-1]


def apply_ops(url: str, *operations: MigrateOperation) -> None:
    """Run operations the way a migration does, in one transaction."""
    engine = create_engine(url)
    with engine.begin() as conn:
        runner = Operations(MigrationContext.configure(conn))
        for operation in operations:
            runner.invoke(operation)
    engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


CATALOG_QUERIES = {
    "schemas": """
        SELECT nspname FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1""",
    "relations": """
        SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1, 2""",
    "columns": """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v')
          AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1, 2, 3""",
    "constraints": """
        SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2, 3""",
    "indexes": """
        SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema' ORDER BY 1, 2, 3""",
    "functions": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
               CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END  -- none for aggregates
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1, 2, 3""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal ORDER BY 1, 2""",
    "synced_tables": """
        SELECT schema_name, table_name, pk_columns::text, scope_rule
        FROM drizzlesync.synced_table ORDER BY 1, 2""",
    "schema_versions": "SELECT version FROM drizzlesync.schema_version ORDER BY 1",
    # Through the row's jsonb: version 1 has no user_scopes_query column.
    "installation": "SELECT version, to_jsonb(i)->>'user_scopes_query' FROM drizzlesync.installation AS i",
}


def catalog_dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a migration can change, as comparable rows."""
    engine = create_engine(url)
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        installed = conn.execute(text("SELECT to_regclass('drizzlesync.synced_table')")).scalar()
        for name, query in CATALOG_QUERIES.items():
            if name in ("synced_tables", "schema_versions", "installation") and installed is None:
                continue
            dump[name] = [tuple(row) for row in conn.execute(text(query))]
    engine.dispose()
    return dump


def change_log(conn: Connection) -> list[tuple[Any, ...]]:
    """(table, op, pk, scope_before, scope_after, client_id) in log order."""
    rows = conn.execute(
        text(
            "SELECT s.table_name, c.op, c.pk, c.scope_before, c.scope_after, c.client_id "
            "FROM drizzlesync.change_log c JOIN drizzlesync.synced_table s ON s.id = c.table_id "
            "ORDER BY c.seq"
        )
    )
    return [tuple(row) for row in rows]


def drain_change_log(db: psycopg.Connection[Any]) -> list[tuple[str, str, str | None, str | None]]:
    """The change log's entries (op, key, scope before, scope after) in order, emptying it."""
    rows = db.execute(
        "SELECT op::text, pk::text, scope_before, scope_after FROM drizzlesync.change_log ORDER BY seq"
    ).fetchall()
    db.execute("TRUNCATE drizzlesync.change_log")
    return [tuple(row) for row in rows]


def autogenerate(url: str, metadata: MetaData, config: SyncConfig) -> alembic_ops.MigrationScript:
    """What `alembic revision --autogenerate` would write, as operation objects."""
    engine = create_engine(url)
    with engine.connect() as conn:
        options = with_drizzlesync(target_metadata=metadata, drizzlesync=config)
        script = produce_migrations(MigrationContext.configure(conn, opts=options), metadata)
    engine.dispose()
    return script


def migrate(url: str, metadata: MetaData, config: SyncConfig) -> alembic_ops.MigrationScript:
    """Autogenerate a revision and apply its upgrade, as `revision` + `upgrade` would."""
    script = autogenerate(url, metadata, config)
    assert script.upgrade_ops is not None
    apply_ops(url, *flattened(script.upgrade_ops))
    return script


def flattened(container: alembic_ops.OpContainer) -> list[MigrateOperation]:
    """A revision's operations in the order the rendered script runs them (ModifyTableOps opened)."""
    steps: list[MigrateOperation] = []
    for operation in container.ops:
        steps.extend(operation.ops if isinstance(operation, alembic_ops.ModifyTableOps) else [operation])
    return steps
