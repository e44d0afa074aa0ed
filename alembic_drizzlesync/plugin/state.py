"""Sync state: what the models and config ask for.

Autogenerate compares it with the registry (`catalog.registry`); keeping
both as plain dictionaries keyed by `(schema, table)` makes that comparison
a few set operations.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import MetaData, Table

from ..config import ConfigError, SyncConfig

TableKey = tuple[str, str]


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
