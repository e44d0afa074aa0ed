"""DrizzleSync: change capture, Drizzle schemas and sync for local-first PWAs, from Alembic.

Alembic loads our plugin entry point while it is itself being imported, so
this package imports nothing from Alembic up front: the public names below
are resolved on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ConfigError, SyncConfig, TableRule, load_config
    from .plugin.environment import with_drizzlesync

_EXPORTS = {
    "ConfigError": "config",
    "SyncConfig": "config",
    "TableRule": "config",
    "load_config": "config",
    "with_drizzlesync": "plugin.environment",
}

__all__ = ["ConfigError", "SyncConfig", "TableRule", "load_config", "with_drizzlesync"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
