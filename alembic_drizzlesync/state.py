"""Sync state: what the models and config ask for, and what the database has.

Autogenerate compares the two; keeping both as plain dictionaries keyed by
`(schema, table)` makes that comparison a few set operations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection

from .config import ConfigError, SyncConfig

TableKey = tuple[str, str]


@dataclass(frozen=True)
class InstalledState:
    """The library objects found in the database (`version` None: not installed)."""

    version: int | None = None
    tables: dict[TableKey, str | None] = field(default_factory=dict)
    schema_version: int = 0


def desired_tables(
    metadata: MetaData | Iterable[MetaData] | None, config: SyncConfig, default_schema: str
) -> dict[TableKey, str | None]:
    """The synced tables the models describe, with their scope rules."""
    if metadata is None:
        return {}
    collections = [metadata] if isinstance(metadata, MetaData) else list(metadata)
    wanted: dict[TableKey, str | None] = {}
    for collection in collections:
        for table in collection.tables.values():
            schema = table.schema or default_schema
            rule = config.refined_by(schema, table.name, table.info)
            if rule is None:
                continue
            _require_primary_key(table, schema)
            wanted[(schema, table.name)] = rule.scope
    return wanted


def _require_primary_key(table: Table, schema: str) -> None:
    if not table.primary_key.columns:
        raise ConfigError(
            f"table {schema}.{table.name}: selected for sync but has no primary key; "
            "add one, or exclude it in [tool.drizzlesync] exclude"
        )


def read_installed(connection: Connection, library_schema: str) -> InstalledState:
    """Read the registry; an absent library schema means 'not installed'."""
    present = connection.execute(
        text("SELECT to_regclass(:name) IS NOT NULL"),
        {"name": f"{library_schema}.installation"},
    ).scalar_one()
    if not present:
        return InstalledState()
    version = connection.execute(text(f"SELECT version FROM {library_schema}.installation")).scalar_one()
    rows = connection.execute(
        text(f"SELECT schema_name, table_name, scope_rule FROM {library_schema}.synced_table")
    ).all()
    schema_version = connection.execute(
        text(f"SELECT coalesce(max(version), 0) FROM {library_schema}.schema_version")
    ).scalar_one()
    return InstalledState(
        version=version,
        tables={(row.schema_name, row.table_name): row.scope_rule for row in rows},
        schema_version=schema_version,
    )
