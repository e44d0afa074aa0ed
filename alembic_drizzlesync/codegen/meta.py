"""`sync-meta.ts`: what the client runtime needs to know about each synced table."""

from __future__ import annotations

from ..templating import render
from .naming import property_key, ts_string
from .plan import Plan
from .tsmodule import HEADER


def render_sync_meta(plan: Plan, version: int, digest: str) -> str:
    tables = [
        {
            "key": property_key(table.variable),
            "name": ts_string(table.wire_name),
            "sqlite": ts_string(table.sqlite_name),
            "primary_key": [ts_string(name) for name in table.table.primary_key],
            "scope": ts_string(table.scope) if table.scope is not None else "null",
            "columns": [
                {
                    "name": ts_string(c.column.name),
                    "key": ts_string(c.key),
                    "sqlite": ts_string(c.sqlite_name),
                    "codec": c.mapping.codec,
                    "nullable": str(c.column.nullable).lower(),
                    "pushed": str(c.pushed).lower(),
                    "server_default": table.server_fills_in(c),
                }
                for c in table.columns
            ],
        }
        for table in plan.synced
    ]
    return render("ts/sync-meta.ts.j2", header=HEADER, version=version, hash=ts_string(digest), tables=tables)
