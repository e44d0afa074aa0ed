"""Sync state: what the models and config ask for.

Autogenerate compares it with the registry (`catalog.registry`); keeping
both as plain dictionaries keyed by `(schema, table)` makes that comparison
a few set operations.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

from sqlalchemy import MetaData, Table

from ..config import ROOT_KEY, ConfigError, SyncConfig, qualified_name

TableKey = tuple[str, str]


def desired_tables(
    metadata: MetaData | Iterable[MetaData] | None, config: SyncConfig, default_schema: str
) -> dict[TableKey, str | None]:
    """The synced tables the models describe, with their scope rules."""
    if metadata is None:
        return {}
    collections = [metadata] if isinstance(metadata, MetaData) else list(metadata)
    wanted: dict[TableKey, str | None] = {}
    modelled = {
        qualified_name(t.schema or default_schema, t.name) for c in collections for t in c.tables.values()
    }
    _require_known_tables(config, modelled)
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


def _require_known_tables(config: SyncConfig, modelled: Collection[str]) -> None:
    """Settings for a table the models lack are a typo, not a no-op.

    Ignored, they would leave the real table without its scope rule, and
    autogenerate would then propose removing that table's scope.
    """
    for name in sorted(set(config.tables) - set(modelled)):
        close = difflib.get_close_matches(name, modelled, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]!r}?" if close else "; fix the name or remove the section"
        raise ConfigError(f'{ROOT_KEY}.tables."{name}": no such table in the models{hint}')


def skipped_by_alembic(wanted: Iterable[TableKey], default_schema: str) -> list[TableKey]:
    """The synced tables autogenerate writes no DDL for when `include_schemas` is off.

    Their sync operations are written all the same: right for a table made
    by hand, an `enable_sync` that fails for one the models were to create.
    """
    return sorted(key for key in wanted if key[0] != default_schema)
