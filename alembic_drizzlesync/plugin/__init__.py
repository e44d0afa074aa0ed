"""The `alembic.plugins` entry point.

Alembic imports this while it is still importing itself, so the comparator
module (which needs all of Alembic) is loaded only when autogenerate runs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from alembic.util import DispatchPriority

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from alembic.runtime.plugins import Plugin
    from alembic.util import PriorityDispatchResult


def compare_sync_state(autogen_context: AutogenContext, *args: Any) -> PriorityDispatchResult:
    """The comparator, its config errors (models vs. settings) reported as `alembic` reports its own."""
    from .compare import compare_sync_state as compare
    from .errors import reported_as_command_error

    with reported_as_command_error():
        _warn_of_skipped_schemas(autogen_context)
        return compare(autogen_context, *args)


def _warn_of_skipped_schemas(autogen_context: AutogenContext) -> None:
    from .compare import CONFIG_OPTION
    from .state import desired_tables, skipped_by_alembic

    config = autogen_context.opts.get(CONFIG_OPTION)
    connection = autogen_context.connection
    if config is None or connection is None or autogen_context.opts.get("include_schemas"):
        return
    default_schema = connection.dialect.default_schema_name or "public"
    wanted = desired_tables(autogen_context.metadata, config, default_schema)
    for schema, table in skipped_by_alembic(wanted, default_schema):
        log.warning(
            "table %s.%s is synced, but without include_schemas=True in with_drizzlesync(...) "
            "autogenerate writes no DDL for it",
            schema,
            table,
        )


def setup(plugin: Plugin) -> None:
    plugin.add_autogenerate_comparator(
        compare_sync_state, "schema", "drizzlesync", priority=DispatchPriority.LAST
    )


class _PluginModule(ModuleType):
    """Alembic 1.18.0 to 1.20.0 iterate an entry point's target as a list of
    plugin modules; 1.20.1 and later take the module itself. Being a module
    that iterates to itself serves both without a deprecation warning."""

    def __iter__(self) -> Iterator[ModuleType]:
        return iter((self,))


sys.modules[__name__].__class__ = _PluginModule
