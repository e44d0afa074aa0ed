"""The `alembic.plugins` entry point.

Alembic imports this while it is still importing itself, so the comparator
module (which needs all of Alembic) is loaded only when autogenerate runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from alembic.util import DispatchPriority

if TYPE_CHECKING:
    from alembic.runtime.plugins import Plugin
    from alembic.util import PriorityDispatchResult


def compare_sync_state(*args: Any) -> PriorityDispatchResult:
    """The comparator, its config errors (models vs. settings) reported as `alembic` reports its own."""
    from .compare import compare_sync_state as compare
    from .errors import reported_as_command_error

    with reported_as_command_error():
        return compare(*args)


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
