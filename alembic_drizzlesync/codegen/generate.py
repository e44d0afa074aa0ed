"""One generation: introspect, plan, render every output file in memory.

Nothing here writes to disk (see `output`), so `check` and `generate` share
every step, and a failure leaves the previous files as they were.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from ..catalog import list_schemas, read_catalog
from ..catalog.registry import probe_scope_rules, psycopg_fetch, read_registry, registry_drift
from ..config import DEFAULT_LIBRARY_SCHEMA, ROOT_KEY, ConfigError, SyncConfig
from ..templating import render
from .client_migrations.history import (
    Version,
    migration_steps,
    read_history,
    read_retired,
    record,
    render_history,
    retire,
)
from .client_migrations.key_checks import key_checks
from .client_migrations.shape import RenamedColumns, RenamedTables, TableShape, shapes_of
from .client_migrations.triggers import outbox_triggers
from .meta import render_sync_meta
from .output import STEP_DIRECTORY
from .plan import Plan, TablePlan, build_plan, wire_name
from .postgres import PostgresSchemaGenerator
from .relations import render_relations
from .sqlite import SqliteSchemaGenerator
from .tsmodule import HEADER, template_body

HISTORY = f"{STEP_DIRECTORY}/history.json"


@dataclass(frozen=True)
class Options:
    """What to generate.

    `schemas` None means every user schema but the library's own; `tables`
    narrows that to some globs. Without a DrizzleSync registry in the
    database, `sync_unregistered` decides whether every table with a primary
    key is synced (the CLI trying DrizzleSync out) or nothing is generated
    (an Alembic project that has not installed it yet, or was downgraded
    below it: its files would describe a sync that does not exist, and its
    client migrations a step dropping every table).
    """

    schemas: tuple[str, ...] | None = None
    tables: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ("*.alembic_version",)
    naming: str = "camel"
    timestamp_mode: str = "date"
    library_schema: str = DEFAULT_LIBRARY_SCHEMA
    sync_unregistered: bool = True
    schemas_key: str = f"{ROOT_KEY}.schemas"
    """Where `schemas` came from, for an error about them: the pyproject key, or the CLI's `--schemas`."""
    renamed_columns: RenamedColumns = field(default_factory=dict)
    """Columns of synced tables the migrations just run renamed (the plugin watches them): the
    client step keeps their values and pending writes instead of dropping and adding them."""
    renamed_tables: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """Synced tables the migrations just run renamed (the plugin watches them too), now to then: the
    client step renames the table, keeping its rows and pending writes, instead of dropping it and
    creating another."""
    renames_started: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    """Per table (by its name now), its columns' names where the renames are counted from."""

    @classmethod
    def from_config(cls, config: SyncConfig, **overrides: Any) -> Options:
        settings = {
            "schemas": config.schemas,
            "naming": config.naming,
            "timestamp_mode": config.timestamp_mode,
            "library_schema": config.library_schema,
        }
        return cls(**{**settings, **overrides})


_VERSION_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind = 'r'
GROUP BY n.nspname, c.relname
HAVING pg_catalog.count(*) = 1
   AND pg_catalog.bool_and(a.attname = 'version_num'
                           AND pg_catalog.format_type(a.atttypid, a.atttypmod) = 'character varying(32)')
"""


def alembic_version_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Globs of the tables Alembic keeps its versions in, wherever env.py put them and whatever it
    named them (`version_table`, `version_table_schema`): the migrations' bookkeeping, not the app's.
    Known by their shape, one column `version_num varchar(32)`, so that `drizzlesync generate` and
    `check`, which know no env.py, leave out the same tables as the generation after `alembic upgrade`."""
    rows = conn.execute(_VERSION_TABLES).fetchall()
    return [f"{_literal_glob(schema)}.{_literal_glob(table)}" for schema, table in rows]


def _literal_glob(name: str) -> str:
    """A glob that matches `name` alone, whatever characters it holds."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def generate(conn: psycopg.Connection[Any], out: Path, options: Options) -> dict[str, str]:
    """Every output file, by path relative to `out`; `out` is read for the client migration history.

    None at all without a registry unless `options.sync_unregistered`.
    """
    registry = read_registry(psycopg_fetch(conn), options.library_schema)
    if registry is None and not options.sync_unregistered:
        return {}
    schemas = options.schemas or [s for s in list_schemas(conn) if s != options.library_schema]
    ignore = (*options.ignore, *alembic_version_tables(conn))
    selection = SyncConfig(include=options.tables or ("*.*",), exclude=ignore)
    catalog = read_catalog(conn, schemas, selection.wants)
    synced: dict[tuple[str, str], str | None]
    if registry is None:
        synced = {table.key: None for table in catalog.tables}
        server_version = None
    else:
        synced = registry.scopes
        server_version = registry.schema_version or None
        _require_schemas_of(synced, schemas, options.schemas_key)
        # A table renamed or re-keyed outside a migration (the plugin refuses one inside): its
        # clients' schema would silently lose it, while every push and pull fails on the server.
        drift = registry_drift(psycopg_fetch(conn), options.library_schema)
        if drift:
            raise ConfigError(
                f"the sync registry no longer describes the database: {'; '.join(drift)}; "
                "disable sync of the table before the change and enable it after"
            )
        try:
            probe_scope_rules(psycopg_fetch(conn), registry.tables)
        except psycopg.Error as error:
            raise ConfigError(
                f"a scope rule no longer reads: {error.diag.message_primary or error}; change it with "
                "op.set_sync_scope"
            ) from None
    plan = build_plan(catalog, synced, options.naming, options.timestamp_mode)
    history_file = out / HISTORY
    previous = history_file.read_text(encoding="utf-8") if history_file.exists() else None
    before = read_history(previous)
    shapes = shapes_of(plan, *_trusted_renames(options, plan, before, server_version))
    history = record(before, server_version, shapes)
    current = history[-1]
    retired = retire(before, current, read_retired(previous))
    steps = migration_steps(history)
    files = {
        "schema.postgres.ts": PostgresSchemaGenerator(plan).render(),
        "schema.sqlite.ts": SqliteSchemaGenerator(plan).render(),
        "relations.ts": render_relations(plan, options.naming),
        "sync-meta.ts": render_sync_meta(plan, current.version, current.hash),
        "client-migrations.ts": render_client_migrations(steps, current.tables, plan.synced),
        HISTORY: render_history(history, retired),
    }
    for version, statements in steps:
        files[f"{STEP_DIRECTORY}/{version:04d}.sql"] = render(
            "sqlite/step.sql.j2", version=version, statements=statements
        )
    return files


def _trusted_renames(
    options: Options, plan: Plan, history: list[Version], server_version: int | None
) -> tuple[RenamedColumns, RenamedTables]:
    """The renames (of columns, and of tables by their wire names then) of the tables whose columns,
    where the renames are counted from, are those the version the next step starts from has under
    the table's name then.

    Where they are not, the database was behind or ahead of history.json when the command began
    (a revision that ran unwatched: `--sql`, `output` unset), and a rename relative to it could
    pair a column with another one of the recorded version that only shares its old name, or a
    table with another one that only shares its old name: such a table's step drops and adds the
    columns, or the table, instead, as for any unwatched rename.
    """
    below = [v for v in history if server_version is not None and v.version < server_version]
    recorded = {
        s.source: frozenset(c.wire_name for c in s.columns) for s in (below[-1].tables if below else ())
    }
    then = {
        t.table.key: wire_name(*options.renamed_tables[t.table.key])
        for t in plan.synced
        if t.table.key in options.renamed_tables
    }
    trusted = {
        t.table.key
        for t in plan.synced
        if options.renames_started.get(t.table.key) == recorded.get(then.get(t.table.key, t.wire_name))
    }
    columns = {table: renames for table, renames in options.renamed_columns.items() if table in trusted}
    tables = {table: source for table, source in then.items() if table in trusted}
    return columns, tables


def _require_schemas_of(synced: Iterable[tuple[str, str]], schemas: Collection[str], key: str) -> None:
    """Every synced table must be read: the client would otherwise lack a table the server sends it."""
    for schema, table in sorted(synced):
        if schema not in schemas:
            raise ConfigError(
                f"{key}: schema {schema!r} of synced table {schema}.{table} is not read; "
                "add it to the schemas to generate"
            )


def render_client_migrations(
    steps: Sequence[tuple[int, list[str]]], tables: Iterable[TableShape], synced: Iterable[TablePlan]
) -> str:
    """The steps, the last one with the triggers its version has (`triggers`): the outbox
    triggers of `tables`, its recorded shapes, and the key checks of `synced`, the live tables.
    The runtime makes a database at that version match them: a change to how triggers record or
    check writes reaches devices with the next build, without a new schema version."""
    escaped = [(version, [template_body(s) for s in statements]) for version, statements in steps]
    made = [trigger for shape in tables for trigger in outbox_triggers(shape)]
    made += [trigger for table in synced for trigger in key_checks(table)]
    triggers = [(json.dumps(name, ensure_ascii=False), template_body(sql)) for name, sql in made]
    return render("ts/client-migrations.ts.j2", header=HEADER, steps=escaped, triggers=triggers)
